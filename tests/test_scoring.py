"""Worked examples for Levenshtein scoring, PER/CER tokenisation and the Kaldi-style report files."""
from __future__ import annotations

import math
import random

import pytest

from asrt.decode.scoring import (
    ErrorCounts, align, edit_counts, format_summary, format_tone_confusion, score_corpus, tone_confusion,
    write_score_report,
)
from asrt.text.normalize import char_tokens


def test_sub_and_ins_example():
    ref, hyp = "a b c d".split(), "a x c d e".split()
    assert align(ref, hyp) == [("a", "a"), ("b", "x"), ("c", "c"), ("d", "d"), (None, "e")]
    c = edit_counts(ref, hyp)
    assert (c.sub, c.ins, c.dele, c.ref_len) == (1, 1, 0, 4)
    assert c.errors == 2
    assert c.rate == pytest.approx(0.5)


def test_levenshtein_beats_position_by_position():
    # Position-by-position would see a/b, b/c, c/- = 3 errors; the true alignment is one deletion.
    ref, hyp = "a b c".split(), "b c".split()
    naive = sum(1 for i in range(max(len(ref), len(hyp)))
                if i >= len(ref) or i >= len(hyp) or ref[i] != hyp[i])
    assert naive == 3
    assert align(ref, hyp) == [("a", None), ("b", "b"), ("c", "c")]
    assert edit_counts(ref, hyp) == ErrorCounts(sub=0, ins=0, dele=1, ref_len=3)


def test_insertion_at_start_is_one_error():
    c = edit_counts("b c d".split(), "a b c d".split())
    assert (c.sub, c.ins, c.dele) == (0, 1, 0)


def test_all_substituted_and_mixed():
    assert edit_counts(list("abc"), list("xyz")) == ErrorCounts(3, 0, 0, 3)
    # kitten -> sitting: the textbook distance 3 (2 sub, 1 ins).
    c = edit_counts(list("kitten"), list("sitting"))
    assert (c.sub, c.ins, c.dele, c.errors) == (2, 1, 0, 3)


def test_ties_keep_identical_tokens_lined_up():
    # Three substitutions would also cost 3; kaldialign's alignment matches jing1 with jing1.
    ref, hyp = "wo3 ai4 bei3 jing1".split(), "wo3 ai2 jing1 a5".split()
    assert align(ref, hyp) == [("wo3", "wo3"), ("ai4", "ai2"), ("bei3", None), ("jing1", "jing1"), (None, "a5")]


def test_alignment_reconstructs_both_sides():
    ref, hyp = list("intention"), list("execution")
    pairs = align(ref, hyp)
    assert [r for r, _ in pairs if r is not None] == ref
    assert [h for _, h in pairs if h is not None] == hyp
    assert edit_counts(ref, hyp).errors == 5


def test_empty_cases():
    assert align([], []) == []
    assert edit_counts([], []) == ErrorCounts(0, 0, 0, 0)
    assert edit_counts([], []).rate == 0.0
    empty_ref = edit_counts([], ["a", "b"])
    assert (empty_ref.ins, empty_ref.ref_len) == (2, 0)
    assert math.isinf(empty_ref.rate)
    empty_hyp = edit_counts(["a", "b", "c"], [])
    assert (empty_hyp.dele, empty_hyp.rate) == (3, 1.0)


def test_tone_only_difference_is_substitution():
    ref, hyp = "ni3 hao3 ma5".split(), "ni2 hao3 ma5".split()
    c = edit_counts(ref, hyp)
    assert (c.sub, c.ins, c.dele, c.ref_len) == (1, 0, 0, 3)


def test_cer_ignores_spaces():
    assert char_tokens("你 好 吗") == ["你", "好", "吗"]
    assert char_tokens("你好\u3000吗 ") == ["你", "好", "吗"]
    c = edit_counts(char_tokens("你 好 吗"), char_tokens("你好 啊 吗"))
    assert (c.sub, c.ins, c.dele, c.ref_len) == (0, 1, 0, 3)
    c = edit_counts(char_tokens("你 好 吗"), char_tokens("你 号 吗"))
    assert (c.sub, c.errors) == (1, 1)


def test_counts_add_up():
    a = ErrorCounts(sub=1, ins=2, dele=3, ref_len=10)
    b = ErrorCounts(sub=4, ins=0, dele=1, ref_len=5)
    assert a + b == ErrorCounts(5, 2, 4, 15)
    assert sum([a, b]) == a + b
    assert (a + b).errors == 11
    assert (a + b).rate == pytest.approx(11 / 15)


def test_format_summary_matches_kaldi():
    c = ErrorCounts(sub=7, ins=2, dele=3, ref_len=348)
    assert format_summary(c, "WER") == "%WER 3.45 [ 12 / 348, 2 ins, 3 del, 7 sub ]"
    assert format_summary(ErrorCounts(), "PER") == "%PER 0.00 [ 0 / 0, 0 ins, 0 del, 0 sub ]"


def test_score_corpus_missing_hypothesis_counts_as_deletions():
    refs = {"u1": "a b c".split(), "u2": "d e".split()}
    hyps = {"u1": "a b c".split()}
    total, per_utt = score_corpus(refs, hyps)
    assert total == ErrorCounts(sub=0, ins=0, dele=2, ref_len=5)
    by_id = {s.utt_id: s for s in per_utt}
    assert by_id["u2"].missing and not by_id["u1"].missing
    assert by_id["u2"].counts.dele == 2


def test_score_corpus_totals_are_sum_of_utterances():
    refs = {"u1": "a b c d".split(), "u2": "x y".split()}
    hyps = {"u1": "a x c d e".split(), "u2": "y".split()}
    total, per_utt = score_corpus(refs, hyps)
    assert total == ErrorCounts(sub=1, ins=1, dele=1, ref_len=6)
    assert sum(s.counts for s in per_utt) == total


def test_score_corpus_extra_hypothesis_is_an_error():
    with pytest.raises(ValueError, match="ghost"):
        score_corpus({"u1": ["a"]}, {"u1": ["a"], "ghost": ["b"]})


def test_write_score_report(tmp_path):
    refs = {
        "good": "ni3 hao3".split(),
        "bad": "wo3 ai4 bei3 jing1".split(),
        "gone": "xie4 xie5".split(),
    }
    hyps = {"good": "ni3 hao3".split(), "bad": "wo3 ai2 jing1 a5".split()}
    total = write_score_report(tmp_path / "exp", "test", refs, hyps, metric="PER")
    # bad: ai4->ai2 sub, bei3 deleted, a5 inserted; gone: 2 deletions.
    assert total == ErrorCounts(sub=1, ins=1, dele=3, ref_len=8)

    hyp_text = (tmp_path / "exp" / "test.hyps.txt").read_text(encoding="utf-8")
    assert hyp_text == "bad\two3 ai2 jing1 a5\ngood\tni3 hao3\n"

    errs = (tmp_path / "exp" / "test.errs.txt").read_text(encoding="utf-8")
    assert errs.splitlines()[0] == "# " + format_summary(total, "PER")
    assert "no hypothesis: gone" in errs
    # Worst utterances first: bad (3 errors), gone (2), good (0).
    order = [line.split()[0] for line in errs.splitlines() if line.split()[1:2] == ["ref"]]
    assert order == ["bad", "gone", "good"]
    lines = {tuple(line.split()[:2]): line for line in errs.splitlines() if not line.startswith("#") and line}
    assert lines[("bad", "ref")].split()[2:] == ["wo3", "ai4", "bei3", "jing1", "***"]
    assert lines[("bad", "hyp")].split()[2:] == ["wo3", "ai2", "***", "jing1", "a5"]
    assert lines[("bad", "op")].split()[2:] == ["C", "S", "D", "C", "I"]
    assert lines[("bad", "#csid")].split()[2:6] == ["2", "1", "1", "1"]
    # Columns line up: each token starts where its ref token starts.
    ref_line, hyp_line = lines[("bad", "ref")], lines[("bad", "hyp")]
    assert ref_line.index("bei3") - len("bad ref") == hyp_line.index("***") - len("bad hyp")
    assert "all deletions" in lines[("gone", "#csid")]
    assert not list((tmp_path / "exp").glob(".*.tmp*"))


def test_write_score_report_cjk_columns(tmp_path):
    refs = {"u": char_tokens("你 好 吗")}
    hyps = {"u": char_tokens("你 号")}
    total = write_score_report(tmp_path, "cer", refs, hyps, metric="CER")
    assert total == ErrorCounts(sub=1, ins=0, dele=1, ref_len=3)
    errs = (tmp_path / "cer.errs.txt").read_text(encoding="utf-8")
    assert errs.startswith("# %CER 66.67 [ 2 / 3, 0 ins, 1 del, 1 sub ]")
    # 你 is two columns wide and *** three, so each column is padded to the wider of its two tokens.
    assert "u ref   你 好 吗\n" in errs
    assert "u hyp   你 号 ***\n" in errs
    assert "u op    C  S  D\n" in errs


def test_ties_split_as_kaldi_does():
    # Three edits either way (2 ins + 1 del would line ni3 up with ni3); kaldialign, Kaldi's unit costs,
    # reports 2 sub + 1 ins, and so does asrt.
    ref, hyp = "ni3 hao3".split(), "wo3 men5 ni3".split()
    assert align(ref, hyp) == [("ni3", "wo3"), ("hao3", "men5"), (None, "ni3")]
    assert edit_counts(ref, hyp) == ErrorCounts(sub=2, ins=1, dele=0, ref_len=2)


def random_pairs(count: int, seed: int):
    rng = random.Random(seed)
    for _ in range(count):
        vocab = [f"t{k}" for k in range(rng.randint(1, 6))]
        yield ([rng.choice(vocab) for _ in range(rng.randint(0, 12))],
               [rng.choice(vocab) for _ in range(rng.randint(0, 12))])


RANDOM_SUB, RANDOM_INS, RANDOM_DEL, RANDOM_REF_LEN = 2027, 4799, 4667, 12274


def test_randomised_counts_are_known():
    # Totals over 2,000 random pairs, recorded from this implementation: any change of alignment
    # (another library, another tie-break) that moves a single count fails here.
    total = sum(edit_counts(ref, hyp) for ref, hyp in random_pairs(2000, seed=12))
    assert total == ErrorCounts(sub=RANDOM_SUB, ins=RANDOM_INS, dele=RANDOM_DEL, ref_len=RANDOM_REF_LEN)


def levenshtein(ref: list[str], hyp: list[str]) -> int:
    """The edit distance, by the textbook recurrence: the oracle the alignment's total must equal."""
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def test_alignment_is_minimal_and_covers_both_sides():
    for ref, hyp in random_pairs(2000, seed=7):
        pairs = align(ref, hyp)
        assert [r for r, _ in pairs if r is not None] == ref and [h for _, h in pairs if h is not None] == hyp
        assert edit_counts(ref, hyp).errors == levenshtein(ref, hyp)  # PER and CER are edit distances


def tone_example():
    refs = {"u1": "ni3 hao3 ma5".split(), "u2": "wo3 ai4 bei3 jing1".split(), "u3": "shi4 de5".split(),
            "u4": ["ma1"], "u5": ["xie4"]}
    hyps = {"u1": "ni2 hao3 ma1".split(), "u2": "wo3 ai2 jing1 a5".split(), "u3": "si4 le5".split(),
            "u4": ["ba2"], "u5": ["<unk>"]}
    return refs, hyps


def test_tone_confusion_splits_errors_into_tone_only_and_base_syllable():
    tc = tone_confusion(*tone_example())
    # u1: ni3->ni2 and ma5->ma1 tone-only, hao3 right; u2: ai4->ai2 tone-only, bei3 deleted, a5 inserted;
    # u3: shi4->si4, de5->le5 base-syllable (tones right); u4: ma1->ba2 base syllable and tone;
    # u5: xie4-><unk> base syllable, outside the tone tables.
    assert tc.counts == ErrorCounts(sub=7, ins=1, dele=1, ref_len=11)
    assert (tc.tone_only, tc.base_sub, tc.base_errors) == (3, 4, 6)
    assert tc.tone_only_rate == pytest.approx(3 / 11) and tc.base_rate == pytest.approx(6 / 11)
    assert tc.tone_only_rate + tc.base_rate == pytest.approx(tc.counts.rate)
    assert tc.matrix == (
        (1, 1, 0, 0, 0),  # tone 1: jing1 right, ma1 read with tone 2
        (0, 0, 0, 0, 0),
        (0, 1, 2, 0, 0),  # tone 3: ni3 as tone 2, hao3 and wo3 right
        (0, 1, 0, 1, 0),  # tone 4: ai4 as tone 2, shi4 (as si4) right
        (1, 0, 0, 0, 1),  # tone 5: ma5 as tone 1, de5 (as le5) right
    )
    assert tc.tone_only_matrix == ((0,) * 5, (0,) * 5, (0, 1, 0, 0, 0), (0, 1, 0, 0, 0), (1, 0, 0, 0, 0))
    assert tc.tone_accuracy == pytest.approx(5 / 9)


def test_tone_confusion_of_perfect_and_empty_decodes():
    perfect = tone_confusion({"u": "lv4 nve4 ma5".split()}, {"u": "lv4 nve4 ma5".split()})
    assert perfect.tone_only == perfect.base_errors == 0 and perfect.tone_accuracy == 1.0
    assert [perfect.matrix[t][t] for t in range(5)] == [0, 0, 0, 2, 1]
    empty = tone_confusion({"u": "ni3 hao3".split()}, {})
    assert (empty.tone_only, empty.base_errors, sum(map(sum, empty.matrix))) == (0, 2, 0)
    assert empty.tone_accuracy == 1.0  # nothing aligned, nothing confused


def test_format_tone_confusion():
    text = format_tone_confusion(tone_confusion(*tone_example()))
    lines = text.splitlines()
    assert lines[0] == ("PER 81.82 = 27.27 tone-only + 54.55 base-syllable "
                        "(3 tone-only sub; 4 base-syllable sub, 1 ins, 1 del)")
    assert lines[1].startswith("tone confusion of 9 aligned syllables") and "tones agree in 55.56 %" in lines[1]
    assert lines[2].split() == ["ref\\hyp", "1", "2", "3", "4", "5"]
    assert lines[5].split() == ["3", "0", "1", "2", "0", "0"]
    assert lines[8] == "tone-only substitutions (base syllable right, tone wrong): 3"
    assert lines[14].split() == ["5", "1", "0", "0", "0", "0"]
    assert len(lines) == 15 and not text.startswith("%")  # the %PER line of summary.txt stays the only one
