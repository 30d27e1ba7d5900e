"""Output units of the acoustic model, chosen by the ``lang`` config section (``units: ...``).

- ``tonal_pinyin`` (the default, ASRT's): one tonal syllable per character, ``lv4``, ``ma5``.
- ``toneless_pinyin``: the same syllables without their tone digit, ``lv``, ``ma``.
- ``chars``: the characters of the training transcripts.
- ``bpe``: sentencepiece BPE pieces trained on the training transcripts (``bpe_vocab_size`` pieces,
  ``bpe.model`` in the lang directory): single characters and frequent character sequences, with
  UTF-8 byte pieces (``<0xE4>``) for characters left out of the vocabulary.

Stage 2 writes ``units.json`` into the lang directory, and the packaged model carries it, so every
later step (training labels, decoding, scoring, recognition) reads the units from there; a lang or model
directory without it is tonal pinyin (all those made before units were configurable).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from asrt.fileio import write_text_atomic
from asrt.pinyin import strip_tone

UNITS = ("tonal_pinyin", "toneless_pinyin", "chars", "bpe")
DEFAULT_UNITS = "tonal_pinyin"
PINYIN_UNITS = ("tonal_pinyin", "toneless_pinyin")
UNITS_FILE = "units.json"
BPE_MODEL = "bpe.model"


def check_lang_config(lang_cfg: dict | None) -> dict:
    """The ``lang`` config section with its defaults; ValueError for an unknown unit or a bad size."""
    cfg = {"units": DEFAULT_UNITS, "bpe_vocab_size": 5000, "bpe_character_coverage": 1.0, **(lang_cfg or {})}
    if cfg["units"] not in UNITS:
        raise ValueError(f"lang.units must be one of {', '.join(UNITS)}, not {cfg['units']!r}")
    if cfg["units"] == "bpe":
        if int(cfg["bpe_vocab_size"]) < 2:
            raise ValueError(f"lang.bpe_vocab_size must be at least 2, got {cfg['bpe_vocab_size']}")
        if not 0.98 <= float(cfg["bpe_character_coverage"]) <= 1:  # sentencepiece's own limits
            raise ValueError(f"lang.bpe_character_coverage must be in [0.98, 1], got {cfg['bpe_character_coverage']}")
    return cfg


def lang_dir_name(lang_cfg: dict | None) -> str:
    """The lang directory's name under the data directory: ``lang`` for tonal pinyin (as before units
    were configurable), else ``lang_<units>`` (``lang_bpe<size>`` for sentencepiece), so each unit keeps
    its own tokens, lexicon and graph beside the shared manifests, features and LM."""
    cfg = check_lang_config(lang_cfg)
    if cfg["units"] == DEFAULT_UNITS:
        return "lang"
    if cfg["units"] == "bpe":
        return f"lang_bpe{int(cfg['bpe_vocab_size'])}"
    return f"lang_{cfg['units']}"


class Units:
    """One kind of output unit: the labels of a supervision, and the text of a unit sequence."""

    def __init__(self, name: str = DEFAULT_UNITS, bpe_model: str | os.PathLike | None = None) -> None:
        if name not in UNITS:
            raise ValueError(f"unknown output units {name!r}; known: {', '.join(UNITS)}")
        self.name = name
        self.sp = None
        if name == "bpe":
            import sentencepiece

            if bpe_model is None or not Path(bpe_model).is_file():
                raise FileNotFoundError(f"{bpe_model} not found: sentencepiece units need the lang stage's {BPE_MODEL}")
            self.sp = sentencepiece.SentencePieceProcessor(model_file=str(bpe_model))

    @classmethod
    def from_dir(cls, directory: str | os.PathLike) -> "Units":
        """The units of a lang directory or packaged model (tonal pinyin when it has no ``units.json``)."""
        path = Path(directory) / UNITS_FILE
        if not path.is_file():
            return cls()
        name = json.loads(path.read_text(encoding="utf-8"))["units"]
        return cls(name, Path(directory) / BPE_MODEL if name == "bpe" else None)

    def write(self, directory: str | os.PathLike, **extra) -> None:
        """Record these units in ``directory/units.json`` (with ``extra`` facts such as the vocabulary size)."""
        write_text_atomic(Path(directory) / UNITS_FILE, json.dumps({"units": self.name, **extra}, indent=2) + "\n")

    @property
    def is_pinyin(self) -> bool:
        """True when the units are pinyin syllables (tonal or toneless), so a PER can be scored."""
        return self.name in PINYIN_UNITS

    @property
    def description(self) -> str:
        """How summaries name the units (``tonal pinyin``, ``toneless pinyin``, ...)."""
        return {"tonal_pinyin": "tonal pinyin", "toneless_pinyin": "toneless pinyin, tones not scored",
                "chars": "characters", "bpe": "sentencepiece BPE pieces"}[self.name]

    def labels(self, text: str, pinyin: str | None = None) -> list[str]:
        """The units of a labelled transcript: ``text`` (characters) and its tonal ``pinyin`` (space-separated)."""
        if self.name == "tonal_pinyin":
            return (pinyin or "").split()
        if self.name == "toneless_pinyin":
            return [strip_tone(s) for s in (pinyin or "").split()]
        if self.name == "chars":
            return list(text)
        return self.sp.encode(text, out_type=str)

    def supervision_labels(self, sup) -> list[str]:
        """The units of a labelled lhotse supervision (stage 2's ``text`` and ``custom["pinyin"]``)."""
        return self.labels(sup.text, (sup.custom or {}).get("pinyin"))

    def to_text(self, units: list[str]) -> str | None:
        """The characters a unit sequence spells, or None for pinyin (which needs the LM to become text)."""
        if self.is_pinyin:
            return None
        if self.name == "chars":
            return "".join(units)
        return self.sp.decode(units)

