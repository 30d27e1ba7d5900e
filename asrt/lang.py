"""Stage 2: transcripts to labels, and the lang directory (tokens, lexicon, LM text) of the output units.

- Supervisions get a normalised character transcript (``text``) and tonal pinyin (``custom["pinyin"]``):
  the corpus's own pinyin when it has one (THCHS-30, mini_cmn), else pypinyin's reading in context.
  Whatever the units, these are the labels; training derives its targets from them (:mod:`asrt.units`).
- ``lm_text.txt``: LM training text, one sentence per line, characters separated by spaces: the LM's
  words are characters for every unit.
- ``units.json``: which units (the ``lang`` config section; :mod:`asrt.units`).
- ``tokens.txt`` (``<blk> 0`` first) and ``lexicon.txt`` (``WORD UNIT ...``, words being LM characters):

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
from dataclasses import replace
from pathlib import Path

from asrt.fileio import atomic_path, write_symbol_table, write_text_atomic
from asrt.pinyin import (char_readings, normalize_syllable, strip_tone, syllable_inventory, syllable_set,
                         text_to_pinyin)
from asrt.text import normalize_transcript
from asrt.units import BPE_MODEL, DEFAULT_UNITS, Units, check_lang_config

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


def write_tokens(lang_dir: Path, units: list[str] | tuple[str, ...] | None = None) -> list[str]:
    """Write ``tokens.txt`` (blank first, then ``units``, by default the tonal syllable inventory) and
    return the token list."""
    tokens = [BLANK, *(syllable_inventory() if units is None else units)]
    write_symbol_table(Path(lang_dir) / "tokens.txt", tokens)
    return tokens


def toneless_inventory() -> list[str]:
    """Every syllable of the tonal inventory without its tone, sorted: the toneless-pinyin tokens."""
    return sorted({strip_tone(s) for s in syllable_inventory()})


def pinyin_lexicon(characters: set[str], label_pairs: set[tuple[str, str]] = frozenset(),
                   toneless: bool = False) -> list[tuple[str, str]]:
    """Every dictionary reading of every character, plus the (character, syllable) pairs the training
    labels use (context readings such as 个 ``ge5`` in 这个); without tones (duplicates merged) if asked."""
    readings = {ch: list(char_readings(ch)) for ch in characters}
    for ch, syl in sorted(label_pairs):
        if ch in readings and syl not in readings[ch]:
            readings[ch].append(syl)
    if toneless:
        readings = {ch: list(dict.fromkeys(strip_tone(r) for r in rs)) for ch, rs in readings.items()}
    return [(ch, r) for ch in sorted(readings) for r in readings[ch]]


def write_lexicon_entries(lang_dir: Path, entries: list[tuple[str, str]]) -> int:
    """Write ``lexicon.txt`` (``WORD UNIT UNIT ...`` per line) and return the entry count."""
    write_text_atomic(Path(lang_dir) / "lexicon.txt", "".join(f"{w} {p}\n" for w, p in entries))
    return len(entries)


def write_lexicon(lang_dir: Path, characters: set[str], label_pairs: set[tuple[str, str]] = frozenset()) -> int:
    """Write the tonal-pinyin ``lexicon.txt`` of ``characters`` (see :func:`pinyin_lexicon`); return the
    entry count."""
    return write_lexicon_entries(lang_dir, pinyin_lexicon(characters, label_pairs))


def train_bpe(lang_dir: Path, sentences: list[str], vocab_size: int, character_coverage: float = 1.0) -> Units:
    """Train sentencepiece BPE on ``sentences`` into ``lang_dir/bpe.model``; return the units.

    The text is characters without spaces, and pieces carry no word-start mark (``add_dummy_prefix``
    off), so a piece is just a character string and any character sequence can be spelt in pieces.
    Characters outside the vocabulary (below ``character_coverage``) are spelt as UTF-8 byte pieces
    (``byte_fallback``), so nothing becomes ``<unk>``.
    """
    import tempfile

    import sentencepiece

    with tempfile.TemporaryDirectory(prefix="asrt-bpe-") as tmp:
        text = Path(tmp) / "text.txt"
        text.write_text("".join(s + "\n" for s in sentences), encoding="utf-8")
        try:
            sentencepiece.SentencePieceTrainer.train(
                input=str(text), model_prefix=str(Path(tmp) / "bpe"), model_type="bpe", vocab_size=vocab_size,
                character_coverage=character_coverage, byte_fallback=True, add_dummy_prefix=False,
                hard_vocab_limit=False,  # a small text may not have vocab_size pieces' worth of merges
                normalization_rule_name="identity", bos_id=-1, eos_id=-1, unk_id=0, num_threads=1,
                max_sentence_length=100000, minloglevel=2)
        except RuntimeError as e:
            raise ValueError(f"sentencepiece could not train {vocab_size} pieces on the training text ({e}); "
                             "change lang.bpe_vocab_size or lower lang.bpe_character_coverage") from None
        with atomic_path(Path(lang_dir) / BPE_MODEL) as out:
            out.write_bytes((Path(tmp) / "bpe.model").read_bytes())
    return Units("bpe", Path(lang_dir) / BPE_MODEL)


def bpe_pieces(units: Units) -> list[str]:
    """The pieces of a sentencepiece model that a transcript can be spelt in (not ``<unk>`` or control)."""
    sp = units.sp
    return [sp.id_to_piece(i) for i in range(sp.get_piece_size())
            if not (sp.is_unknown(i) or sp.is_control(i))]


def bpe_lexicon(units: Units, characters: set[str], pieces: list[str]) -> list[tuple[str, str]]:
    """Each character spelt in pieces (as icefall's prepare_lang_bpe spells each word), then each piece
    of several characters as itself: the LM's words are characters, so without those entries HLG could
    never take a piece that spans characters."""
    entries = [(ch, " ".join(units.sp.encode(ch, out_type=str))) for ch in sorted(characters)]
    entries += [(p, p) for p in pieces if len(p) > 1 and not p.startswith("<0x") and "\u2581" not in p]
    return entries


def write_lm_text(lang_dir: Path, sentences: list[str]) -> set[str]:
    """Write ``lm_text.txt`` (space-separated characters) and return the set of characters used."""
    chars: set[str] = set()
    lines = []
    for s in sentences:
        chars.update(s)
        lines.append(" ".join(s) + "\n")
    write_text_atomic(Path(lang_dir) / "lm_text.txt", "".join(lines))
    return chars


def prepare_lang(lang_dir: Path, train_supervisions: Path | list[Path], extra_text: list[Path] = (),
                 lang_cfg: dict | None = None) -> None:
    """Build the lang directory of the units ``lang_cfg`` names (tonal pinyin by default) from the
    training transcripts (one manifest or several) plus any extra (normalisable) text for the LM."""
    from lhotse import load_manifest

    cfg = check_lang_config(lang_cfg)
    lang_dir = Path(lang_dir)
    paths = [train_supervisions] if isinstance(train_supervisions, (str, Path)) else list(train_supervisions)
    supervisions = [s for path in paths for s in load_manifest(path)]
    train_text = [s.text for s in supervisions]
    sentences = list(train_text)
    label_pairs = {pair for s in supervisions for pair in zip(s.text, s.custom["pinyin"].split())}
    for path in extra_text:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            norm = normalize_transcript(line)
            if norm:
                sentences.append(norm)
    chars = {c for c in write_lm_text(lang_dir, sentences) if char_readings(c)}
    name = cfg["units"]
    extra = {}
    if name in ("tonal_pinyin", "toneless_pinyin"):
        toneless = name == "toneless_pinyin"
        tokens = write_tokens(lang_dir, toneless_inventory() if toneless else None)
        entries = pinyin_lexicon(chars, label_pairs, toneless)
        units = Units(name)
    elif name == "chars":
        tokens = write_tokens(lang_dir, sorted({c for t in train_text for c in t}))
        entries = [(c, c) for c in sorted(chars & set(tokens))]
        units = Units(name)
    else:
        units = train_bpe(lang_dir, train_text, int(cfg["bpe_vocab_size"]), float(cfg["bpe_character_coverage"]))
        pieces = bpe_pieces(units)
        tokens = write_tokens(lang_dir, pieces)
        entries = bpe_lexicon(units, chars & {c for t in train_text for c in t}, pieces)
        extra = {"bpe_vocab_size": int(cfg["bpe_vocab_size"]),
                 "bpe_character_coverage": float(cfg["bpe_character_coverage"])}
    n = write_lexicon_entries(lang_dir, entries)
    units.write(lang_dir, **extra)
    logging.info("lang (%s): %d sentences of LM text, %d characters, %d tokens, %d lexicon entries",
                 name if name != DEFAULT_UNITS else "tonal pinyin", len(sentences), len(chars), len(tokens), n)
