"""Output units of the acoustic model: one class per kind, chosen by the ``lang`` config section
(``units: ...``). Everything that differs between kinds lives here; callers ask the class.

- ``tonal_pinyin`` (the default, ASRT's): one tonal syllable per character, ``lv4``, ``ma5``.
- ``toneless_pinyin``: the same syllables without their tone digit, ``lv``, ``ma``.
- ``chars``: the characters of the training transcripts.
- ``bpe``: sentencepiece BPE pieces trained on the training transcripts (``bpe_vocab_size`` pieces,
  ``bpe.model`` in the lang directory): single characters and frequent character sequences, with
  UTF-8 byte pieces (``<0xE4>``) for characters left out of the vocabulary.

What a kind decides: its lang directory's name, its tokens and lexicon (stage 2), the labels of a
transcript (training targets), the text a unit sequence spells, and how greedy CTC output is scored
(PER over syllables for pinyin, CER over the characters spelt otherwise).

Stage 2 writes ``units.json`` into the lang directory, and the packaged model carries it, so every
later step (training labels, decoding, scoring, recognition) reads the units from there; a lang or model
directory without it is tonal pinyin (all those made before units were configurable).
"""
from __future__ import annotations

import io
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Mapping

from asrt.config import Section
from asrt.fileio import atomic_path, write_text_atomic
from asrt.names import BPE_MODEL_FILE, LANG_DIR, UNITS_FILE
from asrt.text.normalize import char_tokens
from asrt.text.pinyin import char_readings, strip_tone, syllable_inventory


@dataclass(frozen=True)
class LangText:
    """What stage 2 builds a lang directory from: the training transcripts, the characters of the LM
    text that have a reading, the (character, syllable) pairs the training labels use, and the LM text
    in the LM's words (characters, or jieba words for ``lm.unit: word``)."""

    train_text: list[str]
    lm_chars: set[str]
    label_pairs: set[tuple[str, str]]
    lm_sentences: list[list[str]] = field(default_factory=list)

    @property
    def lm_words(self) -> set[str]:
        """The LM text's words of several characters, all of which have a reading."""
        return {w for ws in self.lm_sentences for w in ws if len(w) > 1 and set(w) <= self.lm_chars}

    @property
    def train_chars(self) -> set[str]:
        """Every character of the training transcripts."""
        return {c for t in self.train_text for c in t}


@dataclass(frozen=True)
class LangSpec:
    """A kind's lang directory contents: its units, tokens (without the blank), lexicon entries
    (``(word, "unit unit ...")``), extra facts for ``units.json`` and the pronunciation costs of the
    entries that have one (``-ln(p / p_max)``, Kaldi's ``lexiconp.txt``; entries without cost 0)."""

    units: "Units"
    tokens: list[str]
    lexicon: list[tuple[str, str]]
    facts: dict
    costs: dict[tuple[str, str], float] = field(default_factory=dict)


class Units:
    """One kind of output unit. Subclasses set the class attributes and override what differs."""

    name: ClassVar[str]
    description: ClassVar[str]  # how summaries name the units
    is_pinyin: ClassVar[bool] = False  # greedy output is pinyin (PER, /language); else it spells characters
    has_tones: ClassVar[bool] = False  # labels carry tone digits (tone analysis applies)
    skips_unseen: ClassVar[bool] = False  # targets leave out labels without a token instead of failing
    token_error_name: ClassVar[str]  # what the error rate over these tokens is called (training log)
    greedy_metric: ClassVar[str] = "CER"  # how greedy CTC output is scored (see greedy_scoring)
    greedy_report: ClassVar[str] = "greedy_char"  # the name of its score report

    @classmethod
    def check_config(cls, cfg: dict) -> None:
        """Raise ValueError for settings of the ``lang`` section this kind cannot use."""

    @classmethod
    def dir_name(cls, cfg: dict) -> str:
        """The lang directory's name under the data directory (``lang_<units>``)."""
        return f"lang_{cls.name}"

    @classmethod
    def build_lang(cls, lang_dir: Path, cfg: dict, text: LangText) -> LangSpec:
        """This kind's tokens and lexicon for ``text`` (writing any model it needs into ``lang_dir``)."""
        raise NotImplementedError

    @staticmethod
    def from_dir(directory: str | os.PathLike) -> "Units":
        """The units of a lang directory or packaged model (tonal pinyin when it has no ``units.json``)."""
        path = Path(directory) / UNITS_FILE
        if not path.is_file():
            return TonalPinyin()
        name = json.loads(path.read_text(encoding="utf-8"))["units"]
        kind = unit_type(name)
        return Bpe(Path(directory) / BPE_MODEL_FILE) if kind is Bpe else kind()

    def write(self, directory: str | os.PathLike, **facts) -> None:
        """Record these units in ``directory/units.json`` (with ``facts`` such as the vocabulary size)."""
        write_text_atomic(Path(directory) / UNITS_FILE, json.dumps({"units": self.name, **facts}, indent=2) + "\n")

    def labels(self, text: str, pinyin: str | None = None) -> list[str]:
        """The units of a labelled transcript: ``text`` (characters) and its tonal ``pinyin`` (space-separated)."""
        raise NotImplementedError

    def supervision_labels(self, sup) -> list[str]:
        """The units of a labelled lhotse supervision (stage 2's ``text`` and ``custom["pinyin"]``)."""
        return self.labels(sup.text, (sup.custom or {}).get("pinyin"))

    def to_text(self, units: list[str]) -> str | None:
        """The characters a unit sequence spells, or None for pinyin (which needs the LM to become text)."""
        return None

    def greedy_scoring(self, sup, hyp: list[str]) -> tuple[list[str], list[str]]:
        """(reference, hypothesis) tokens on which greedy CTC output ``hyp`` is scored: the units
        themselves for pinyin (PER), else the characters they spell (CER)."""
        return char_tokens(sup.text), char_tokens(self.to_text(hyp))

    @property
    def greedy_description(self) -> str:
        """What the greedy score is computed over, for summaries."""
        return f"{self.description} as characters"

    def model_label(self, model_name: str) -> str:
        """How RESULTS.md names a model of these units: the units beside the model's name."""
        return f"{model_name} ({self.name})"


class Pinyin(Units):
    """Pinyin syllables: greedy output is scored as PER over the units themselves."""

    is_pinyin, token_error_name, greedy_metric, greedy_report = True, "PER", "PER", "greedy_pinyin"

    @property
    def greedy_description(self) -> str:
        return self.description

    def greedy_scoring(self, sup, hyp: list[str]) -> tuple[list[str], list[str]]:
        return self.supervision_labels(sup), hyp


class TonalPinyin(Pinyin):
    """ASRT's tonal syllables; the lexicon has every reading of every LM character."""

    name, description, has_tones = "tonal_pinyin", "tonal pinyin", True

    @classmethod
    def dir_name(cls, cfg: dict) -> str:
        return LANG_DIR  # as before units were configurable

    @classmethod
    def build_lang(cls, lang_dir: Path, cfg: dict, text: LangText) -> LangSpec:
        costs = pinyin_lexicon(text, float(cfg["pron_pseudo_count"]))
        return LangSpec(cls(), list(syllable_inventory()), list(costs), {}, costs)

    def labels(self, text: str, pinyin: str | None = None) -> list[str]:
        return (pinyin or "").split()

    def model_label(self, model_name: str) -> str:
        return model_name  # the default units go unnamed


class TonelessPinyin(Pinyin):
    """The tonal syllables without their tones; PER is scored over toneless syllables."""

    name, description = "toneless_pinyin", "toneless pinyin, tones not scored"

    @classmethod
    def build_lang(cls, lang_dir: Path, cfg: dict, text: LangText) -> LangSpec:
        costs = pinyin_lexicon(text, float(cfg["pron_pseudo_count"]), toneless=True)
        return LangSpec(cls(), toneless_inventory(), list(costs), {}, costs)

    def labels(self, text: str, pinyin: str | None = None) -> list[str]:
        return [strip_tone(s) for s in (pinyin or "").split()]


class Chars(Units):
    """The characters of the training transcripts; HLG's L maps each to itself."""

    name, description, skips_unseen, token_error_name = "chars", "characters", True, "CER"

    @classmethod
    def build_lang(cls, lang_dir: Path, cfg: dict, text: LangText) -> LangSpec:
        tokens = sorted(text.train_chars)
        return LangSpec(cls(), tokens, [(c, c) for c in sorted(text.lm_chars & set(tokens))], {})

    def labels(self, text: str, pinyin: str | None = None) -> list[str]:
        return list(text)

    def to_text(self, units: list[str]) -> str:
        return "".join(units)


class Bpe(Units):
    """sentencepiece BPE pieces (``bpe.model`` in the lang directory)."""

    name, description, token_error_name = "bpe", "sentencepiece BPE pieces", "BPE piece error rate"

    def __init__(self, bpe_model: str | os.PathLike) -> None:
        import sentencepiece

        if not Path(bpe_model).is_file():
            raise FileNotFoundError(f"{bpe_model} not found: sentencepiece units need the lang stage's {BPE_MODEL_FILE}")
        self.sp = sentencepiece.SentencePieceProcessor(model_file=str(bpe_model))

    @classmethod
    def check_config(cls, cfg: dict) -> None:
        if int(cfg["bpe_vocab_size"]) < 2:
            raise ValueError(f"lang.bpe_vocab_size must be at least 2, got {cfg['bpe_vocab_size']}")
        if not 0.98 <= float(cfg["bpe_character_coverage"]) <= 1:  # sentencepiece's own limits
            raise ValueError(f"lang.bpe_character_coverage must be in [0.98, 1], got {cfg['bpe_character_coverage']}")

    @classmethod
    def dir_name(cls, cfg: dict) -> str:
        return f"lang_bpe{int(cfg['bpe_vocab_size'])}"

    @classmethod
    def build_lang(cls, lang_dir: Path, cfg: dict, text: LangText) -> LangSpec:
        size, coverage = int(cfg["bpe_vocab_size"]), float(cfg["bpe_character_coverage"])
        units = train_bpe(lang_dir, text.train_text, size, coverage)
        pieces = units.pieces()
        return LangSpec(units, pieces, units.lexicon(text.lm_chars & text.train_chars, pieces),
                        {"bpe_vocab_size": size, "bpe_character_coverage": coverage})

    def labels(self, text: str, pinyin: str | None = None) -> list[str]:
        return self.sp.encode(text, out_type=str)

    def to_text(self, units: list[str]) -> str:
        return self.sp.decode(units)

    def pieces(self) -> list[str]:
        """The pieces a transcript can be spelt in (not ``<unk>`` or control pieces)."""
        sp = self.sp
        return [sp.id_to_piece(i) for i in range(sp.get_piece_size()) if not (sp.is_unknown(i) or sp.is_control(i))]

    def lexicon(self, characters: set[str], pieces: list[str]) -> list[tuple[str, str]]:
        """Each character spelt in pieces (as icefall's prepare_lang_bpe spells each word), then each piece
        of several characters as itself: the LM's words are characters, so without those entries HLG could
        never take a piece that spans characters."""
        entries = [(ch, " ".join(self.sp.encode(ch, out_type=str))) for ch in sorted(characters)]
        entries += [(p, p) for p in pieces if len(p) > 1 and not p.startswith("<0x") and "\u2581" not in p]
        return entries


UNIT_TYPES: dict[str, type[Units]] = {k.name: k for k in (TonalPinyin, TonelessPinyin, Chars, Bpe)}
DEFAULT_UNITS = TonalPinyin.name


def lm_unit_of(lang_dir: str | os.PathLike) -> str:
    """What the LM text of a lang directory is written in, ``char`` or ``word`` (``char`` when its
    ``units.json`` is older than the word LM)."""
    path = Path(lang_dir) / UNITS_FILE
    return json.loads(path.read_text(encoding="utf-8")).get("lm_unit", "char") if path.is_file() else "char"


def unit_type(name: str) -> type[Units]:
    """The class of the units called ``name``; ValueError naming the known ones otherwise."""
    try:
        return UNIT_TYPES[name]
    except KeyError:
        raise ValueError(f"lang.units must be one of {', '.join(UNIT_TYPES)}, not {name!r}") from None


def check_lang_config(lang_cfg: Mapping) -> Section:
    """The ``lang`` config section, checked; ValueError for an unknown unit or a bad setting."""
    cfg = Section("lang", lang_cfg)
    unit_type(cfg["units"]).check_config(cfg)
    return cfg


def lang_dir_name(lang_cfg: Mapping) -> str:
    """The lang directory's name under the data directory: ``lang`` for tonal pinyin (as before units
    were configurable), else ``lang_<units>`` (``lang_bpe<size>`` for sentencepiece), so each unit keeps
    its own tokens, lexicon and graph beside the shared manifests, features and LM."""
    cfg = check_lang_config(lang_cfg)
    return unit_type(cfg["units"]).dir_name(cfg)


def toneless_inventory() -> list[str]:
    """Every syllable of the tonal inventory without its tone, sorted: the toneless-pinyin tokens."""
    return sorted({strip_tone(s) for s in syllable_inventory()})


def pinyin_lexicon(text: LangText, pseudo_count: float, toneless: bool = False) -> dict[tuple[str, str], float]:
    """The pinyin lexicon with pronunciation costs (:mod:`asrt.text.words`): every LM character with every
    dictionary reading and every reading the training labels give it (个 ``ge5`` in 这个), and every LM
    word of several characters with its readings; each costed by how often the LM text is read that way
    in context. Without tones, readings that differ only in tone are merged (their counts summed)."""
    from asrt.text.words import count_readings, dictionary_readings, pronunciation_costs

    counts = count_readings(text.lm_sentences)
    extra = {ch: list(char_readings(ch)) for ch in text.lm_chars}
    for ch, syl in sorted(text.label_pairs):
        if ch in extra and syl not in extra[ch]:
            extra[ch].append(syl)
    for word in text.lm_words:
        extra[word] = dictionary_readings(word)
    lexicon = {}
    for word in sorted(extra):
        seen, others = counts.get(word, Counter()), extra[word]
        if toneless:
            merged: Counter = Counter()
            for reading, count in seen.items():
                merged[_toneless(reading)] += count
            seen, others = merged, [_toneless(r) for r in others]
        for reading, cost in pronunciation_costs(seen, others, pseudo_count).items():
            lexicon[(word, reading)] = cost
    return lexicon


def _toneless(reading: str) -> str:
    return " ".join(strip_tone(s) for s in reading.split())


def train_bpe(lang_dir: Path, sentences: list[str], vocab_size: int, character_coverage: float = 1.0) -> Bpe:
    """Train sentencepiece BPE on ``sentences`` into ``lang_dir/bpe.model``; return the units.

    The text is characters without spaces, and pieces carry no word-start mark (``add_dummy_prefix``
    off), so a piece is just a character string and any character sequence can be spelt in pieces.
    Characters outside the vocabulary (below ``character_coverage``) are spelt as UTF-8 byte pieces
    (``byte_fallback``), so nothing becomes ``<unk>``.
    """
    import sentencepiece

    model = io.BytesIO()  # sentencepiece reads the sentences and writes the model in memory: no temporary files
    try:
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences), model_writer=model, model_type="bpe", vocab_size=vocab_size,
            character_coverage=character_coverage, byte_fallback=True, add_dummy_prefix=False,
            hard_vocab_limit=False,  # a small text may not have vocab_size pieces' worth of merges
            normalization_rule_name="identity", bos_id=-1, eos_id=-1, unk_id=0, num_threads=1,
            max_sentence_length=100000, minloglevel=2)
    except RuntimeError as e:
        raise ValueError(f"sentencepiece could not train {vocab_size} pieces on the training text ({e}); "
                         "change lang.bpe_vocab_size or lower lang.bpe_character_coverage") from None
    with atomic_path(Path(lang_dir) / BPE_MODEL_FILE) as out:
        out.write_bytes(model.getvalue())
    return Bpe(Path(lang_dir) / BPE_MODEL_FILE)
