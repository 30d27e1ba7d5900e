"""Stage 2: transcripts to labels, and the lang directory (tokens, lexicon, LM text) of the output units.

- Supervisions get a normalised character transcript (``text``) and tonal pinyin (``custom["pinyin"]``):
  the corpus's own pinyin when it has one (THCHS-30, mini_cmn), else pypinyin's reading in context.
  Whatever the units, these are the labels; training derives its targets from them (:mod:`asrt.lang.units`).
- ``lm_text.txt``: LM training text, one sentence per line, its words separated by spaces: characters
  (``lm.unit: char``) or jieba's words (``lm.unit: word``, pinyin units only; :mod:`asrt.text.words`).
- ``units.json``: which units (the ``lang`` config section; :mod:`asrt.lang.units`).
- ``tokens.txt`` (``<blk> 0`` first) and ``lexicon.txt`` (``WORD UNIT ...``; for pinyin also Kaldi's
  ``lexiconp.txt``, ``WORD PROB UNIT ...``, with pronunciation probabilities). Every LM character is a word
  of the lexicon, so a word the LM lacks can still be spelt; with a word LM, its words of several
  characters are there too, with their readings:

  ============== =================================================== ==========================================
  units          tokens                                              lexicon
  ============== =================================================== ==========================================
  tonal_pinyin   every toneful syllable any character can be read   every reading of every LM character
                 as, so the same for every corpus                    (``行 xing2``, ``行 hang2``)
  toneless       those syllables without tones                       the same readings without tones
  chars          the characters of the training transcripts          ``行 行``: one line per token character
  bpe            sentencepiece's pieces (``bpe.model``) trained on   each character of the training text
                 the training transcripts, byte pieces included      spelt in pieces (``鑫 <0xE9> <0x91> <0xAB>``
                                                                     when it has no piece of its own), and each
                                                                     piece of several characters as itself
                                                                     (``中国 中国``): HLG writes its characters
  ============== =================================================== ==========================================

For characters and pieces, HLG can only write characters of the training text (the model has never
heard the others); pinyin's lexicon has every LM character, since its syllables are shared.
"""
from __future__ import annotations

import logging
import math
from dataclasses import replace
from pathlib import Path
from typing import Mapping

from asrt.fileio import atomic_path, write_symbol_table, write_text_atomic
from asrt.lang.units import LangText, check_lang_config, unit_type
from asrt.names import BLANK, LEXICON_FILE, LEXICONP_FILE, LM_TEXT_FILE, TOKENS_FILE
from asrt.text.normalize import normalize_transcript
from asrt.text.pinyin import char_readings, normalize_syllable, syllable_set, text_to_pinyin
from asrt.text.words import segment

LM_UNITS = ("char", "word")


def check_lm_unit(lm_unit: str, pinyin_units: bool) -> None:
    """ValueError unless ``lm_unit`` (the ``lm.unit`` setting) is known and fits the output units."""
    if lm_unit not in LM_UNITS:
        raise ValueError(f"lm.unit must be one of {', '.join(LM_UNITS)}, not {lm_unit!r}")
    if lm_unit == "word" and not pinyin_units:
        raise ValueError("lm.unit: word needs pinyin units (lang.units tonal_pinyin or toneless_pinyin); "
                         "characters and BPE pieces decode with lm.unit: char")


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
    from tqdm import tqdm

    kept, dropped = [], 0
    sups = load_manifest(in_path)
    for sup in tqdm(sups, total=len(sups), desc=f"labelling {Path(in_path).name}", unit="sup", disable=None,
                    mininterval=2.0):
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


def write_tokens(lang_dir: Path, units: list[str]) -> list[str]:
    """Write ``tokens.txt`` (the blank first, then ``units``) and return the token list."""
    tokens = [BLANK, *units]
    write_symbol_table(Path(lang_dir) / TOKENS_FILE, tokens)
    return tokens


def write_lexicon_entries(lang_dir: Path, entries: list[tuple[str, str]],
                          costs: dict[tuple[str, str], float] | None = None) -> int:
    """Write ``lexicon.txt`` (``WORD UNIT UNIT ...`` per line), and ``lexiconp.txt`` (``WORD PROB UNIT ...``)
    when there are pronunciation ``costs`` (``-ln`` of the probability); return the entry count."""
    write_text_atomic(Path(lang_dir) / LEXICON_FILE, "".join(f"{w} {p}\n" for w, p in entries))
    lexiconp = Path(lang_dir) / LEXICONP_FILE
    if costs:
        write_text_atomic(lexiconp, "".join(f"{w} {math.exp(-costs[w, p]):.6g} {p}\n" for w, p in entries))
    else:
        lexiconp.unlink(missing_ok=True)
    return len(entries)


def write_lm_text(lang_dir: Path, sentences: list[list[str]]) -> None:
    """Write ``lm_text.txt``: each sentence's words separated by spaces."""
    write_text_atomic(Path(lang_dir) / LM_TEXT_FILE, "".join(" ".join(words) + "\n" for words in sentences))


def prepare_lang(lang_dir: Path, train_supervisions: Path | list[Path], extra_text: list[Path],
                 lang_cfg: Mapping, lm_unit: str) -> None:
    """Build the lang directory of the units ``lang_cfg`` names from the
    training transcripts (one manifest or several) plus any extra (normalisable) text for the LM:
    LM text in ``lm_unit``s, tokens, lexicon, ``units.json``, then the graph's words and disambiguation
    symbols."""
    from lhotse import load_manifest
    from tqdm import tqdm

    from asrt.lang.disambig import write_disambig_lang

    cfg = check_lang_config(lang_cfg)
    kind = unit_type(cfg["units"])
    check_lm_unit(lm_unit, kind.is_pinyin)
    lang_dir = Path(lang_dir)
    paths = [train_supervisions] if isinstance(train_supervisions, (str, Path)) else list(train_supervisions)
    supervisions = [s for path in paths for s in load_manifest(path)]
    sentences = [s.text for s in supervisions]
    label_pairs = {pair for s in supervisions for pair in zip(s.text, s.custom["pinyin"].split())}
    for path in extra_text:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            norm = normalize_transcript(line)
            if norm:
                sentences.append(norm)
    if lm_unit == "word":
        segmented = [segment(s) for s in tqdm(sentences, desc="jieba", unit="sentence", mininterval=5, disable=None)]
    else:
        segmented = [list(s) for s in sentences]
    write_lm_text(lang_dir, segmented)
    chars = {c for s in sentences for c in s if char_readings(c)}
    text = LangText([s.text for s in supervisions], chars, label_pairs, segmented)
    spec = kind.build_lang(lang_dir, cfg, text)
    tokens = write_tokens(lang_dir, spec.tokens)
    n = write_lexicon_entries(lang_dir, spec.lexicon, spec.costs)
    spec.units.write(lang_dir, lm_unit=lm_unit, **spec.facts)
    logging.info("lang (%s, %s LM): %d sentences of LM text, %d characters, %d tokens, %d lexicon entries",
                 spec.units.description, lm_unit, len(sentences), len(chars), len(tokens), n)
    write_disambig_lang(lang_dir)
