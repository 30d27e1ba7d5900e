"""N-best rescoring (decode.method: rescore): a hand-made lattice whose rescoring flips the 1-best (with the
word LM, and with the character LM alone), the word acceptor that merges a word sequence's alignments, the
distinct n-best of pinyin to characters, and the decoders' method switch."""
from __future__ import annotations

import math
from pathlib import Path

import kaldifst
import pytest
from conftest import section

from asrt.decode.rescore import LN10, NbestRescorer, nbest_output_sequences, nbest_word_sequences, word_acceptor
from asrt.decode.search import HlgDecoder, PinyinDecoder
from tests.test_graph import lang, p2h  # noqa: F401  (fixtures: the hand-checkable lang directory)

# The rescoring LM: "不 是" is likely, "不 市" is not (log10 probabilities).
ARPA = """\\data\\
ngram 1=6
ngram 2=3

\\1-grams:
-1.0\t<unk>\t0
-99\t<s>\t-0.1
-1.0\t</s>\t0
-0.5\t不\t-0.1
-1.0\t是\t0
-0.3\t市\t0

\\2-grams:
-0.05\t不 是
-3.0\t不 市
-0.1\t是 </s>

\\end\\
"""

# The character LM: only 不, 是 and 市 with -1.0 each and no back-off weights, plus "不 是" and "是 </s>" (-0.1).
CHAR_ARPA = """\\data\\
ngram 1=6
ngram 2=2

\\1-grams:
-1.0\t<unk>\t0
-99\t<s>\t0
-1.0\t</s>\t0
-1.0\t不\t0
-1.0\t是\t0
-1.0\t市\t0

\\2-grams:
-0.1\t不 是
-0.1\t是 </s>

\\end\\
"""

WORDS = {1: "不", 2: "是", 3: "市"}


@pytest.fixture(scope="module")
def rescore_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lm") / "lm_rescore.arpa"  # kenlm reads ARPA as well as its binary
    path.write_text(ARPA, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def char_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lm") / "lm_rescore_char.arpa"
    path.write_text(CHAR_ARPA, encoding="utf-8")
    return path


def lattice() -> kaldifst.Lattice:
    """不 then 市 (graph 1, acoustic 1) or 是 (graph 1, acoustic 2), 市 by two alignments; (graph, acoustic)."""
    lat = kaldifst.Lattice()
    s = [lat.add_state() for _ in range(5)]
    lat.start = s[0]
    arcs = [(0, 1, 1, (0.5, 0.5)), (1, 2, 3, (1.0, 1.0)), (1, 3, 0, (0.0, 0.2)), (3, 2, 3, (1.0, 0.8)),
            (1, 4, 2, (1.0, 2.0))]
    for src, dst, word, (graph, acoustic) in arcs:
        lat.add_arc(s[src], kaldifst.LatticeArc(word, word, kaldifst.LatticeWeight(graph, acoustic), s[dst]))
    lat.set_final(s[2], kaldifst.LatticeWeight(0.0, 0.0))
    lat.set_final(s[4], kaldifst.LatticeWeight(0.0, 0.0))
    return lat


def test_word_acceptor_merges_alignments_into_distinct_sequences() -> None:
    paths = nbest_word_sequences(word_acceptor(lattice()), 10)
    assert [(ids, round(cost, 4)) for ids, cost in paths] == [([1, 3], 3.0), ([1, 2], 4.0)]


def test_rescoring_flips_the_one_best(rescore_lm: Path) -> None:
    paths = [([WORDS[w] for w in ids], cost) for ids, cost in nbest_word_sequences(word_acceptor(lattice()), 10)]
    assert NbestRescorer(rescore_lm, 0.0, 0.0, 10, 6.0).best(paths) == ["不", "市"]  # the graph's best
    rescorer = NbestRescorer(rescore_lm, 1.0, 0.0, 10, 6.0)
    # <s> backs off (-0.1) to 不 (-0.5), then 不 是 (-0.05), 是 </s> (-0.1)
    assert rescorer.lm_cost(["不", "是"]) == pytest.approx(-LN10 * (-0.1 - 0.5 - 0.05 - 0.1), abs=1e-4)
    # 不 市: 3.0 + ln10 * (0.6 + 3.0 + 1.0, 市 backing off to </s>) > 不 是: 4.0 + ln10 * 0.75
    assert rescorer.best(paths) == ["不", "是"]
    assert NbestRescorer(rescore_lm, 1.0, 0.0, 1, 6.0).best(paths[:1]) == ["不", "市"]  # n = 1: nothing to flip
    assert rescorer.best([]) == []


def test_character_lm_alone_flips_the_one_best(char_lm: Path) -> None:
    paths = [(["不", "市"], 3.0), (["不是"], 4.0)]  # 不是 as one word: the character LM scores its characters
    rescorer = NbestRescorer(None, 0.0, 0.0, 10, 6.0, char_lm, 1.0)
    assert rescorer.lm is None  # no word LM: weight 0
    # 不 是: <s> 不 (-1.0), 不 是 (-0.1), 是 </s> (-0.1); 不 市: -1.0, 市 (-1.0), </s> (-1.0)
    assert rescorer.char_lm_cost(["不是"]) == pytest.approx(LN10 * 1.2, abs=1e-4)
    assert rescorer.char_lm_cost(["不", "市"]) == pytest.approx(LN10 * 3.0, abs=1e-4)
    # 3.0 + 6.91 > 4.0 + 2.76: flipped; at weight 0.1, 3.0 + 0.69 < 4.0 + 0.28: the graph's best stays
    assert rescorer.best(paths) == ["不是"]
    assert NbestRescorer(None, 0.0, 0.0, 10, 6.0, char_lm, 0.1).best(paths) == ["不", "市"]


def test_word_and_character_lms_add_up(rescore_lm: Path, char_lm: Path) -> None:
    paths = [(["不", "市"], 3.0), (["不", "是"], 4.0)]
    # word LM: 不 市 ln10 * 4.6, 不 是 ln10 * 0.75; character LM: ln10 * 3.0 and ln10 * 1.2. At weight 0.1
    # each alone keeps 不 市 (3.0 + 1.06 < 4.0 + 0.17; 3.0 + 0.69 < 4.0 + 0.28), both flip it (4.75 > 4.45).
    assert NbestRescorer(rescore_lm, 0.1, 0.0, 10, 6.0).best(paths) == ["不", "市"]
    assert NbestRescorer(None, 0.0, 0.0, 10, 6.0, char_lm, 0.1).best(paths) == ["不", "市"]
    assert NbestRescorer(rescore_lm, 0.1, 0.0, 10, 6.0, char_lm, 0.1).best(paths) == ["不", "是"]


def test_output_sequences_are_distinct_and_within_the_beam() -> None:
    """Two paths read 1 2 (costs 1 and 2: an n-gram and its back-off, say), one reads 1 3 (cost 1.5)."""
    fst = kaldifst.StdVectorFst()
    s = [fst.add_state() for _ in range(6)]
    fst.start = s[0]
    for src, dst, ilabel, olabel, cost in [(0, 1, 5, 1, 0.5), (1, 5, 6, 2, 0.5), (0, 2, 5, 1, 1.0), (2, 3, 0, 0, 0.5),
                                           (3, 5, 6, 2, 0.5), (0, 4, 5, 1, 0.5), (4, 5, 7, 3, 1.0)]:
        fst.add_arc(s[src], kaldifst.StdArc(ilabel, olabel, cost, s[dst]))
    fst.set_final(s[5], 0.0)
    paths = nbest_output_sequences(fst.copy(), 10, 6.0)
    assert [(ids, round(cost, 4)) for ids, cost in paths] == [([1, 2], 1.0), ([1, 3], 1.5)]
    assert [ids for ids, _ in nbest_output_sequences(fst.copy(), 10, 0.25)] == [[1, 2]]  # 1 3 is 0.5 behind
    assert nbest_output_sequences(kaldifst.StdVectorFst(), 10, 6.0) == []


def test_pinyin_nbest_is_distinct(lang: Path, rescore_lm: Path) -> None:  # noqa: F811
    cfg = section("decode", method="rescore", lm_weight=1.0, nbest=10, lattice_beam=50.0, blank_penalty=0.0)
    decoder = PinyinDecoder.from_dir(lang, cfg, rescore_lm)
    seen = []
    best = decoder.rescorer.best
    decoder.rescorer.best = lambda paths: seen.append(paths) or best(paths)
    assert decoder.pinyin_to_text(["bu4", "shi4"]) == "不是"
    # 不 then 是, 事 or 市, each by its bigram or by back-off: n shortest paths would repeat them
    assert sorted("".join(words) for words, _ in seen[0]) == ["不事", "不市", "不是"]


def test_rescorer_settings_are_checked(rescore_lm: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="lm.rescore_order"):
        NbestRescorer(tmp_path / "missing.bin", 1.0, 0.0, 10, 6.0)
    with pytest.raises(ValueError, match="nbest"):
        NbestRescorer(rescore_lm, 1.0, 0.0, 0, 6.0)
    with pytest.raises(ValueError, match="decode.word_penalty"):
        NbestRescorer.from_config(rescore_lm, {"lm_weight": 1.0, "nbest": 5, "lattice_beam": 4.0})


def test_decoders_rescore_with_the_method(lang: Path, rescore_lm: Path) -> None:  # noqa: F811
    cfg = section("decode", method="rescore", lm_weight=1.0, nbest=10, lattice_beam=8.0, blank_penalty=0.0)
    decoder = HlgDecoder.from_dir(lang, cfg, rescore_lm)
    assert decoder.rescorer is not None and decoder.rescorer.lm_weight == 1.0
    assert PinyinDecoder.from_dir(lang, cfg, rescore_lm).pinyin_to_text(["bu4", "shi4"]) == "不是"
    with pytest.raises(ValueError, match="decode.method must be one of"):
        HlgDecoder.from_dir(lang, section("decode", method="beam"))
    assert HlgDecoder.from_dir(lang, section("decode", method="hlg", blank_penalty=0.0)).rescorer is None
    assert math.isfinite(decoder.rescorer.lm_cost(["不"]))


def test_a_lattice_too_large_for_words_gives_its_one_best(lang: Path, rescore_lm: Path,  # noqa: F811
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Over MAX_LATTICE_STATES_PER_FRAME (noise), the n-best is the search's 1-best, as `hlg` finds it."""
    from tests.test_graph import frames

    cfg = section("decode", method="rescore", lm_weight=1.0, nbest=10, lattice_beam=8.0, blank_penalty=0.0)
    decoder = HlgDecoder.from_dir(lang, cfg, rescore_lm)
    x = frames(["<blk>", "bu4", "<blk>", "shi4", "<blk>"])
    assert len(decoder.rescorer.nbest_paths(decoder._fst, x, decoder.beam)) > 1
    monkeypatch.setattr("asrt.decode.rescore.MAX_LATTICE_STATES_PER_FRAME", 0)
    (words, _), = decoder.rescorer.nbest_paths(decoder._fst, x, decoder.beam)
    assert [decoder._id2word[w] for w in words] == HlgDecoder.from_dir(lang, section("decode", method="hlg", blank_penalty=0.0)).decode(x) == ["不", "是"]
