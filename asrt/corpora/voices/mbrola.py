"""MBROLA with the ``cn1`` diphone database: Mandarin from diphones recorded by human speakers (22.05 kHz).

MBROLA (AGPL-3.0-or-later, Debian ``contrib``) speaks a ``.pho`` file, one phone a line:
``name duration_ms [position_% pitch_Hz]...``. espeak-ng 1.51's ``mb-cn1`` voice cannot drive it (its voice
file names a missing ``zh_phtrans``), so this module writes the ``.pho`` from the tonal pinyin itself and
with it controls every tone contour, sandhi, declination and the speaking rate.

cn1's phones (``/usr/share/doc/mbrola-cn1/README.txt``; Debian ``non-free``, non-commercial licence) are the
pinyin initials and finals, each syllable ``initial final`` followed by a silence: its diphones join a final
only to silence, so ``_ 1`` separates syllables. A compound final keeps one vowel and gives its glide to
the initial (``huan`` is ``hu an``, ``bian`` is ``bi an``); ``zhi chi shi ri`` end in ``ll``, ``zi ci si``
in ``ii``, ``ü`` is ``v``.

A speaker is cn1 at a base pitch (Hz) with tones spanning ``range_percent`` above it. A tone is a contour
of Chao's five levels (tone 1 55, tone 2 35, tone 3 21 before another syllable and 214 at the end,
tone 4 51, the neutral tone a short level that follows the tone before it) on the final; the pitch
declines over the utterance by ``DECLINATION``.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from asrt.corpora.voices import MBROLA_CN1, Speaker, spoken_tones

DATABASE = Path("/usr/share/mbrola/cn1/cn1")
INSTALL_HINT = "run utils/setup_env.sh --voices mbrola-cn1 (Debian: apt-get install mbrola mbrola-cn1, " \
               "from contrib and non-free)"
DECLINATION = 0.12  # the pitch falls by this fraction from an utterance's first syllable to its last
NEUTRAL_LENGTH = 0.6  # of a full syllable
FINAL_LENGTHENING = 1.3  # of an utterance's last syllable

INITIALS = ("zh", "ch", "sh", "b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h", "j", "q", "x", "r",
            "z", "c", "s", "y", "w")
# An initial's share of a syllable at the normal rate: stops are short, aspirates and fricatives long.
INITIAL_SHARE = {"b": 0.08, "d": 0.08, "g": 0.08, "p": 0.22, "t": 0.22, "k": 0.22, "z": 0.22, "zh": 0.24,
                 "j": 0.22, "c": 0.32, "ch": 0.32, "q": 0.32, "f": 0.32, "s": 0.34, "sh": 0.34, "x": 0.34,
                 "h": 0.3, "r": 0.22, "m": 0.22, "n": 0.22, "l": 0.22, "y": 0.14, "w": 0.14}
GLIDE_SHARE = 0.12  # added to an initial that carries a compound final's glide (bi-an, hu-an)
# Whole syllables that the general rules below would misspell as cn1 phones.
SYLLABLES = {
    "zhi": ("zh", "ll"), "chi": ("ch", "ll"), "shi": ("sh", "ll"), "ri": ("r", "ll"),
    "zi": ("z", "ii"), "ci": ("c", "ii"), "si": ("s", "ii"), "ye": ("", "ie"), "yu": ("y", "v"),
    "yuan": ("yu", "an"), "wu": ("w", "u"), "yi": ("y", "i"), "wong": ("w", "eng"),
    "m": ("m", "u"), "n": ("n", "en"), "ng": ("", "eng"), "hm": ("h", "en"), "hng": ("h", "eng"),
    # rare syllables whose diphones cn1 lacks, said with the nearest it has
    "biang": ("bi", "an"), "bong": ("b", "eng"), "cei": ("c", "e"), "din": ("d", "ing"), "fiao": ("pi", "ao"),
    "kei": ("k", "e"), "len": ("l", "eng"), "lo": ("lu", "o"), "nia": ("n", "ie"), "rua": ("ru", "o"),
    "tei": ("t", "e"), "yo": ("y", "ou"),
}
OWN_FINALS = {"i", "in", "ing", "ie", "iu", "u", "ui", "un", "ue"}
# Chao levels (1 low .. 5 high) at positions (%) of the final, per spoken tone.
CONTOURS = {1: ((0, 4.8), (100, 5.0)), 2: ((0, 3.0), (25, 2.8), (100, 5.0)), 3: ((0, 2.2), (60, 1.0), (100, 1.2)),
            4: ((0, 5.0), (100, 1.2))}
FINAL_THIRD = ((0, 2.2), (45, 1.0), (100, 3.8))  # tone 3 at the end of an utterance: 214
NEUTRAL_AFTER = {1: 2.2, 2: 3.0, 3: 3.8, 4: 1.4, 5: 2.2}  # the neutral tone's level after each tone


def cn1_phones(syllable: str) -> tuple[str, str]:
    """``(initial, final)`` cn1 phones of a toneless pinyin syllable (``""`` for no initial)."""
    syllable = syllable.replace("ü", "v")
    if syllable in SYLLABLES:
        return SYLLABLES[syllable]
    initial = next((i for i in INITIALS if syllable.startswith(i) and len(syllable) > len(i)), "")
    final = syllable[len(initial):]
    if initial in ("j", "q", "x", "y") and final.startswith("u"):  # ju is jü
        final = "v" + final[1:]
    if final in ("ve", "van", "vn") or final.startswith("va"):  # jue, lve; juan, yuan; jun, yun
        return (initial, "ue") if final == "ve" else (initial, "un") if final == "vn" else (initial + "u", final[1:])
    if final == "v":
        return initial, "v"
    if initial and initial not in ("y", "w") and final[0] in "iu" and final not in OWN_FINALS:
        return initial + final[0], "o" if final == "uo" else final[1:]  # bi-an, hu-an, gu-o
    return initial, final


def tone_levels(tones: list[int]) -> list[tuple[tuple[float, float], ...]]:
    """The spoken contour (position %, Chao level) of every syllable's final."""
    out = []
    for i, tone in enumerate(tones):
        if tone == 5:
            level = NEUTRAL_AFTER[tones[i - 1]] if i else 2.2
            out.append(((0, level), (100, level - 0.3)))
        else:
            out.append(FINAL_THIRD if tone == 3 and i == len(tones) - 1 else CONTOURS[tone])
    return out


def _initial_share(initial: str) -> float:
    """The share of a syllable an initial takes (``""``: none), longer when it carries a glide (``hu``)."""
    if not initial or initial in INITIAL_SHARE:
        return INITIAL_SHARE.get(initial, 0.0)
    consonant = initial[:2] if initial[:2] in INITIAL_SHARE else initial[:1]
    return INITIAL_SHARE[consonant] + GLIDE_SHARE


def _hz(level: float, speaker: Speaker, progress: float) -> int:
    """Pitch in Hz of a Chao level for ``speaker`` at ``progress`` (0..1) through the utterance."""
    top = 1 + speaker.range_percent / 100
    return int(round(speaker.pitch * top ** ((level - 1) / 4) * (1 - DECLINATION * progress)))


def pho_lines(pinyin: str, speaker: Speaker, speed: int, spoken_sandhi: bool) -> list[str]:
    """The ``.pho`` lines for tonal ``pinyin`` said by ``speaker`` at ``speed`` syllables per minute."""
    syllables = pinyin.split()
    tones = spoken_tones([int(s[-1]) for s in syllables], spoken_sandhi)
    contours = tone_levels(tones)
    full = 60000 / speed  # ms of a syllable
    lines = ["_ 150"]
    for i, (syllable, tone, contour) in enumerate(zip(syllables, tones, contours)):
        initial, final = cn1_phones(syllable[:-1])
        length = full * (NEUTRAL_LENGTH if tone == 5 else 1.0) * (FINAL_LENGTHENING if i == len(syllables) - 1 else 1.0)
        share = _initial_share(initial)
        progress = i / max(1, len(syllables) - 1)
        if initial:
            lines.append(f"{initial} {round(full * share)}")
        points = " ".join(f"{pos} {_hz(level, speaker, progress)}" for pos, level in contour)
        lines += [f"{final} {max(40, round(length - full * share))} {points}", "_ 1"]
    lines[-1] = "_ 200"
    return lines


def speakers(pitches: tuple[int, ...], range_percents: tuple[int, ...]) -> list[Speaker]:
    """cn1 at every base pitch (Hz) with every tone range (percent above the base)."""
    return [Speaker(MBROLA_CN1, "cn1", pitch, rp) for pitch in pitches for rp in range_percents]


class MbrolaCn1:
    """MBROLA's cn1; ``speed`` is syllables per minute."""

    name = MBROLA_CN1

    def check(self) -> None:
        """Raise RuntimeError unless the mbrola program and the cn1 database are installed."""
        if shutil.which("mbrola") is None or not DATABASE.exists():
            raise RuntimeError(f"the mbrola-cn1 voice is not installed; {INSTALL_HINT}.")

    def speak(self, pinyin: str, speaker: Speaker, speed: int, spoken_sandhi: bool) -> tuple[np.ndarray, int]:
        """MBROLA's samples (float32) and rate (22.05 kHz) of ``pinyin``."""
        self.check()
        pho = "\n".join(pho_lines(pinyin, speaker, speed, spoken_sandhi)) + "\n"
        with tempfile.TemporaryDirectory(prefix="asrt-mbrola-") as tmp:
            wav = Path(tmp) / "out.wav"
            # -e: a diphone cn1 lacks (a rare syllable such as fiao) is skipped, not fatal
            proc = subprocess.run(["mbrola", "-e", str(DATABASE), "-", str(wav)], input=pho.encode(),
                                  capture_output=True)
            if proc.returncode != 0:
                raise RuntimeError(f"mbrola failed on {pinyin!r}: {proc.stderr.decode(errors='replace').strip()}")
            audio, rate = sf.read(wav, dtype="float32")
        return audio, rate


VOICE = MbrolaCn1()
