"""The word-level LM (lm.unit: word): segmentation, readings and pronunciation costs, the character path
for words outside the vocabulary, and the word/char switch building both graphs."""
from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pytest
from conftest import section

from asrt.decode.search import PinyinDecoder
from asrt.lang.disambig import read_pron_costs
from asrt.lang.prepare import check_lm_unit, prepare_lang
from asrt.lang.units import lm_unit_of
from asrt.lm.graph import compile_hlg
from asrt.lm.ngram import add_unigrams, build_lms
from asrt.text.words import count_readings, dictionary_readings, pronunciation_costs, segment
from tests.test_units import labelled_text

# 银行 (bank) and 行长 (bank president) read 行 hang2; 行走 (to walk) and 旅行 read it xing2.
TEXT = ["行长在银行", "他在路上行走", "行长去旅行", "你好", "银行很好"]
LM_CONFIG = section("lm", order=3, prune=[0])


def test_segmentation_uses_the_dictionary() -> None:
    assert segment("行长在银行") == ["行长", "在", "银行"]
    assert segment("他在路上行走") == ["他", "在", "路上", "行走"]


def test_polyphone_readings_are_counted_in_context() -> None:
    counts = count_readings([segment(t) for t in TEXT])
    assert counts["银行"] == Counter({"yin2 hang2": 2})
    assert counts["行走"] == Counter({"xing2 zou3": 1})
    assert counts["行"] == Counter({"hang2": 4, "xing2": 2})  # inside 银行, 行长 / 行走, 旅行


def test_dictionary_readings_of_words_and_characters() -> None:
    assert dictionary_readings("银行")[0] == "yin2 hang2"
    assert {"xing2", "hang2"} <= set(dictionary_readings("行"))
    assert dictionary_readings("abc") == []


def test_pronunciation_costs_favour_the_counted_reading() -> None:
    costs = pronunciation_costs(Counter({"hang2": 5, "xing2": 2}), ["xing2", "hang2", "heng2"], 0.1)
    assert costs["hang2"] == 0.0
    assert costs["xing2"] == pytest.approx(math.log(5.1 / 2.1), abs=1e-4)
    assert costs["heng2"] == pytest.approx(math.log(5.1 / 0.1), abs=1e-4)  # never read so: costly, still there


def test_lm_unit_is_checked() -> None:
    check_lm_unit("word", pinyin_units=True)
    with pytest.raises(ValueError, match="lm.unit must be one of"):
        check_lm_unit("phrase", pinyin_units=True)
    with pytest.raises(ValueError, match="needs pinyin units"):
        check_lm_unit("word", pinyin_units=False)


def build(tmp_path: Path, lm_unit: str) -> Path:
    """A lang directory of TEXT with ``lm_unit``, its LM (stage 4) and graphs (stage 5)."""
    lang = tmp_path / f"lang_{lm_unit}"
    prepare_lang(lang, labelled_text(tmp_path, TEXT), [], section("lang"), lm_unit)
    build_lms(lang, tmp_path / f"lm_{lm_unit}" / "lm.arpa", LM_CONFIG)
    compile_hlg(lang, tmp_path / f"lm_{lm_unit}" / "lm.arpa", lang / "HLG.fst", lang / "LG_pinyin.fst")
    return lang


def test_word_and_char_switch_builds_both_graphs(tmp_path: Path) -> None:
    word, char = build(tmp_path, "word"), build(tmp_path, "char")
    assert lm_unit_of(word) == "word" and lm_unit_of(char) == "char"
    assert (word / "lm_text.txt").read_text(encoding="utf-8").splitlines()[0] == "行长 在 银行"
    assert (char / "lm_text.txt").read_text(encoding="utf-8").splitlines()[0] == "行 长 在 银 行"
    word_entries = {line.split()[0] for line in (word / "lexicon.txt").read_text(encoding="utf-8").splitlines()}
    char_entries = {line.split()[0] for line in (char / "lexicon.txt").read_text(encoding="utf-8").splitlines()}
    assert {"银行", "行长", "行走", "行"} <= word_entries and all(len(w) == 1 for w in char_entries)
    costs = read_pron_costs(word)
    assert costs["银行", ("yin2", "hang2")] == 0.0 and costs["行", ("hang2",)] == 0.0
    assert costs["行", ("xing2",)] > 0.0
    for lang in (word, char):
        assert (lang / "HLG.fst").stat().st_size > 0
        p2h = PinyinDecoder.from_dir(lang, section("decode"))
        assert p2h.pinyin_to_text("yin2 hang2 hang2 zhang3".split()) == "银行行长"
        assert p2h.pinyin_to_text("ta1 zai4 lu4 shang4 xing2 zou3".split()) == "他在路上行走"


def test_a_word_outside_the_vocabulary_is_spelt_in_characters(tmp_path: Path) -> None:
    word = build(tmp_path, "word")
    unigrams = (tmp_path / "lm_word" / "lm.arpa").read_text(encoding="utf-8").split("\\2-grams:")[0]
    assert "\t银\t0" in unigrams  # only ever inside 银行: a 1-gram of <unk>'s probability share
    p2h = PinyinDecoder.from_dir(word, section("decode"))
    assert p2h.pinyin_to_text(["yin2"]) == "银"
    assert p2h.pinyin_to_text("ni3 zou3".split()) == "你走"  # 走 and 你 only inside 行走 and 你好


def test_add_unigrams_shares_unk(tmp_path: Path) -> None:
    arpa = tmp_path / "lm.arpa"
    arpa.write_text("\\data\\\nngram 1=3\nngram 2=1\n\n\\1-grams:\n-1.0\t<unk>\t0\n-0.5\t<s>\t-0.3\n"
                    "-0.5\t</s>\t0\n\n\\2-grams:\n-0.2\t<s> </s>\n\n\\end\\\n", encoding="utf-8")
    assert add_unigrams(arpa, ["甲", "乙", "<s>"]) == 2
    text = arpa.read_text(encoding="utf-8")
    assert "ngram 1=5\n" in text
    share = f"{-1.0 - math.log10(2):.7g}"
    assert f"{share}\t乙\t0\n{share}\t甲\t0\n\n\\2-grams:" in text  # sorted, before the section ends
    assert add_unigrams(arpa, ["甲"]) == 0
