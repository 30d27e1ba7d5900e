"""Stage 2: transcripts to labels, and the lang directory (tokens, lexicon, LM text).

- Supervisions get a normalised character transcript (``text``) and tonal pinyin (``custom["pinyin"]``):
  the corpus's own pinyin when it has one (THCHS-30, mini_cmn), else pypinyin's reading in context.
- ``tokens.txt``: ``<blk> 0`` and every toneful syllable any character can be read as, so the token set
  is the same for every corpus and models can be compared or fine-tuned across corpora.
- ``lexicon.txt``: every character of the LM text with every reading (polyphones get one line each).
- ``lm_text.txt``: LM training text, one sentence per line, characters separated by spaces.
"""
from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from asrt.fileio import atomic_path, write_symbol_table, write_text_atomic
from asrt.pinyin import char_readings, normalize_syllable, syllable_inventory, syllable_set, text_to_pinyin
from asrt.text import normalize_transcript

BLANK = "<blk>"


def label_supervision(sup):
    """Return ``sup`` with normalised text and pinyin labels, or None when it cannot be labelled."""
    text = normalize_transcript(sup.text or "")
    if text is None:
        return None
    given = (sup.custom or {}).get("pinyin")
    try:
        pinyin = [normalize_syllable(s) for s in given.split()] if given else text_to_pinyin(text)
    except ValueError:
        return None
    if len(pinyin) != len(text) or not set(pinyin) <= syllable_set():
        return None
    return replace(sup, text=text, custom=dict(sup.custom or {}, pinyin=" ".join(pinyin)))


def label_supervisions(in_path: Path, out_path: Path) -> tuple[int, int]:
    """Label a supervision manifest; return (kept, dropped) counts. Dropped ones cannot be read as Mandarin."""
    from lhotse import SupervisionSet, load_manifest

    kept, dropped = [], 0
    for sup in load_manifest(in_path):
        labelled = label_supervision(sup)
        if labelled is None:
            dropped += 1
        else:
            kept.append(labelled)
    if not kept:
        raise ValueError(f"no supervision in {in_path} has a Mandarin transcript; check the corpus text.")
    with atomic_path(out_path) as tmp:
        SupervisionSet.from_segments(kept).to_file(tmp)
    if dropped:
        logging.warning("%s: dropped %d of %d supervisions without a Mandarin reading", in_path, dropped, dropped + len(kept))
    return len(kept), dropped


def write_tokens(lang_dir: Path) -> list[str]:
    """Write ``tokens.txt`` (blank first, then the syllable inventory) and return the token list."""
    tokens = [BLANK, *syllable_inventory()]
    write_symbol_table(Path(lang_dir) / "tokens.txt", tokens)
    return tokens


def write_lexicon(lang_dir: Path, characters: set[str], label_pairs: set[tuple[str, str]] = frozenset()) -> int:
    """Write ``lexicon.txt``: every dictionary reading of every character, plus the (character, syllable)
    pairs the training labels use (context readings such as 个 ``ge5`` in 这个); return the entry count."""
    readings = {ch: list(char_readings(ch)) for ch in characters}
    for ch, syl in sorted(label_pairs):
        if ch in readings and syl not in readings[ch]:
            readings[ch].append(syl)
    lines = [f"{ch} {r}\n" for ch in sorted(readings) for r in readings[ch]]
    write_text_atomic(Path(lang_dir) / "lexicon.txt", "".join(lines))
    return len(lines)


def write_lm_text(lang_dir: Path, sentences: list[str]) -> set[str]:
    """Write ``lm_text.txt`` (space-separated characters) and return the set of characters used."""
    chars: set[str] = set()
    lines = []
    for s in sentences:
        chars.update(s)
        lines.append(" ".join(s) + "\n")
    write_text_atomic(Path(lang_dir) / "lm_text.txt", "".join(lines))
    return chars


def prepare_lang(lang_dir: Path, train_supervisions: Path | list[Path], extra_text: list[Path] = ()) -> None:
    """Build the lang directory from the training transcripts (one manifest or several) plus any extra
    (normalisable) text."""
    from lhotse import load_manifest

    paths = [train_supervisions] if isinstance(train_supervisions, (str, Path)) else list(train_supervisions)
    supervisions = [s for path in paths for s in load_manifest(path)]
    sentences = [s.text for s in supervisions]
    label_pairs = {pair for s in supervisions for pair in zip(s.text, s.custom["pinyin"].split())}
    for path in extra_text:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            norm = normalize_transcript(line)
            if norm:
                sentences.append(norm)
    chars = {c for c in write_lm_text(lang_dir, sentences) if char_readings(c)}
    write_tokens(lang_dir)
    n = write_lexicon(lang_dir, chars, label_pairs)
    logging.info("lang: %d sentences of LM text, %d characters, %d lexicon entries", len(sentences), len(chars), n)
