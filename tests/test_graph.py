"""Tests for asrt.lm.graph (write_disambig_lang, H, L, G, HLG) and asrt.decode.search on a hand-checkable lang."""
from __future__ import annotations

import math
from pathlib import Path

import kaldifst
import numpy as np
import pytest
import torch
from conftest import section

from asrt.cli import main
from asrt.decode.greedy import ctc_greedy
from asrt.decode.search import P2H_PIECE_SYLLABLES, SEARCH_STEP_FRAMES, HlgDecoder, PinyinDecoder
from asrt.fileio import read_symbol_table
from asrt.lang.disambig import add_disambig_symbols, write_disambig_lang
from asrt.lm.graph import build_ctc_topo, compile_hlg

TOKENS = "<blk> ni3 hao3 ma5 shi4 bu4 you3 xing2 hang2 yin2 zhang3 chang2 cheng2 m2".split()  # no word reads m2
V = len(TOKENS)
TID = {t: i for i, t in enumerate(TOKENS)}

LEXICON = """\
你 ni3
好 hao3
吗 ma5
是 shi4
事 shi4
市 shi4
不 bu4
有 you3
行 xing2
行 hang2
银 yin2
银行 yin2 hang2
不 bu4
长 zhang3
城 cheng2
长城 chang2 cheng2
你好 ni3 hao3
"""

# log10 probabilities. Out of context 市 is the likeliest "shi4", but the bigrams make
# 不 -> 是 and 有 -> 事 win; 银行 (one word) beats 银 + 行. 长城 is not in this LM, so L spells
# it as 长 + 城 (the only way to read "chang2": 长 alone is listed as zhang3); 你好 is not in
# the LM either, but its characters already cover its reading, so L leaves it out.
ARPA = """\
\\data\\
ngram 1=16
ngram 2=13

\\1-grams:
-2.0\t<unk>\t0
-99\t<s>\t-0.3
-1.0\t</s>\t0
-1.2\t你\t-0.3
-1.2\t好\t-0.3
-1.5\t吗\t-0.3
-1.5\t是\t-0.3
-1.5\t事\t-0.3
-1.0\t市\t-0.3
-1.2\t不\t-0.5
-1.2\t有\t-0.5
-1.5\t行\t-0.3
-3.0\t银\t-0.3
-1.0\t银行\t-0.3
-1.5\t长\t-0.3
-1.5\t城\t-0.3

\\2-grams:
-0.3\t<s> 你
-0.1\t你 好
-0.2\t好 吗
-0.1\t吗 </s>
-0.5\t<s> 不
-0.5\t<s> 有
-0.1\t不 是
-0.3\t不 行
-0.1\t有 事
-0.2\t是 </s>
-0.2\t事 </s>
-0.2\t市 </s>
-0.5\t<s> 银行

\\end\\
"""


@pytest.fixture(scope="module")
def lang(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("lang")
    (d / "tokens.txt").write_text("".join(f"{t} {i}\n" for i, t in enumerate(TOKENS)), encoding="utf-8")
    (d / "lexicon.txt").write_text(LEXICON, encoding="utf-8")
    (d / "lm.arpa").write_text(ARPA, encoding="utf-8")
    compile_hlg(d, d / "lm.arpa", d / "HLG.fst", d / "LG_pinyin.fst")
    return d


@pytest.fixture(scope="module")
def decoder(lang: Path) -> HlgDecoder:
    return HlgDecoder.from_dir(lang, section("decode", blank_penalty=0.0))  # these tests work the costs out by hand


@pytest.fixture(scope="module")
def p2h(lang: Path) -> PinyinDecoder:
    return PinyinDecoder.from_dir(lang, section("decode"))


def frames(labels: list[str], p: float = 0.9) -> np.ndarray:
    """Log-probs with ``p`` on each frame's label and the rest spread evenly over the others."""
    x = np.full((len(labels), V), math.log((1 - p) / (V - 1)), dtype=np.float32)
    for t, label in enumerate(labels):
        x[t, TID[label]] = math.log(p)
    return x


# ---------------------------------------------------------------- ctc_greedy


def test_ctc_greedy_merges_repeats_and_keeps_blank_separated_ones() -> None:
    x = frames(["<blk>", "ni3", "ni3", "<blk>", "ni3", "hao3", "hao3", "<blk>", "<blk>", "ma5"])
    assert ctc_greedy(x) == [TID["ni3"], TID["ni3"], TID["hao3"], TID["ma5"]]


def test_ctc_greedy_accepts_tensors_and_empty_input() -> None:
    x = torch.from_numpy(frames(["shi4", "shi4", "shi4", "bu4", "<blk>"]))
    assert ctc_greedy(x) == [TID["shi4"], TID["bu4"]]
    assert ctc_greedy(np.zeros((0, V), dtype=np.float32)) == []
    assert ctc_greedy(frames(["<blk>", "<blk>"])) == []
    with pytest.raises(ValueError, match=r"\[T, V\]"):
        ctc_greedy(np.zeros((1, 2, V), dtype=np.float32))


# ---------------------------------------------------------------- write_disambig_lang


def test_disambig_symbols_for_homophones_and_prefixes() -> None:
    lexicon = [
        ("是", ("shi4",)),
        ("事", ("shi4",)),
        ("你", ("ni3",)),
        ("你好", ("ni3", "hao3")),
        ("好", ("hao3",)),
    ]
    out, max_k = add_disambig_symbols(lexicon)
    assert out == [
        ("是", ("shi4", "#1")),
        ("事", ("shi4", "#2")),
        ("你", ("ni3", "#1")),  # prefix of 你好
        ("你好", ("ni3", "hao3")),
        ("好", ("hao3",)),
    ]
    assert max_k == 2


def test_prepare_lang_writes_tables(lang: Path) -> None:
    assert (lang / "lexicon_disambig.txt").read_text(encoding="utf-8").splitlines() == [
        "你 ni3 #1",  # prefix of 你好
        "好 hao3",
        "吗 ma5",
        "是 shi4 #1",
        "事 shi4 #2",
        "市 shi4 #3",
        "不 bu4",  # the duplicate line is dropped, so no false homophone
        "有 you3",
        "行 xing2",  # polyphone: two readings, neither needs a disambiguator
        "行 hang2",
        "银 yin2 #1",
        "银行 yin2 hang2",
        "长 zhang3",
        "城 cheng2",
        "长城 chang2 cheng2",
        "你好 ni3 hao3",
    ]
    words = read_symbol_table(lang / "words.txt")
    body = sorted(set("你好吗是事市不有行银长城") | {"银行", "长城", "你好"})
    assert words == {w: i for i, w in enumerate(["<eps>", *body, "#0", "<s>", "</s>"])}
    tokens = read_symbol_table(lang / "tokens_disambig.txt")
    assert [tokens[t] for t in TOKENS] == list(range(V))
    assert [tokens[f"#{k}"] for k in range(4)] == [V, V + 1, V + 2, V + 3]
    assert len(tokens) == V + 4


def test_prepare_lang_is_idempotent(lang: Path) -> None:
    names = ("words.txt", "tokens_disambig.txt", "lexicon_disambig.txt")
    before = {n: (lang / n).stat().st_mtime_ns for n in names}
    write_disambig_lang(lang)
    after = {n: (lang / n).stat().st_mtime_ns for n in before}
    assert before == after


def test_prepare_lang_rejects_unknown_syllable(tmp_path: Path) -> None:
    (tmp_path / "tokens.txt").write_text("<blk> 0\nni3 1\n", encoding="utf-8")
    (tmp_path / "lexicon.txt").write_text("你 ni3\n好 hao3\n", encoding="utf-8")
    with pytest.raises(ValueError, match="hao3"):
        write_disambig_lang(tmp_path)
    assert not (tmp_path / "words.txt").exists()


def test_cli_reports_user_errors_without_traceback(
    lang: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "lm.arpa").write_text("\\data\\\n", encoding="utf-8")
    assert main(["graph", "--lang-dir", str(tmp_path), "--arpa", str(tmp_path / "lm.arpa")]) == 1
    assert "tokens.txt not found" in capsys.readouterr().err
    missing_lm = str(tmp_path / "no.arpa")
    assert main(["graph", "--lang-dir", str(lang), "--arpa", missing_lm]) == 1
    err = capsys.readouterr().err
    assert "no.arpa not found" in err and "Traceback" not in err
    assert not (tmp_path / "H").exists()


# ---------------------------------------------------------------- H and HLG


def arcs(fst: kaldifst.StdVectorFst, state: int) -> list[tuple[int, int, int]]:
    return [(a.ilabel, a.olabel, a.nextstate) for a in kaldifst.ArcIterator(fst, state)]


def test_ctc_topo_shape_and_labels() -> None:
    h = build_ctc_topo(4, disambig_ids=[7, 8])
    assert h.num_states == 4 and h.start == 0
    for s in range(4):
        assert h.final(s) == kaldifst.TropicalWeight(0.0)
        out = arcs(h, s)
        assert len(out) == 4 + 2
        assert (1, 0, 0) in out  # blank (column 0) -> epsilon, to the blank state
        assert (s + 1, 0, s) in out  # repeat of the last token collapses
        assert (0, 7, s) in out and (0, 8, s) in out  # disambig passes through as input epsilon
    assert (3, 2, 2) in arcs(h, 1)  # a new token is emitted once
    assert (3, 2, 2) in arcs(h, 0)
    with pytest.raises(ValueError):
        build_ctc_topo(1)


def test_hlg_labels(lang: Path) -> None:
    hlg = kaldifst.StdVectorFst.read(str(lang / "HLG.fst"))
    words = read_symbol_table(lang / "words.txt")
    real_words = {i for w, i in words.items() if w not in ("<eps>", "#0", "<s>", "</s>")}
    ilabels, olabels = set(), set()
    for s in range(hlg.num_states):
        for a in kaldifst.ArcIterator(hlg, s):
            ilabels.add(a.ilabel)
            olabels.add(a.olabel)
    assert ilabels <= set(range(V + 1)) and TID["cheng2"] + 1 in ilabels  # token k -> ilabel k+1, nothing above
    assert olabels - {0} <= real_words
    assert hlg.is_ilabel_sorted


# ---------------------------------------------------------------- decoding


def test_decode_collapses_repeats_and_blanks(decoder: HlgDecoder) -> None:
    x = frames(["<blk>", "ni3", "ni3", "<blk>", "hao3", "hao3", "hao3", "<blk>", "ma5", "<blk>"])
    assert decoder.decode(x) == ["你", "好", "吗"]


def test_decode_blank_separated_repeat_is_two_words(decoder: HlgDecoder) -> None:
    assert decoder.decode(frames(["ni3", "<blk>", "ni3"])) == ["你", "你"]
    assert decoder.decode(frames(["ni3", "ni3", "ni3"])) == ["你"]


def test_lm_picks_homophone_from_context(decoder: HlgDecoder) -> None:
    assert decoder.decode(frames(["<blk>", "shi4", "shi4", "<blk>"])) == ["市"]
    assert decoder.decode(frames(["bu4", "<blk>", "shi4", "shi4"])) == ["不", "是"]
    assert decoder.decode(frames(["you3", "you3", "shi4", "<blk>"])) == ["有", "事"]


def test_polyphone_and_multichar_word(decoder: HlgDecoder) -> None:
    assert decoder.decode(frames(["bu4", "xing2"])) == ["不", "行"]
    assert decoder.decode(frames(["yin2", "<blk>", "hang2", "hang2"])) == ["银行"]


def test_multichar_word_missing_from_lm_is_spelled_as_characters(decoder: HlgDecoder, p2h: PinyinDecoder) -> None:
    assert decoder.decode(frames(["chang2", "<blk>", "cheng2"], p=0.99)) == ["长", "城"]
    assert p2h.pinyin_to_text(["zhang3", "cheng2"]) == "长城"


def test_acoustics_override_lm_when_confident(decoder: HlgDecoder) -> None:
    # 不 -> 行 (xing2) is an explicit bigram, but the audio clearly says hang2.
    assert decoder.decode(frames(["bu4", "hang2"], p=0.99)) == ["不", "行"]
    assert decoder.decode(frames(["bu4", "hao3"], p=0.99)) == ["不", "好"]


def test_acoustic_scale_and_tensor_input(lang: Path) -> None:
    d = HlgDecoder(lang / "HLG.fst", lang / "words.txt", beam=10.0, max_active=100, acoustic_scale=0.5,
                   blank_penalty=0.0)
    assert d.decode(torch.from_numpy(frames(["you3", "shi4"]))) == ["有", "事"]


def test_blank_penalty_keeps_a_syllable_the_lm_would_drop(lang: Path) -> None:
    # Frame 2 leans to blank (0.9) over cheng2 (0.1): 城 after 好 costs the LM 1.8 (log10; 4.1 nats)
    # and the audio 2.2 nats, so plain search drops the syllable; a blank penalty of 8 nats makes
    # emitting it the cheaper path.
    x = frames(["ni3", "hao3", "<blk>"])
    x[2, :] = math.log(1e-6)
    x[2, TID["<blk>"]], x[2, TID["cheng2"]] = math.log(0.9), math.log(0.1)
    plain = HlgDecoder.from_dir(lang, section("decode", blank_penalty=0.0))
    assert plain.decode(x) == ["你", "好"]
    penalised = HlgDecoder.from_dir(lang, section("decode", blank_penalty=8.0))
    assert penalised.blank_penalty == 8.0
    assert penalised.decode(x) == ["你", "好", "城"]
    assert plain.decode(x) == ["你", "好"]  # the caller's array is not modified


def test_decode_empty_input(decoder: HlgDecoder) -> None:
    assert decoder.decode(np.zeros((0, V), dtype=np.float32)) == []
    assert decoder.decode(frames(["<blk>", "<blk>"])) == []


def test_decode_rejects_wrong_vocabulary_size(decoder: HlgDecoder) -> None:
    with pytest.raises(ValueError, match="columns"):
        decoder.decode(np.zeros((3, V - 1), dtype=np.float32))


def test_pinyin_to_text(p2h: PinyinDecoder) -> None:
    assert p2h.pinyin_to_text(["ni3", "hao3", "ma5"]) == "你好吗"
    assert p2h.pinyin_to_text(["bu4", "shi4"]) == "不是"
    assert p2h.pinyin_to_text(["you3", "shi4"]) == "有事"
    assert p2h.pinyin_to_text(["yin2", "hang2"]) == "银行"
    assert p2h.pinyin_to_text(["ni3", "ni3"]) == "你你"
    assert p2h.pinyin_to_text([]) == ""


def test_long_pinyin_is_converted_in_pieces(p2h: PinyinDecoder) -> None:
    """More than P2H_PIECE_SYLLABLES syllables: equal pieces, each converted alone, a check before each."""
    sentence = ["ni3", "hao3", "ma5", "bu4", "shi4"]
    repeats = P2H_PIECE_SYLLABLES // len(sentence) * 2  # exactly two pieces, each of whole sentences
    checks = []
    assert p2h.pinyin_to_text(sentence * repeats, lambda: checks.append(1)) == "你好吗不是" * repeats
    assert len(checks) == 2


def test_pinyin_to_text_skips_a_syllable_no_word_is_read_as(p2h: PinyinDecoder) -> None:
    assert p2h.pinyin_to_text(["ni3", "m2", "hao3"]) == "你好"
    assert p2h.pinyin_to_text(["m2"]) == ""


def test_pinyin_to_text_rejects_unknown_syllable(p2h: PinyinDecoder) -> None:
    with pytest.raises(ValueError, match="zzz9"):
        p2h.pinyin_to_text(["ni3", "zzz9"])
    with pytest.raises(ValueError, match="<blk>"):
        p2h.pinyin_to_text(["<blk>"])


def test_stepped_search_finds_the_same_words_and_can_be_stopped(decoder: HlgDecoder) -> None:
    x = frames(["<blk>", "ni3", "ni3", "<blk>", "hao3", "hao3", "hao3", "<blk>", "ma5", "<blk>"])
    steps = []
    assert decoder.decode(x, lambda: steps.append(1)) == decoder.decode(x)
    assert len(steps) == -(-len(x) // SEARCH_STEP_FRAMES)

    def stop() -> None:
        raise InterruptedError

    with pytest.raises(InterruptedError):
        decoder.decode(x, stop)
