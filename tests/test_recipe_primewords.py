"""egs/primewords on a miniature Primewords set 1: stages 1-7 for real, the odd records of the real
transcript file, and the held-out split (speaker-disjoint, pinned, independent of record and file order)."""
from __future__ import annotations

import gzip
import json
import random
import shutil
from pathlib import Path

import pytest
import replica_primewords
from recipe_checks import check_recipe_outputs, refuse_downloads
from recipe_runner import recipe_fixtures

from asrt.config import load_config
from asrt.corpora import primewords
from asrt.corpora.utterances import hash_fraction

corpus, work = recipe_fixtures("primewords", replica_primewords.build)


def test_recipe_runs_stages_1_to_7(work: Path) -> None:
    labelled = check_recipe_outputs(work, "primewords")
    # The repeated record counts once, the file with disagreeing records and the unpaired ones not at all.
    assert [len(labelled[s]) for s in ("train", "dev", "test")] == [6, 4, 4]
    texts = {s.text for split in labelled.values() for s in split}
    assert "今天天气很好" in texts and not texts & {"好的", "好吗", "没有声音"}
    assert all(s.speaker for split in labelled.values() for s in split)


def test_split_is_pinned() -> None:
    """The hash (and so every speaker's split) must never change between runs, machines or versions."""
    assert hash_fraction("1", "primewords") == pytest.approx(0.0946368445, abs=1e-9)
    assert [primewords.split_of(u) for u in ("1", "2", "6", "21", "123")] == ["test", "train", "test", "dev", "dev"]


def test_manifests_do_not_depend_on_record_or_file_order(corpus: Path, tmp_path: Path, monkeypatch) -> None:
    primewords.prepare(corpus, tmp_path / "as_is")
    shuffled = tmp_path / "shuffled_corpus"
    shutil.copytree(corpus, shuffled)
    transcript = shuffled / primewords.TRANSCRIPT
    records = json.loads(transcript.read_text(encoding="utf-8"))
    random.Random(3).shuffle(records)
    transcript.write_text(json.dumps(records, ensure_ascii=False, indent=1), encoding="utf-8")
    real_rglob = Path.rglob

    def shuffled_rglob(self, pattern):
        paths = list(real_rglob(self, pattern))
        random.Random(5).shuffle(paths)
        return iter(paths)

    monkeypatch.setattr(Path, "rglob", shuffled_rglob)
    primewords.prepare(shuffled, tmp_path / "shuffled")
    for f in sorted((tmp_path / "as_is").iterdir()):
        # Recordings name their audio path, which differs between the two copies; nothing else may.
        a = gzip.decompress(f.read_bytes()).replace(str(corpus).encode(), b"")
        b = gzip.decompress((tmp_path / "shuffled" / f.name).read_bytes()).replace(str(shuffled).encode(), b"")
        assert a == b, f.name


def test_speakers_never_straddle_splits(corpus: Path) -> None:
    by_split = primewords.read_utterances(corpus)
    for split, utterances in by_split.items():
        assert utterances and all(primewords.split_of(u.speaker) == split for u in utterances)


def test_prepare_says_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="set1_transcript.json.*run stage 0"):
        primewords.prepare(tmp_path, tmp_path / "manifests")


def test_download_skips_a_corpus_in_place(corpus: Path, monkeypatch) -> None:
    monkeypatch.setattr("asrt.corpora.download.fetch", refuse_downloads)
    primewords.download(corpus, load_config())
