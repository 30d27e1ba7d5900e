"""ASRT pinyin convention: normalize_syllable, char_readings, text_to_pinyin and the syllable inventory."""
from __future__ import annotations

import random
import re

import pytest

from asrt.text.pinyin import char_readings, is_cjk, normalize_syllable, syllable_inventory, text_to_pinyin


def gb2312_level1() -> str:
    """The 3755 level-1 ("most common") characters of GB 2312: rows 0xB0..0xD7."""
    raw = bytes(b for hi in range(0xB0, 0xD8) for lo in range(0xA1, 0xFF) for b in (hi, lo))
    return "".join(c for c in raw.decode("gb2312", errors="ignore") if is_cjk(c))


@pytest.mark.parametrize("char, expected", [("绿", "lv4"), ("女", "nv3"), ("吗", "ma5"), ("略", "lve4"), ("的", "de5")])
def test_asrt_convention_for_single_characters(char, expected):
    assert text_to_pinyin(char) == [expected]


@pytest.mark.parametrize("raw, expected", [
    ("lü4", "lv4"), ("LU:4", "lv4"), ("ma", "ma5"), ("Ma3", "ma3"), (" zhuang1 ", "zhuang1"), ("nüe4", "nve4"),
])
def test_normalize_syllable(raw, expected):
    assert normalize_syllable(raw) == expected


@pytest.mark.parametrize("raw", ["", "   ", "ma6", "ma0", "ma55", "5", "lǜ", "ma 3", "mā1", "ni3hao3"])
def test_normalize_syllable_rejects_non_syllables(raw):
    with pytest.raises(ValueError):
        normalize_syllable(raw)


def test_char_readings_lists_every_reading_of_a_polyphone():
    readings = char_readings("行")
    assert {"xing2", "hang2"} <= set(readings)
    assert len(readings) == len(set(readings))
    assert set(char_readings("绿")) >= {"lv4"}
    assert char_readings("a") == ()


@pytest.mark.parametrize("text, expected", [
    ("银行", ["yin2", "hang2"]),
    ("行走", ["xing2", "zou3"]),
    ("银行行长", ["yin2", "hang2", "hang2", "zhang3"]),
    ("你好吗", ["ni3", "hao3", "ma5"]),
])
def test_text_to_pinyin_uses_phrase_context(text, expected):
    assert text_to_pinyin(text) == expected


@pytest.mark.parametrize("text, bad", [("abc", "a"), ("银a行", "a"), ("行Ｘ", "Ｘ")])
def test_text_to_pinyin_names_the_character_without_reading(text, bad):
    with pytest.raises(ValueError, match=re.escape(repr(bad))):
        text_to_pinyin(text)


def test_syllable_inventory_shape():
    inv = syllable_inventory()
    assert list(inv) == sorted(inv)
    assert len(set(inv)) == len(inv)
    assert 1300 <= len(inv) <= 2500
    assert all(re.fullmatch(r"[a-z]+[1-5]", s) for s in inv)
    for s in ("lv4", "nve4", "ge5", "zhuang1", "ma5"):
        assert s in inv
    # No tone-marked or ü spellings leak through.
    assert not any(("ü" in s or "u:" in s) for s in inv)


def test_inventory_covers_common_characters_in_isolation_and_in_context():
    chars = gb2312_level1()
    assert len(chars) == 3755
    sample = "".join(random.Random(0).sample(chars, 2000))
    assert len(sample) == 2000
    inv = set(syllable_inventory())
    for ch in sample:
        readings = char_readings(ch)
        assert readings, ch
        assert set(readings) <= inv, (ch, readings)
    # Context readings (neutral tones, sandhi) must be tokens too.
    in_context = text_to_pinyin(sample)
    assert len(in_context) == len(sample)
    assert set(in_context) <= inv
    neutral = text_to_pinyin("这个便宜意思")
    assert neutral == ["zhe4", "ge5", "pian2", "yi5", "yi4", "si5"]
    assert set(neutral) <= inv
