"""Stage 2: labelling supervisions (text + pinyin) and the lang directory (tokens, lexicon, LM text)."""
from __future__ import annotations

from pathlib import Path

import pytest
from conftest import section
from lhotse import SupervisionSegment, SupervisionSet, load_manifest

from asrt.fileio import read_symbol_table
from asrt.lang.prepare import BLANK, label_supervision, label_supervisions, prepare_lang
from asrt.text.pinyin import char_readings, syllable_inventory


def sup(utt_id: str, text: str, pinyin: str | None = None) -> SupervisionSegment:
    return SupervisionSegment(id=utt_id, recording_id=utt_id, start=0.0, duration=1.0, channel=0, text=text,
                              custom={"pinyin": pinyin} if pinyin is not None else None)


def write_sups(path: Path, segments: list[SupervisionSegment]) -> Path:
    SupervisionSet.from_segments(segments).to_file(path)
    return path


@pytest.fixture
def labelled(tmp_path) -> tuple[tuple[int, int], dict[str, SupervisionSegment], Path]:
    src = write_sups(tmp_path / "sups_raw.jsonl.gz", [
        sup("text-only", "银行行长"),
        # Deliberately not pypinyin's reading (ni3): the corpus's own pinyin must win.
        sup("given", "你好", pinyin="ni2 hao3"),
        sup("latin", "我用iPhone"),
        sup("punct", "１９９８年，你好！"),
    ])
    out = tmp_path / "sups.jsonl.gz"
    counts = label_supervisions(src, out)
    return counts, {s.id: s for s in load_manifest(out)}, out


def test_label_supervisions_counts_and_drops_latin(labelled):
    counts, sups, _ = labelled
    assert counts == (3, 1)
    assert set(sups) == {"text-only", "given", "punct"}


def test_text_only_supervision_gets_contextual_pinyin(labelled):
    s = labelled[1]["text-only"]
    assert s.text == "银行行长"
    assert s.custom["pinyin"] == "yin2 hang2 hang2 zhang3"


def test_corpus_pinyin_wins_over_pypinyin(labelled):
    s = labelled[1]["given"]
    assert s.text == "你好"
    assert s.custom["pinyin"] == "ni2 hao3"


def test_punctuation_and_digits_are_normalised(labelled):
    s = labelled[1]["punct"]
    assert s.text == "一九九八年你好"
    assert s.custom["pinyin"] == "yi1 jiu3 jiu3 ba1 nian2 ni3 hao3"


def test_given_pinyin_is_normalised_to_asrt_form():
    s = label_supervision(sup("g", "绿女", pinyin="LU:4 nü3"))
    assert s.text == "绿女"
    assert s.custom["pinyin"] == "lv4 nv3"


@pytest.mark.parametrize("text, pinyin", [
    ("你好", "ni3"),               # fewer syllables than characters
    ("你好", "ni3 hao3 ma5"),      # more syllables than characters
    ("你好", "ni3 hao9"),          # not a syllable
    ("你好", "ni3 xyz3"),          # syllable form but not in the inventory
])
def test_bad_given_pinyin_drops_the_supervision(text, pinyin):
    assert label_supervision(sup("bad", text, pinyin=pinyin)) is None


def test_no_mandarin_supervision_is_an_error(tmp_path):
    src = write_sups(tmp_path / "in.jsonl.gz", [sup("a", "hello"), sup("b", "，。")])
    with pytest.raises(ValueError, match="no supervision"):
        label_supervisions(src, tmp_path / "out.jsonl.gz")
    assert not (tmp_path / "out.jsonl.gz").exists()


@pytest.fixture
def lang_dir(tmp_path, labelled) -> Path:
    extra = tmp_path / "extra.txt"
    extra.write_text("他行走在路上。\nHello world\n重庆很热！\n\n", encoding="utf-8")
    lang = tmp_path / "lang"
    prepare_lang(lang, labelled[2], [extra], section("lang"), "char")
    return lang


def test_tokens_txt(lang_dir):
    table = read_symbol_table(lang_dir / "tokens.txt")
    first = (lang_dir / "tokens.txt").read_text(encoding="utf-8").splitlines()[0]
    assert first == f"{BLANK} 0"
    assert sorted(table.values()) == list(range(len(table)))
    assert list(table) == [BLANK, *syllable_inventory()]
    for s in ("lv4", "hang2", "ge5"):
        assert s in table


def test_lm_text_has_training_and_extra_sentences(lang_dir):
    lines = (lang_dir / "lm_text.txt").read_text(encoding="utf-8").splitlines()
    assert lines == [
        "银 行 行 长",
        "你 好",
        "一 九 九 八 年 你 好",
        "他 行 走 在 路 上",
        "重 庆 很 热",
    ]


def test_lexicon_lists_every_reading_of_lm_characters(lang_dir, labelled):
    entries = [tuple(line.split()) for line in (lang_dir / "lexicon.txt").read_text(encoding="utf-8").splitlines()]
    assert all(len(e) == 2 for e in entries)
    assert len(set(entries)) == len(entries)
    assert ("行", "xing2") in entries and ("行", "hang2") in entries
    assert ("重", "zhong4") in entries and ("重", "chong2") in entries
    chars = set("银行长你好一九八年他走在路上重庆很热")
    assert {w for w, _ in entries} == chars
    for ch in chars:  # dictionary readings, plus the context readings the labels used
        label_readings = {r for s in load_manifest(labelled[2]) for c, r in zip(s.text, s.custom["pinyin"].split()) if c == ch}
        assert {r for w, r in entries if w == ch} == set(char_readings(ch)) | label_readings, ch
    assert {r for _, r in entries} <= set(syllable_inventory())


def test_lexicon_covers_every_char_syllable_pair_of_the_labels(tmp_path):
    src = write_sups(tmp_path / "in.jsonl.gz", [sup("a", "这个很便宜"), sup("b", "有意思")])
    out = tmp_path / "sups.jsonl.gz"
    label_supervisions(src, out)
    prepare_lang(tmp_path / "lang", out, [], section("lang"), "char")
    entries = {tuple(line.split()) for line in (tmp_path / "lang" / "lexicon.txt").read_text(encoding="utf-8").splitlines()}
    for s in load_manifest(out):
        for ch, syl in zip(s.text, s.custom["pinyin"].split()):
            assert (ch, syl) in entries, (ch, syl)
