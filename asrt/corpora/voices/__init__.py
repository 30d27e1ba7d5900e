"""Voices that speak mini_cmn's utterances: one module per synthesiser behind one interface.

A voice speaks tonal pinyin (the label's syllables, ``ni3 hao3``) as a :class:`Speaker` at a speaking rate
and returns samples at its own rate; :mod:`asrt.corpora.mini_cmn` plans who says what and resamples, adds
rooms, noise and channels. Which voices a corpus uses, and in what shares, is ``synth.voices``.

=============  =====================================================  =====================================
voice          module                                                 installed by
=============  =====================================================  =====================================
``espeak-ng``  :mod:`~asrt.corpora.voices.espeak_ng` (formant synth)   ``utils/setup_env.sh`` (always)
``mbrola-cn1`` :mod:`~asrt.corpora.voices.mbrola` (diphones, human)    ``utils/setup_env.sh --voices mbrola-cn1``
=============  =====================================================  =====================================
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class Speaker:
    """One synthetic speaker: a voice set up one way. The voice reads ``variant``, ``pitch`` and
    ``range_percent`` in its own units (espeak-ng: variant file, ``-p`` 0-99, SSML prosody range; MBROLA:
    diphone database, base pitch in Hz, top pitch as percent above the base)."""

    voice: str
    variant: str
    pitch: int
    range_percent: int

    @property
    def name(self) -> str:
        """The speaker's name (a directory name; its hash picks the speaker's split)."""
        return f"{self.variant}-p{self.pitch}" if self.voice == ESPEAK_NG else \
            f"{self.variant}-p{self.pitch}-r{self.range_percent}"


class Voice(Protocol):
    """What every voice module offers (its module-level object ``VOICE``)."""

    name: str

    def check(self) -> None:
        """Raise RuntimeError with one sentence saying how to install the voice, if it cannot speak."""

    def speak(self, pinyin: str, speaker: Speaker, speed: int, spoken_sandhi: bool) -> tuple[np.ndarray, int]:
        """Samples (float32, mono or ``[n, channels]``) and their rate of ``pinyin`` said by ``speaker``."""


ESPEAK_NG = "espeak-ng"
MBROLA_CN1 = "mbrola-cn1"


def voice(name: str) -> Voice:
    """The voice called ``name``; ValueError naming the known voices for any other."""
    from asrt.corpora.voices import espeak_ng, mbrola

    voices = {ESPEAK_NG: espeak_ng.VOICE, MBROLA_CN1: mbrola.VOICE}
    if name not in voices:
        raise ValueError(f"unknown voice {name!r} in synth.voices; known: {', '.join(voices)}")
    return voices[name]


def spoken_tones(tones: list[int], spoken_sandhi: bool) -> list[int]:
    """The tones a speaker says for the label's ``tones``: with ``spoken_sandhi`` a third tone before a
    third tone is said as a second (``ni3 hao3`` -> ``ni2 hao3``, ``wo3 hen3 hao3`` -> 2 2 3), as espeak-ng
    does; the label keeps the lexicon's tones."""
    if not spoken_sandhi:
        return list(tones)
    return [2 if t == 3 and nxt == 3 else t for t, nxt in zip(tones, [*tones[1:], None])]
