"""ASRT's log spectrogram through lhotse's ``Wav2Spec``: the same numbers as ASRT's recipe written out by hand."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from asrt.features.spectrogram import LogSpectrogram, LogSpectrogramConfig, log_spectrogram

RATE = 16000


def asrt_recipe(x: np.ndarray) -> np.ndarray:
    """ASRT's features in float64: frames of 400 samples every 160, centred on each 10 ms step with the
    audio mirrored past its ends (Kaldi's snip_edges=false), int16 scale, symmetric Hamming window, no
    pre-emphasis, dither or DC removal, log(1 + |FFT|) of bins 0-199 of a 400-point FFT."""
    n, hop, win = len(x), 160, 400
    num_frames = (n + hop // 2) // hop
    idx = np.arange(num_frames)[:, None] * hop + (hop // 2 - win // 2) + np.arange(win)[None, :]
    idx = np.where(idx < 0, -idx - 1, idx)
    idx = np.where(idx >= n, 2 * n - 1 - idx, idx)
    frames = x.astype(np.float64)[idx] * 32768.0 * np.hamming(win)
    return np.log1p(np.abs(np.fft.rfft(frames, n=400, axis=1))[:, :200])


def assert_same_spectrum(got: np.ndarray, want: np.ndarray) -> None:
    """Equal up to float32 FFT rounding: magnitudes within 2e-6 of each frame's peak, logs within 1e-3."""
    assert got.shape == want.shape
    error = np.abs(np.expm1(got.astype(np.float64)) - np.expm1(want))
    assert (error / (1 + np.expm1(want).max(axis=1, keepdims=True))).max() < 2e-6
    assert np.abs(got - want).max() < 1e-3


def speech_like(seconds: float, seed: int) -> np.ndarray:
    """A voiced, tone-like signal: harmonics of a gliding pitch, syllable envelopes, noise, a DC offset,
    a silent stretch and int16 quantisation, as read from a WAV file."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    f0 = 120 + 60 * np.sin(2 * np.pi * 1.3 * t)  # a rising and falling contour, as Mandarin tones
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    voiced = sum(np.sin(k * phase) / k for k in range(1, 20))
    envelope = np.clip(np.sin(2 * np.pi * 2.5 * t), 0, None) ** 0.5
    x = 0.3 * voiced * envelope + 0.01 * rng.standard_normal(t.size) + 0.02
    x[len(x) // 3: len(x) // 3 + 4000] = 0.0
    return (np.round(np.clip(x, -1, 1) * 32767) / 32768).astype(np.float32)


@pytest.mark.parametrize("n", [140, 159, 160, 239, 240, 399, 400, 401, 1000, 16000, 16123])
def test_matches_asrts_recipe_on_random_audio(n):
    x = np.random.default_rng(n).uniform(-1, 1, n).astype(np.float32)
    got = LogSpectrogram().extract(x, RATE)
    want = asrt_recipe(x)
    assert got.shape == ((n + 80) // 160, 200)
    assert_same_spectrum(got, want)


def test_matches_asrts_recipe_on_speech_like_audio():
    x = speech_like(3.0, seed=1)
    got = LogSpectrogram().extract(x, RATE)
    want = asrt_recipe(x)
    assert got.shape == (300, 200)
    assert_same_spectrum(got, want)
    silent = slice(len(x) // 3 // 160 + 3, (len(x) // 3 + 4000) // 160 - 3)
    assert np.allclose(got[silent], 0.0, atol=1e-6)  # all-zero frames give log(1 + 0)


def test_known_values_of_the_hand_written_version_it_replaced():
    # The replaced torch implementation gave these floats for this input; Wav2Spec gave the very same
    # bits on the machine they were recorded on (other FFT builds may differ in the last bits).
    x = torch.from_numpy(speech_like(0.05, seed=2))
    got = log_spectrogram(x, LogSpectrogramConfig())
    assert got.shape == (5, 200) and got.dtype == torch.float32
    assert got[2, :4].tolist() == pytest.approx([9.656765937805176, 9.719188690185547, 9.852678298950195,
                                                 9.980201721191406], rel=1e-6)


def test_audio_shorter_than_a_frame_shift():
    extractor = LogSpectrogram()
    assert extractor.extract(np.zeros(79, np.float32), RATE).shape == (0, 200)
    short = extractor.extract(np.full(100, 0.1, np.float32), RATE)  # one frame, mirrored past both ends
    assert short.shape == (1, 200)
    # a constant signal stays constant however often it is mirrored: the DC bin holds all of it
    assert short[0, 0] == pytest.approx(np.log1p(0.1 * 32768 * np.hamming(400).sum()), rel=1e-5)


def test_n_fft_must_be_the_frame_length():
    with pytest.raises(ValueError, match="n_fft"):
        LogSpectrogram(LogSpectrogramConfig(n_fft=512))
