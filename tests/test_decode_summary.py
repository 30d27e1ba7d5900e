"""Stage 7's summary.txt: the PER/CER lines, for tonal pinyin the tone/base-syllable split and tone tables, and
error rates per recording condition (mini_cmn v2)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from asrt.decode import evaluate
from asrt.decode.scoring import ErrorCounts, format_group_table, group_counts
from asrt.lang.units import unit_type


def decode_with(monkeypatch, refs: dict, hyps: dict, refs_ch: dict | None = None, hyps_ch: dict | None = None,
                groups: dict | None = None) -> None:
    """Make decode_cuts return these references and hypotheses, as the real one does (``groups`` is {} for a
    corpus without recording conditions)."""
    chars = {u: list("你好") for u in refs}
    monkeypatch.setattr(evaluate, "decode_cuts", lambda *a, **k: {
        "greedy_refs": refs, "greedy_hyps": hyps, "refs_ch": refs_ch or chars, "hyps_ch": hyps_ch or chars,
        "groups": groups or {}, "rtf_greedy": 0.01, "rtf_hlg": 0.02})


def test_tonal_pinyin_summary_holds_the_tone_analysis(tmp_path, monkeypatch):
    decode_with(monkeypatch, {"u1": "ni3 hao3 ma5".split(), "u2": "wo3 ai4".split()},
                {"u1": "ni2 hao3 ma5".split(), "u2": "wo3 bai4".split()})
    tokens = SimpleNamespace(units=unit_type("tonal_pinyin")())
    result = evaluate.decode_and_score(None, [], tokens, None, tmp_path)
    lines = (tmp_path / "summary.txt").read_text().splitlines()
    assert lines[0].startswith("%PER 40.00 [ 2 / 5,") and lines[1].startswith("%CER 0.00")
    assert lines[3] == "PER 40.00 = 20.00 tone-only + 20.00 base-syllable (1 tone-only sub; 1 base-syllable sub, 0 ins, 0 del)"
    assert "tones agree in 80.00 %" in lines[4]
    assert lines[5].split() == ["ref\\hyp", "1", "2", "3", "4", "5"]
    assert lines[8].split() == ["3", "0", "1", "2", "0", "0"]  # ni3 read as ni2; hao3, wo3 right
    assert lines[11] == "tone-only substitutions (base syllable right, tone wrong): 1"
    assert sum(line.startswith("%PER") for line in lines) == 1
    assert result["per"] == pytest.approx(40.0)
    assert result["per_tone_only"] == pytest.approx(20.0) and result["per_base"] == pytest.approx(20.0)


def test_toneless_pinyin_summary_has_no_tone_tables(tmp_path, monkeypatch):
    decode_with(monkeypatch, {"u1": "ni hao".split()}, {"u1": "ni hao".split()})
    tokens = SimpleNamespace(units=unit_type("toneless_pinyin")())
    result = evaluate.decode_and_score(None, [], tokens, None, tmp_path)
    text = (tmp_path / "summary.txt").read_text()
    assert text.startswith("%PER 0.00") and "tone confusion" not in text
    assert len(text.splitlines()) == 3 and "per_tone_only" not in result


def sup(text: str = "你好", pinyin: str = "ni3 hao3", **custom) -> SimpleNamespace:
    return SimpleNamespace(text=text, custom={"pinyin": pinyin, **custom})


def test_condition_groups():
    assert evaluate.condition_groups(sup(condition="8k_ulaw", snr_db=12.5)) == ["8k_ulaw", "noisy"]
    assert evaluate.condition_groups(sup(condition="16k", snr_db=None)) == ["16k"]
    assert evaluate.condition_groups(sup(condition="48k", snr_db=0.0)) == ["48k", "noisy"]  # 0 dB is noisy
    assert evaluate.condition_groups(sup()) == []  # a corpus without conditions
    assert evaluate.condition_groups(SimpleNamespace(text="你好", custom=None)) == []


def test_decode_cuts_groups_utterances_by_condition_with_noisy_last():
    """decode_cuts with a fake model and decoders: the groups hold cut ids, conditions sorted, ``noisy`` last."""
    cuts = [SimpleNamespace(id=u, duration=1.0, supervisions=[s], load_features=lambda: np.zeros((4, 80), np.float32))
            for u, s in [("a", sup(condition="studio", snr_db=None)), ("b", sup(condition="16k", snr_db=None)),
                         ("c", sup(condition="studio", snr_db=5.0)), ("d", sup())]]
    model = lambda feats, lens: (torch.zeros(1, 4, 3), torch.tensor([4]))  # noqa: E731
    tokens = SimpleNamespace(units=unit_type("tonal_pinyin")(), decode=lambda ids: ["ni3", "hao3"])
    decoder = SimpleNamespace(decode=lambda lp: ["你", "好"])
    r = evaluate.decode_cuts(model, cuts, tokens, decoder, desc="test")
    assert list(r["groups"].items()) == [("16k", ["b"]), ("studio", ["a", "c"]), ("noisy", ["c"])]
    assert r["greedy_refs"]["d"] == ["ni3", "hao3"] and r["hyps_ch"]["d"] == ["你", "好"]


# Hand-scored: PER u1 1 sub / 3, u2 1 sub / 2, u3 1 del / 2; CER u1 0 / 3, u2 1 del / 2, u3 0 / 2.
GREEDY_REFS = {"u1": "ni3 hao3 ma5".split(), "u2": "wo3 ai4".split(), "u3": "zhong1 guo2".split()}
GREEDY_HYPS = {"u1": "ni2 hao3 ma5".split(), "u2": "wo3 bai4".split(), "u3": "zhong1".split()}
REFS_CH = {"u1": list("你好吗"), "u2": list("我爱"), "u3": list("中国")}
HYPS_CH = {"u1": list("你好吗"), "u2": list("我"), "u3": list("中国")}
GROUPS = {"16k": ["u1"], "8k_ulaw": ["u2", "u3"], "noisy": ["u3"]}


def test_group_counts():
    counts = group_counts(GREEDY_REFS, GREEDY_HYPS, GROUPS)
    assert counts == {"16k": ErrorCounts(sub=1, ref_len=3), "8k_ulaw": ErrorCounts(sub=1, dele=1, ref_len=4),
                      "noisy": ErrorCounts(dele=1, ref_len=2)}
    chars = group_counts(REFS_CH, HYPS_CH, GROUPS)
    assert [c.rate for c in chars.values()] == [0.0, 0.25, 0.0]
    # An utterance without a hypothesis is all deletions; an empty group has no errors.
    missing = group_counts(GREEDY_REFS, {"u1": GREEDY_HYPS["u1"]}, {"all": ["u1", "u2"], "none": []})
    assert missing == {"all": ErrorCounts(sub=1, dele=2, ref_len=5), "none": ErrorCounts()}


def test_format_group_table():
    greedy = group_counts(GREEDY_REFS, GREEDY_HYPS, GROUPS)
    chars = group_counts(REFS_CH, HYPS_CH, GROUPS)
    table = format_group_table(greedy, chars, {"16k": 1, "8k_ulaw": 2, "noisy": 1}, "PER")
    assert table == ("condition  utts     PER     CER\n"
                     "16k           1   33.33    0.00\n"
                     "8k_ulaw       2   50.00   25.00\n"
                     "noisy         1   50.00    0.00\n")
    wide = format_group_table({"44k_stereo_far_field": ErrorCounts(ref_len=1)}, {"44k_stereo_far_field": ErrorCounts(
        sub=1, ref_len=1)}, {"44k_stereo_far_field": 7}, "CER")
    header, row = wide.splitlines()
    assert header.split() == ["condition", "utts", "CER", "CER"]
    assert row.split() == ["44k_stereo_far_field", "7", "0.00", "100.00"]
    assert len(header) == len(row)


def test_summary_and_result_by_condition(tmp_path, monkeypatch):
    decode_with(monkeypatch, GREEDY_REFS, GREEDY_HYPS, REFS_CH, HYPS_CH, GROUPS)
    tokens = SimpleNamespace(units=unit_type("tonal_pinyin")())
    result = evaluate.decode_and_score(None, [], tokens, None, tmp_path)
    text = (tmp_path / "summary.txt").read_text()
    assert text.startswith("%PER 42.86 [ 3 / 7,")
    sizes = {"16k": 1, "8k_ulaw": 2, "noisy": 1}
    assert text.endswith(format_group_table(group_counts(GREEDY_REFS, GREEDY_HYPS, GROUPS),
                                            group_counts(REFS_CH, HYPS_CH, GROUPS), sizes))
    assert "\n8k_ulaw       2   50.00   25.00\n" in text
    by_condition = result["by_condition"]
    assert list(by_condition) == ["16k", "8k_ulaw", "noisy"]
    assert by_condition["16k"] == {"utts": 1, "greedy": pytest.approx(100 / 3), "cer": 0.0}
    assert by_condition["8k_ulaw"] == {"utts": 2, "greedy": pytest.approx(50.0), "cer": pytest.approx(25.0)}
    assert by_condition["noisy"] == {"utts": 1, "greedy": pytest.approx(50.0), "cer": 0.0}


def test_no_condition_table_without_conditions(tmp_path, monkeypatch):
    decode_with(monkeypatch, GREEDY_REFS, GREEDY_HYPS, REFS_CH, HYPS_CH)
    result = evaluate.decode_and_score(None, [], SimpleNamespace(units=unit_type("toneless_pinyin")()), None, tmp_path)
    assert "condition" not in (tmp_path / "summary.txt").read_text() and "by_condition" not in result
