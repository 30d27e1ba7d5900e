"""Transcript normalisation: the shared rule every corpus ends with, and each corpus's own rules.

The shared rule (documented in docs/conventions.md): NFKC folds full-width letters and digits to half-width;
Arabic digits are read digit by digit as Chinese numerals (``1998`` -> ``一九九八``, as years are read);
punctuation and whitespace are removed; a transcript that still holds Latin letters or other
non-CJK symbols is rejected (``None``), because it has no reliable Mandarin reading. The result is a
string of CJK characters only, so CER is comparable across corpora.

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
# Characters that end a clause when splitting running text into utterance-sized pieces.
_CLAUSE_BREAK = re.compile(r"[，。！？；：、,.!?;:…—（）()《》“”\"'‘’「」『』\s]+")


@dataclass(frozen=True)
class TextRules:
    """One corpus's transcript conventions (regular expressions over the NFKC-folded transcript).

    ``reject``: a transcript matching any of these is unusable (unintelligible or foreign speech,
    overlapping talk) and is left out. ``remove``: markers of non-speech events or annotation
    (``[FIL]``, ``<sil>``, ``#``), deleted before the shared rule. Latin letters left after that always
    reject the transcript (the shared rule): no corpus may keep or silently drop spoken letters, since
    its labels would then disagree with its audio, or with the other corpora's.
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
    """Punctuation, symbols and spaces vanish from transcripts."""
    return unicodedata.category(ch)[0] in "PZSC"


def normalize_transcript(text: str, rules: TextRules = DEFAULT_RULES) -> str | None:
    """Normalise one transcript to CJK characters only, or None if it cannot be read as Mandarin.

    ``rules`` are the corpus's own (its module's ``TEXT_RULES``), applied before the shared rule.
    """
    text = rules.apply(unicodedata.normalize("NFKC", text))
    if text is None:
        return None
    text = text.translate(_DIGITS)
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
