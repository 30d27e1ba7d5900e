"""Transcript normalisation: the shared rule every corpus ends with, and each corpus's own rules.

The shared rule (documented in docs/conventions.md, with the anchors it was checked against):

- NFKC folds full-width letters and digits to half-width.
- Symbols that are read aloud become their reading: ``50%`` -> ``百分之五零`` (the sign is read before
  the number), ``‰`` -> ``千分之``, ``℃`` (``°C`` after NFKC) -> ``摄氏度``, ``°`` -> ``度``, a decimal point
  between digits -> ``点``, Roman numerals ``Ⅰ``-``Ⅻ`` -> ``一``-``十二``.
- Arabic digits are read digit by digit as Chinese numerals (``1998`` -> ``一九九八``, as years are read).
- Every other punctuation mark, symbol (``·``, ``～``, emoji), combining mark (emoji variation
  selectors), control character and space is removed: none of them is spoken.
- A transcript that still holds a letter of another script (Latin letters such as a spelled ``CCTV`` or
  the ``K`` of ``K歌``, Greek, kana, hangul) is rejected (``None``): the letter was spoken (``Ｂ超`` is
  read "bi chao"), but it has no tonal-pinyin syllable, so the utterance cannot be labelled without
  making its labels disagree with its audio. Nothing else rejects a transcript.

The result is a string of CJK characters only, so CER is comparable across corpora.

A corpus's own conventions (noise markers, annotation tags) are the :class:`TextRules` its module defines
as ``TEXT_RULES``; they run after NFKC and before the shared rule, so their patterns are written in
half-width characters. Corpus modules normalise in stage 1 (``normalize_transcript(raw, TEXT_RULES)``)
and leave out utterances it rejects; stage 2 applies the shared rule again, which changes nothing.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cached_property

from asrt.text.pinyin import is_cjk

_DIGITS = str.maketrans("0123456789", "零一二三四五六七八九")
# Roman numerals, replaced before NFKC (which would fold Ⅱ into the letters II).
_ROMAN = {chr(0x2160 + i): r for i, r in enumerate(
    ("一", "二", "三", "四", "五", "六", "七", "八", "九", "十", "十一", "十二"))}
_ROMAN.update({chr(0x2170 + i): r for i, r in enumerate(_ROMAN.values())})  # ⅰ-ⅻ
# Symbols with a Mandarin reading (over NFKC-folded text), replaced before the digits are read.
# A sign already written out (百分之50%) is not read twice.
_NUMBER = r"(?<![\d.])(\d+(?:\.\d+)?)"
_SPOKEN_SYMBOLS = ((re.compile(rf"(?<!百分之){_NUMBER}\s*%"), r"百分之\1"),
                   (re.compile(rf"(?<!千分之){_NUMBER}\s*‰"), r"千分之\1"),
                   (re.compile(r"°\s*C(?![A-Za-z])"), "摄氏度"),
                   (re.compile(r"°\s*F(?![A-Za-z])"), "华氏度"),
                   (re.compile(r"°"), "度"),
                   (re.compile(r"(?<=\d)\.(?=\d)"), "点"))
# Characters that end a clause when splitting running text into utterance-sized pieces.
_CLAUSE_BREAK = re.compile(r"[，。！？；：、,.!?;:…—（）()《》“”\"'‘’「」『』\s]+")


@dataclass(frozen=True)
class TextRules:
    """One corpus's transcript conventions (regular expressions over the NFKC-folded transcript).

    ``reject``: a transcript matching any of these is unusable (unintelligible or foreign speech,
    overlapping talk) and is left out. ``remove``: markers of non-speech events or annotation
    (``[FIL]``, ``<sil>``, ``#``), deleted before the shared rule. Letters left after that always
    reject the transcript (the shared rule): no corpus may keep or silently drop spoken letters, since
    its labels would then disagree with its audio, or with the other corpora's. Symbols never reject.
    """

    remove: tuple[str, ...] = ()
    reject: tuple[str, ...] = ()
    note: str = ""  # what the corpus's transcripts hold, and why these rules

    @cached_property
    def _remove_re(self) -> re.Pattern | None:
        return re.compile("|".join(f"(?:{p})" for p in self.remove)) if self.remove else None

    @cached_property
    def _reject_re(self) -> re.Pattern | None:
        return re.compile("|".join(f"(?:{p})" for p in self.reject)) if self.reject else None

    def apply(self, text: str) -> str | None:
        """The NFKC-folded ``text`` with this corpus's markers removed, or None if it must be rejected."""
        if self._reject_re is not None and self._reject_re.search(text):
            return None
        return self._remove_re.sub(" ", text) if self._remove_re is not None else text


DEFAULT_RULES = TextRules(note="the shared rule alone")


def _is_dropped(ch: str) -> bool:
    """Punctuation, symbols, combining marks, control characters and spaces vanish from transcripts."""
    return unicodedata.category(ch)[0] in "PZSCM"


def read_symbols(text: str) -> str:
    """``text`` (NFKC-folded) with the symbols that are read aloud replaced by their reading (``%``, ``℃``...)."""
    for pattern, reading in _SPOKEN_SYMBOLS:
        text = pattern.sub(reading, text)
    return text


def normalize_transcript(text: str, rules: TextRules = DEFAULT_RULES) -> str | None:
    """Normalise one transcript to CJK characters only, or None if it cannot be read as Mandarin.

    ``rules`` are the corpus's own (its module's ``TEXT_RULES``), applied before the shared rule.
    """
    text = rules.apply(unicodedata.normalize("NFKC", "".join(_ROMAN.get(ch, ch) for ch in text)))
    if text is None:
        return None
    text = read_symbols(text).translate(_DIGITS)
    out = []
    for ch in text:
        if is_cjk(ch):
            out.append(ch)
        elif ch == "〇":
            out.append("零")
        elif not _is_dropped(ch):
            return None
    return "".join(out) or None


def split_clauses(text: str) -> list[str]:
    """Split running text at punctuation into clauses (unnormalised, empty pieces dropped)."""
    return [c for c in _CLAUSE_BREAK.split(unicodedata.normalize("NFKC", text)) if c]


def char_tokens(text: str) -> list[str]:
    """Split text into characters for CER, ignoring all whitespace (``你 好`` and ``你好`` are equal)."""
    return list("".join(text.split()))
