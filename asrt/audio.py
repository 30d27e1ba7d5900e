"""Turn any WAV/FLAC file or raw PCM buffer into float32 mono samples at the recogniser's rate."""
from __future__ import annotations

import io
import math
import os
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from asrt.names import SAMPLE_RATE

__all__ = ["AudioError", "decode_audio", "float_to_pcm16", "load_audio", "pcm_to_float", "resample"]

MIN_PCM_RATE = 1000
MAX_PCM_RATE = 384000

# byte width -> (numpy dtype of little-endian samples, value subtracted, divisor) for mapping to [-1, 1).
_PCM_FORMATS: dict[int, tuple[str, float, float]] = {
    1: ("u1", 128.0, 128.0),
    2: ("<i2", 0.0, 32768.0),
    4: ("<i4", 0.0, 2147483648.0),
}


class AudioError(ValueError):
    """Audio a user supplied cannot be used; the message is one sentence saying what is wrong."""


def resample(x: np.ndarray, orig_rate: int, target_rate: int) -> np.ndarray:
    """Resample ``x`` (time on axis 0) from ``orig_rate`` to ``target_rate`` with a polyphase filter."""
    if orig_rate <= 0 or target_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {orig_rate} -> {target_rate}")
    x = np.asarray(x, dtype=np.float32)
    if orig_rate == target_rate or x.shape[0] == 0:
        return x
    g = math.gcd(int(orig_rate), int(target_rate))
    return resample_poly(x, int(target_rate) // g, int(orig_rate) // g, axis=0).astype(np.float32)


def _finish(frames: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    # frames: (num_frames, channels) float; down-mix, resample, and keep within [-1, 1].
    mono = frames.mean(axis=1, dtype=np.float64).astype(np.float32)
    out = resample(mono, rate, target_rate)
    return np.clip(out, -1.0, 1.0).astype(np.float32, copy=False)


def load_audio(path: str | os.PathLike, target_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Read a WAV/FLAC file of any rate, bit depth and channel count as float32 mono in [-1, 1] at ``target_rate``."""
    path = Path(path)
    if not path.exists():
        raise AudioError(f"Audio file {path} does not exist; check the path.")
    if not path.is_file():
        raise AudioError(f"Audio path {path} is not a file; give the path of a WAV or FLAC file.")
    return _decode_file(str(path), str(path), target_rate)


def decode_audio(data: bytes, name: str, target_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Like :func:`load_audio` for the bytes of a WAV/FLAC file (an upload); ``name`` labels it in errors."""
    if not data:
        raise AudioError(f"Audio file {name} is empty; supply a non-empty WAV or FLAC file.")
    return _decode_file(io.BytesIO(data), name, target_rate)


def _decode_file(source: str | io.BytesIO, name: str, target_rate: int) -> np.ndarray:
    try:
        frames, rate = sf.read(source, dtype="float32", always_2d=True)
    except (sf.SoundFileError, RuntimeError, OSError) as e:
        # Keep libsndfile's reason ("Format not recognised") without its repeat of the path.
        lines = str(e).strip().splitlines()
        reason = lines[-1].rsplit(": ", 1)[-1].strip().rstrip(".") if lines else type(e).__name__
        raise AudioError(
            f"Cannot decode audio file {name} ({reason}); supply a valid WAV or FLAC file."
        ) from None
    if frames.shape[0] == 0 or frames.shape[1] == 0:
        raise AudioError(f"Audio file {name} contains no samples; supply a non-empty recording.")
    if not np.isfinite(frames).all():
        raise AudioError(f"Audio file {name} contains NaN or infinite samples; re-export it as PCM.")
    return _finish(frames, int(rate), target_rate)


def _check_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise AudioError(f"PCM {name} must be an integer, got {value!r}.")
    return int(value)


def pcm_to_float(
    data: bytes, sample_rate: int, channels: int, byte_width: int, target_rate: int = SAMPLE_RATE
) -> np.ndarray:
    """Decode raw little-endian PCM (1 = unsigned 8-bit, 2 = int16, 4 = int32) to float32 mono at ``target_rate``."""
    sample_rate = _check_int("sample_rate", sample_rate)
    channels = _check_int("channels", channels)
    byte_width = _check_int("byte_width", byte_width)
    if byte_width not in _PCM_FORMATS:
        raise AudioError(
            f"PCM byte_width {byte_width} is not supported; use 1 (unsigned 8-bit), 2 (int16) or 4 (int32)."
        )
    if channels < 1:
        raise AudioError(f"PCM channels must be at least 1, got {channels}.")
    if not MIN_PCM_RATE <= sample_rate <= MAX_PCM_RATE:
        raise AudioError(
            f"PCM sample_rate {sample_rate} Hz is out of range; use {MIN_PCM_RATE} to {MAX_PCM_RATE} Hz."
        )
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise AudioError(f"PCM data must be bytes, got {type(data).__name__}.")
    num_bytes = memoryview(data).nbytes
    if num_bytes == 0:
        raise AudioError("PCM data is empty; send at least one audio frame.")
    frame_bytes = channels * byte_width
    if num_bytes % frame_bytes:
        raise AudioError(
            f"PCM data length {num_bytes} bytes is not a multiple of channels * byte_width = {frame_bytes}; "
            "send whole frames."
        )
    dtype, offset, scale = _PCM_FORMATS[byte_width]
    ints = np.frombuffer(data, dtype=np.dtype(dtype))
    frames = ((ints.astype(np.float64) - offset) / scale).reshape(-1, channels)
    return _finish(frames, sample_rate, target_rate)


def float_to_pcm16(samples: np.ndarray) -> bytes:
    """Float samples in [-1, 1] as raw little-endian int16 PCM (what ASRT's clients send); the inverse of
    :func:`pcm_to_float` for samples that came from int16."""
    return np.clip(np.round(np.asarray(samples, dtype=np.float64) * 32768.0), -32768, 32767).astype("<i2").tobytes()
