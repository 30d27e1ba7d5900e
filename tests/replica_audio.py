"""Short espeak-ng utterances for the miniature corpus replicas that the recipe tests build.

A replica holds real speech-like audio so that every stage (features, training, decoding) runs for real;
the words are spoken from their tonal pinyin with the voice mini_cmn uses.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from asrt.corpora.mini_cmn import UttSpec, synthesize_utterance
from asrt.names import SAMPLE_RATE

VARIANTS = ("m1", "f1", "m3", "f3", "m5", "f5")


def speak(pinyin: str, speaker: int = 0, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Float samples of ``pinyin`` (e.g. ``"ni3 hao3"``) spoken by replica speaker number ``speaker``."""
    spec = UttSpec(utt_id="replica", split="train", speaker=str(speaker), variant=VARIANTS[speaker % len(VARIANTS)],
                   pitch=30 + 7 * (speaker % 6), range_percent=100, speed=170, text="", pinyin=pinyin,
                   snr_db=None, noise_color="white", seed=speaker)
    audio = synthesize_utterance(spec)
    if sample_rate != SAMPLE_RATE:
        audio = resample_poly(audio, sample_rate, SAMPLE_RATE).astype(np.float32)
    return audio


def write_speech(path: Path, pinyin: str, speaker: int = 0, sample_rate: int = SAMPLE_RATE,
                 subtype: str = "PCM_16") -> Path:
    """Write ``pinyin`` spoken by ``speaker`` to ``path`` (format from its suffix: .wav or .flac)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, speak(pinyin, speaker, sample_rate), sample_rate, subtype=subtype)
    return path
