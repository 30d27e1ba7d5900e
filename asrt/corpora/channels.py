"""Recording conditions that mini_cmn simulates: rooms, noise, telephone lines and hi-fi files.

Each utterance is spoken once (espeak-ng, 22.05 kHz) and then passes through one *condition*, the way real
corpora and ASRT's users bring audio: a close microphone at 16 kHz, a reverberant room, a telephone line
(8 kHz, band-limited to 300-3400 Hz, stored as G.711 mu-law WAV, or passed through GSM 06.10, the codecs
of fixed and mobile telephony), or a hi-fi recorder (44.1 kHz stereo, 48 kHz mono with 24-bit samples). Noise is added on top
of any condition but the clean reference, independently of it.

Rooms are shoebox rooms simulated by pyroomacoustics' image-source method (random size, absorption for an
RT60 of 0.2-0.7 s, source and microphone positions), written as impulse-response files; :func:`reverberate` convolves the speech with them. The rooms of dev and test are not in train.
"""
from __future__ import annotations

import io
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from asrt.fileio import atomic_path
from asrt.names import SAMPLE_RATE


@dataclass(frozen=True)
class Condition:
    """How one condition stores an utterance: rate, channels, file format, telephone band, room."""

    rate: int  # Hz
    channels: int = 1
    format: str = "FLAC"
    subtype: str = "PCM_16"
    telephone: bool = False  # 300-3400 Hz band
    room: bool = False
    codec: str | None = None  # a libsndfile WAV subtype the audio is encoded in and decoded from before storing


CONDITIONS = {
    "16k": Condition(16000),
    "16k_room": Condition(16000, room=True),
    "8k_ulaw": Condition(8000, format="WAV", subtype="ULAW", telephone=True),
    # lhotse cannot read GSM WAV files (libsndfile calls them unseekable): the codec's output is stored as FLAC
    "8k_gsm": Condition(8000, telephone=True, codec="GSM610"),
    "44k_stereo": Condition(44100, channels=2),
    "48k": Condition(48000, subtype="PCM_24"),
}
CLEAN = "16k"  # the reference condition: never noisy
FILE_SUFFIX = {"FLAC": ".flac", "WAV": ".wav"}


def check_condition_weights(weights: dict[str, float]) -> None:
    """Raise ValueError unless ``weights`` names known conditions with weights >= 0, not all zero."""
    unknown = sorted(set(weights) - set(CONDITIONS))
    if unknown:
        raise ValueError(f"unknown mini_cmn condition(s) {', '.join(unknown)} in synth.conditions; "
                         f"known: {', '.join(CONDITIONS)}")
    if any(float(w) < 0 for w in weights.values()) or sum(float(w) for w in weights.values()) <= 0:
        raise ValueError("synth.conditions weights must be >= 0 and not all 0")


def condition_list(weights: dict[str, float], n: int, rng: random.Random) -> list[str]:
    """``n`` conditions in the proportions ``weights`` gives (largest remainder), in random order."""
    check_condition_weights(weights)
    total = sum(float(w) for w in weights.values())
    exact = {c: n * float(w) / total for c, w in weights.items()}
    counts = {c: int(x) for c, x in exact.items()}
    for c in sorted(exact, key=lambda c: counts[c] - exact[c])[: n - sum(counts.values())]:
        counts[c] += 1
    out = [c for c, k in counts.items() for _ in range(k)]
    rng.shuffle(out)
    return out


def simulate_room_rir(seed: int, rate: int = SAMPLE_RATE) -> np.ndarray:
    """The impulse response of a random shoebox room (RT60 0.2-0.7 s), peak-normalised, float32."""
    import pyroomacoustics as pra

    rng = np.random.default_rng(seed)
    size = rng.uniform([3.0, 3.0, 2.5], [9.0, 7.0, 3.5])
    rt60 = rng.uniform(0.2, 0.7)
    absorption, max_order = pra.inverse_sabine(rt60, size)
    room = pra.ShoeBox(size, fs=rate, materials=pra.Material(absorption), max_order=min(max_order, 40))
    source, mic = (rng.uniform(0.5, size - 0.5) for _ in range(2))
    room.add_source(source)
    room.add_microphone(mic)
    room.compute_rir()
    rir = np.asarray(room.rir[0][0], dtype=np.float32)
    return rir / (np.abs(rir).max() + 1e-9)


def write_room(job: tuple[Path, int]) -> None:
    """Write the impulse response of the room ``seed`` draws to ``path`` (16 kHz float WAV), unless there."""
    path, seed = job
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            sf.write(tmp, simulate_room_rir(seed), SAMPLE_RATE, format="WAV", subtype="FLOAT")


def reverberate(audio: np.ndarray, rir_path: Path) -> np.ndarray:
    """16 kHz mono ``audio`` in a room: convolved with the room's impulse response, aligned to its direct path
    (the response's peak) and scaled back to the dry signal's power, as lhotse's ``ReverbWithImpulseResponse``
    does. The convolution runs in float64 (scipy's FFT) rather than in torch's float32 FFT that lhotse uses,
    whose last bits depend on the CPU's vector instructions (AVX-512 and AVX2 machines synthesised different
    room utterances; ``benchmarks/fingerprint.py``)."""
    from scipy.signal import fftconvolve

    rir, _ = sf.read(rir_path, dtype="float64", always_2d=True)
    rir = rir[:, 0]
    dry = np.asarray(audio, dtype=np.float64)
    shift = int(np.argmax(np.abs(rir)))
    wet = fftconvolve(dry, rir)[shift: shift + len(dry)]
    power = np.mean(wet**2)
    if power > 0:
        wet *= np.sqrt(np.mean(dry**2) / power)
    return wet.astype(np.float32)


def telephone_band(audio: np.ndarray, rate: int) -> np.ndarray:
    """``audio`` band-passed to 300-3400 Hz, the band of a telephone line (4th-order Butterworth)."""
    from scipy.signal import butter, sosfilt

    sos = butter(4, [300, 3400], btype="bandpass", fs=rate, output="sos")
    return sosfilt(sos, audio).astype(np.float32)


def codec_round_trip(audio: np.ndarray, rate: int, subtype: str) -> np.ndarray:
    """``audio`` encoded in the WAV ``subtype`` (libsndfile's codec, e.g. ``GSM610``) and decoded again."""
    buf = io.BytesIO()
    sf.write(buf, np.clip(audio, -1.0, 1.0), rate, format="WAV", subtype=subtype)
    buf.seek(0)
    decoded, _ = sf.read(buf, dtype="float32")
    return decoded[: len(audio)]


def render(audio: np.ndarray, condition: str, rng: np.random.Generator) -> np.ndarray:
    """16 kHz mono ``audio`` as ``condition`` stores it: resampled, band-limited, with channels last."""
    from asrt.audio import resample  # here: it imports scipy, which `asrt paths` (mini_cmn's import) need not

    cond = CONDITIONS[condition]
    out = resample(audio, SAMPLE_RATE, cond.rate) if cond.rate != SAMPLE_RATE else audio
    if cond.telephone:
        out = telephone_band(out, cond.rate)
    if cond.codec is not None:
        out = codec_round_trip(out, cond.rate, cond.codec)
    if cond.channels == 2:  # a coincident (XY) microphone pair: the second a little quieter and later
        delay = int(rng.integers(1, 3))
        second = np.concatenate([np.zeros(delay, np.float32), out[:-delay]]) * rng.uniform(0.7, 1.0)
        out = np.stack([out, second], axis=1)
    return out.astype(np.float32)


def write_condition(path: Path, audio: np.ndarray, condition: str) -> None:
    """Write rendered ``audio`` atomically in ``condition``'s rate and file format."""
    cond = CONDITIONS[condition]
    with atomic_path(path) as tmp:
        sf.write(tmp, np.clip(audio, -1.0, 1.0), cond.rate, format=cond.format, subtype=cond.subtype)
