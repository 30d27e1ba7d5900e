"""Transcript normalisation shared by every corpus.

The rule (documented in the README): NFKC folds full-width letters and digits to half-width; Arabic
digits are read digit by digit as Chinese numerals (``1998`` -> ``一九九八``, as years are read);
punctuation and whitespace are removed; a transcript that still holds Latin letters or other
non-CJK symbols is rejected (``None``), because it has no reliable Mandarin reading. The result is a
string of CJK characters only, so CER is comparable across corpora.
"""
from __future__ import annotations

import re
import unicodedata

from asrt.pinyin import is_cjk

_DIGITS = str.maketrans("0123456789", "零一二三四五六七八九")
# Characters that end a clause when splitting running text into utterance-sized pieces.
_CLAUSE_BREAK = re.compile(r"[，。！？；：、,.!?;:…—（）()《》“”\"'‘’「」『』\s]+")


def _is_dropped(ch: str) -> bool:
    """Punctuation, symbols and spaces vanish from transcripts."""
    return unicodedata.category(ch)[0] in "PZSC"


def normalize_transcript(text: str) -> str | None:
    """Normalise one transcript to CJK characters only, or None if it cannot be read as Mandarin."""
    text = unicodedata.normalize("NFKC", text).translate(_DIGITS)
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
