"""Mixing several training cut sets by weight (asrt/train/mixing.py)."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from lhotse import CutSet
from lhotse.testing.dummies import dummy_cut

from asrt.train.mixing import mix_cut_sets, parse_named_cuts, weighted_passes


@pytest.fixture
def sets(tmp_path):
    """Two cut sets of 10 and 100 cuts, ids prefixed by their set."""
    paths = {}
    for name, n in (("small", 10), ("big", 100)):
        paths[name] = tmp_path / f"{name}.jsonl.gz"
        CutSet.from_cuts(dummy_cut(i).with_id(f"{name}-{i}") for i in range(n)).to_file(paths[name])
    return paths


def _set_of(cut) -> str:
    return cut.id.split("-")[0]


def test_weights_are_passes_per_epoch(sets):
    mixed = list(mix_cut_sets(sets, {"small": 2.0, "big": 0.5}))
    counts = Counter(map(_set_of, mixed))
    assert counts["small"] == 20
    assert 30 <= counts["big"] <= 70  # a hash-chosen half
    assert len({c.id for c in mixed}) == len(mixed)  # repeated cuts get their own ids
    # the same half every time: a resumed epoch sees the same stream
    assert [c.id for c in mix_cut_sets(sets, {"small": 2.0, "big": 0.5})] == [c.id for c in mixed]


def test_sets_are_interleaved_in_proportion(sets):
    mixed = list(mix_cut_sets(sets))
    assert Counter(map(_set_of, mixed)) == {"small": 10, "big": 100}
    first_half = Counter(map(_set_of, mixed[:55]))
    assert 2 <= first_half["small"] <= 8  # not all 10 small cuts at the start


def test_one_set_without_weights_is_returned_unchanged(sets):
    assert [c.id for c in mix_cut_sets({"big": sets["big"]})] == [f"big-{i}" for i in range(100)]


def test_weight_zero_leaves_a_set_out_and_bad_weights_fail(sets):
    assert {_set_of(c) for c in mix_cut_sets(sets, {"small": 0})} == {"big"}
    with pytest.raises(ValueError, match="every training set has weight 0"):
        mix_cut_sets(sets, {"small": 0, "big": 0})
    with pytest.raises(ValueError, match="finite number >= 0"):
        weighted_passes(CutSet.from_cuts([dummy_cut(0)]), -1.0)


def test_named_cuts():
    assert parse_named_cuts(["a=x/a.jsonl.gz", "data/fbank/mini_cmn_cuts_train.jsonl.gz"]) == {
        "a": Path("x/a.jsonl.gz"),
        "mini_cmn_cuts_train": Path("data/fbank/mini_cmn_cuts_train.jsonl.gz")}
    with pytest.raises(ValueError, match="given twice"):
        parse_named_cuts(["a=x", "a=y"])
