"""Tonal pinyin in ASRT's convention: syllable + tone digit 1-5 (5 = neutral), ü written ``v``.

Every reading in the project goes through this module, so ``lv4``/``nve4``/``ma5`` mean the same thing
in labels, the lexicon, the token inventory and the servers.
"""
from __future__ import annotations

import functools
import re

from pypinyin import Style, lazy_pinyin
from pypinyin.pinyin_dict import pinyin_dict
from pypinyin.style import convert

SYLLABLE_RE = re.compile(r"[a-z]+[1-5]")
_CJK_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def is_cjk(ch: str) -> bool:
    """True for a CJK unified ideograph (the characters Mandarin transcripts are written in)."""
    return bool(_CJK_RE.fullmatch(ch))


def normalize_syllable(syllable: str) -> str:
    """Return ``syllable`` in ASRT form: lower case, ``ü``/``u:`` as ``v``, neutral tone as ``5``.

    Raises ValueError if the result is not a toneful ASCII syllable.
    """
    s = syllable.strip().lower().replace("ü", "v").replace("u:", "v")
    if s and not s[-1].isdigit():
        s += "5"
    if not SYLLABLE_RE.fullmatch(s):
        raise ValueError(f"not a tonal pinyin syllable: {syllable!r}")
    return s


def strip_tone(syllable: str) -> str:
    """The toneless form of an ASRT syllable (``lv4`` -> ``lv``): the units of toneless-pinyin models."""
    return syllable.rstrip("12345")


def _to_tone3(marked: str) -> str | None:
    """Convert one tone-marked reading (``lǜ``) to ASRT form, or None if it is not a plain syllable."""
    try:
        return normalize_syllable(convert(marked, Style.TONE3, strict=True, neutral_tone_with_five=True))
    except ValueError:
        return None


@functools.lru_cache(maxsize=None)
def char_readings(ch: str) -> tuple[str, ...]:
    """All readings of one character (every reading of a polyphone), in pypinyin's order."""
    marked = pinyin_dict.get(ord(ch))
    if marked is None:
        return ()
    readings = []
    for r in marked.split(","):
        s = _to_tone3(r)
        if s is not None and s not in readings:
            readings.append(s)
    return tuple(readings)


@functools.lru_cache(maxsize=1)
def syllable_inventory() -> tuple[str, ...]:
    """Every toneful syllable any character can be read as, plus the neutral tone of every syllable
    (any character may lose its tone in context, as 个 in 一个 ``ge5``), sorted: the token set."""
    found = set()
    for marked in pinyin_dict.values():
        for r in marked.split(","):
            s = _to_tone3(r)
            if s is not None:
                found.update((s, s[:-1] + "5"))
    return tuple(sorted(found))


@functools.lru_cache(maxsize=1)
def syllable_set() -> frozenset[str]:
    """The token inventory as a set, for membership tests."""
    return frozenset(syllable_inventory())


def text_to_pinyin(text: str) -> list[str]:
    """Read a string of CJK characters as one tonal syllable per character, using phrase context.

    Raises ValueError naming the first character that has no reading.
    """
    result = []
    for ch, syl in zip(text, lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True, errors=lambda x: [None] * len(x))):
        s = _normalize_or_none(syl)
        if s is None:
            raise ValueError(f"no pinyin reading for character {ch!r} in {text!r}")
        result.append(s)
    return result


def _normalize_or_none(syl: str | None) -> str | None:
    if syl is None:
        return None
    try:
        return normalize_syllable(syl)
    except ValueError:
        return None
