"""Stage 7's summary.txt: the PER/CER lines, and for tonal pinyin the tone/base-syllable split and tone tables."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from asrt import evaluate
from asrt.units import unit_type


def decode_with(monkeypatch, refs: dict, hyps: dict) -> None:
    chars = {u: list("你好") for u in refs}
    monkeypatch.setattr(evaluate, "decode_cuts", lambda *a, **k: {
        "greedy_refs": refs, "greedy_hyps": hyps, "refs_ch": chars, "hyps_ch": chars,
        "rtf_greedy": 0.01, "rtf_hlg": 0.02})


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
