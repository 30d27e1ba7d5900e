"""espeak-ng's ``cmn-latn-pinyin`` voice (formant synthesis, GPL-3.0-or-later), mini_cmn's voice since v1.

It is fed the tonal pinyin of an utterance as SSML. It is spoken as people speak with ``spoken_sandhi``:
espeak-ng applies third-tone sandhi (``ni3 hao3`` is said ``ni2 hao3``); without it a comma between two
third tones stops that (mini_cmn v1). A speaker is a variant (``voices/!v``) plus a pitch (``-p`` 0-99).

Tones are pitch movements within a speaker's pitch range, and espeak-ng takes that range from the
variant file (``pitch <base Hz> <top Hz>``). Some variants have almost none (``Alex``: 105-115 Hz,
``robosoft6``: 150-150 Hz) or an inverted one (``aunty``: 204-176 Hz), which flattens or mirrors every
tone; they are left out. The others are spoken with their range scaled (SSML ``prosody range``) so that
top/base is about ``synth.tone_range``: a Mandarin speaker's tones span close to an octave, while
espeak-ng's own ranges give contours of a few semitones that a filterbank barely resolves.
"""
from __future__ import annotations

import io
import re
import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf

from asrt.corpora.voices import ESPEAK_NG, Speaker

VOICE_NAME = "cmn-latn-pinyin"
# Whispered variants carry no pitch, so their tones cannot be heard.
UNVOICED_VARIANTS = {"whisper", "whisperf"}
# Variants whose (top - base) / base pitch range is below this are too flat to carry tones.
MIN_TONE_RANGE = 0.25
# espeak-ng caps SSML ``prosody range`` at 99/50 of the voice's own range.
MAX_RANGE_PERCENT = 198


def espeak_data_dir() -> Path:
    """espeak-ng's data directory, as ``espeak-ng --version`` reports it."""
    try:
        version = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, check=True).stdout
    except FileNotFoundError:
        raise RuntimeError("espeak-ng is not installed; run utils/setup_env.sh (or apt-get install espeak-ng).")
    match = re.search(r"Data at:\s*(\S+)", version)
    if match is None:
        raise RuntimeError(f"cannot find espeak-ng's data directory in: {version.strip()}")
    return Path(match.group(1))


def _pitch_line(path: Path) -> tuple[int, int] | None:
    """The ``pitch <base> <top>`` of an espeak-ng voice or variant file, if it sets one."""
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[0] == "pitch":
            return int(fields[1]), int(fields[2])
    return None


def variant_tone_ranges() -> dict[str, float]:
    """Every voiced espeak-ng variant with its relative pitch range ``(top - base) / base``.

    A variant without a ``pitch`` line keeps the ``cmn-latn-pinyin`` voice's own. Names with characters
    other than letters, digits and ``_`` (``Mr serious``) are skipped: a speaker name becomes a directory.
    """
    data = espeak_data_dir()
    voice_pitch = _pitch_line(data / "lang" / "sit" / "cmn-Latn-pinyin") or (80, 118)
    ranges = {}
    for path in sorted((data / "voices" / "!v").iterdir()):
        if path.is_file() and path.name not in UNVOICED_VARIANTS and re.fullmatch(r"\w+", path.name):
            base, top = _pitch_line(path) or voice_pitch
            ranges[path.name] = (top - base) / base
    return ranges


def list_variants() -> dict[str, float]:
    """The espeak-ng variants that can speak tones (voiced, relative pitch range >= MIN_TONE_RANGE), by name."""
    return {name: rel for name, rel in variant_tone_ranges().items() if rel >= MIN_TONE_RANGE}


def range_percent(variant_range: float, target: float) -> int:
    """SSML ``prosody range`` (percent of the variant's own) that brings its range to ``target``."""
    return int(min(MAX_RANGE_PERCENT, max(50, round(100 * target / variant_range))))


def speakers(variants: dict[str, float], pitches: tuple[int, ...], tone_range: float) -> list[Speaker]:
    """Every variant (name: relative pitch range, see :func:`list_variants`) at every ``-p`` pitch."""
    return [Speaker(ESPEAK_NG, variant, pitch, range_percent(rel, tone_range))
            for variant, rel in variants.items() for pitch in pitches]


def espeak_input(pinyin: str, range_percent: int = 100, spoken_sandhi: bool = False) -> str:
    """The SSML espeak-ng is given for a pinyin label, with the pitch range.

    espeak-ng applies third-tone sandhi (``ni3 hao3`` is spoken ``ni2 hao3``), as Mandarin speakers do.
    Without ``spoken_sandhi`` a comma between two third tones stops it, so that every syllable is spoken
    with the tone its label gives (mini_cmn v1).
    """
    syllables = pinyin.split()
    out = []
    for prev, cur in zip([None, *syllables], syllables):
        if not spoken_sandhi and prev is not None and prev.endswith("3") and cur.endswith("3"):
            out.append(",")
        out.append(cur)
    return f'<speak><prosody range="{range_percent}%">{" ".join(out)}</prosody></speak>'


def espeak_wav(pinyin: str, speaker: Speaker, speed: int, spoken_sandhi: bool) -> bytes:
    """espeak-ng's WAV of ``pinyin``. espeak-ng crashes (SIGSEGV) on a few utterances at the lowest base pitch
    with a widened range; such an utterance is spoken with the widest range, in steps of 10 %, that works."""
    for percent in [speaker.range_percent, *range(speaker.range_percent - 10, 99, -10)]:
        cmd = ["espeak-ng", "-m", "-v", f"{VOICE_NAME}+{speaker.variant}", "-s", str(speed), "-p",
               str(speaker.pitch), "--stdout", espeak_input(pinyin, percent, spoken_sandhi)]
        proc = subprocess.run(cmd, capture_output=True)
        if proc.returncode == 0:
            return proc.stdout
        if proc.returncode > 0:  # an error, not a crash: narrowing the range would not help
            break
    raise subprocess.CalledProcessError(proc.returncode, cmd, proc.stdout, proc.stderr)


class EspeakNg:
    """The espeak-ng voice; ``speed`` is espeak-ng's words per minute (``-s``)."""

    name = ESPEAK_NG

    def check(self) -> None:
        """Raise RuntimeError unless espeak-ng runs."""
        espeak_data_dir()

    def speak(self, pinyin: str, speaker: Speaker, speed: int, spoken_sandhi: bool) -> tuple[np.ndarray, int]:
        """espeak-ng's samples (float32) and rate (22.05 kHz) of ``pinyin``."""
        audio, rate = sf.read(io.BytesIO(espeak_wav(pinyin, speaker, speed, spoken_sandhi)), dtype="float32")
        return audio, rate


VOICE = EspeakNg()
