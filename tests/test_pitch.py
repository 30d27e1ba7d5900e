"""Pitch features: F0 of known signals, voicing, alignment with lhotse's fbank frames."""
from __future__ import annotations

import numpy as np
import torch
from conftest import section

from asrt.features.extract import make_extractor
from asrt.features.pitch import FbankPitchConfig, pitch_features

RATE = 16000


def harmonic(f0: np.ndarray) -> np.ndarray:
    """A voiced-like signal: five harmonics following the per-sample F0 track ``f0``."""
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    return sum(np.sin(k * phase) / k for k in range(1, 6)).astype(np.float32) * 0.3


def test_steady_tone_has_flat_pitch_and_full_voicing():
    x = harmonic(np.full(RATE, 200.0))
    p = pitch_features(torch.from_numpy(x), 100, FbankPitchConfig()).numpy()
    inner = p[5:-5]
    assert np.all(inner[:, 1] > 0.9)  # strongly voiced
    assert np.allclose(inner[:, 0], 0.0, atol=0.02)  # log F0 relative to the utterance mean
    assert np.allclose(inner[:, 2], 0.0, atol=0.01)  # no change of pitch


def test_rising_and_falling_contours_are_told_apart():
    t = np.arange(RATE) / RATE
    rising = pitch_features(torch.from_numpy(harmonic(120 + 120 * t)), 100, FbankPitchConfig()).numpy()
    falling = pitch_features(torch.from_numpy(harmonic(240 - 120 * t)), 100, FbankPitchConfig()).numpy()
    assert rising[80, 0] - rising[20, 0] > 0.35  # log(216 Hz / 144 Hz) = 0.41
    assert falling[80, 0] - falling[20, 0] < -0.35
    assert rising[10:-10, 2].mean() > 0 > falling[10:-10, 2].mean()


def test_noise_is_unvoiced():
    x = np.random.default_rng(0).standard_normal(RATE).astype(np.float32) * 0.1
    p = pitch_features(torch.from_numpy(x), 100, FbankPitchConfig()).numpy()
    assert np.median(p[:, 1]) < 0.4


def test_extractor_appends_three_dims_to_fbank_frames():
    x = harmonic(np.full(RATE // 2, 150.0))
    fbank = make_extractor(section("features", num_mel_bins=80)).extract(x, RATE)
    both = make_extractor(section("features", num_mel_bins=80, pitch=True)).extract(x, RATE)
    assert both.shape == (fbank.shape[0], 83)
    assert np.allclose(both[:, :80], fbank)
