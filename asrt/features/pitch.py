"""Pitch features for tones: fbank plus three pitch dimensions, as a lhotse feature extractor.

Mandarin tones are pitch contours. A filterbank carries pitch only implicitly (harmonic spacing), which a
small model learns slowly; Kaldi's Mandarin recipes append pitch features for this reason. Per 10 ms
frame (aligned with lhotse's fbank frames) this adds:

1. log F0 minus the utterance's voicing-weighted mean (so it is relative to the speaker's own range),
2. the normalised autocorrelation peak (voicing strength, 0..1),
3. the frame-to-frame change of log F0.

F0 is the lag of the highest normalised autocorrelation peak in a 40 ms window, between ``min_f0`` and
``max_f0``, with a mild preference for shorter lags against sub-harmonic (octave) errors.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from lhotse import Fbank, FbankConfig
from lhotse.features.base import FeatureExtractor, register_extractor

from asrt.names import SAMPLE_RATE

PITCH_DIMS = 3


@dataclass
class FbankPitchConfig:
    """Filterbank size and the F0 search range."""

    num_mel_bins: int = 80
    sampling_rate: int = SAMPLE_RATE
    frame_shift: float = 0.01
    window_seconds: float = 0.04
    min_f0: float = 60.0
    max_f0: float = 450.0
    octave_penalty: float = 0.1
    device: str = "cpu"

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(data: dict) -> "FbankPitchConfig":
        return FbankPitchConfig(**data)


def pitch_features(samples: torch.Tensor, num_frames: int, cfg: FbankPitchConfig) -> torch.Tensor:
    """``[num_frames, 3]`` pitch features of 1-D audio (frames centred like lhotse's fbank)."""
    hop = int(round(cfg.frame_shift * cfg.sampling_rate))
    win = int(round(cfg.window_seconds * cfg.sampling_rate))
    x = samples.float().flatten()
    x = torch.nn.functional.pad(x, (win // 2, win // 2 + num_frames * hop))
    frames = x.unfold(0, win, hop)[:num_frames]
    frames = frames - frames.mean(dim=1, keepdim=True)
    n_fft = 1 << (2 * win - 1).bit_length()
    spec = torch.fft.rfft(frames, n=n_fft)
    acf = torch.fft.irfft(spec.real**2 + spec.imag**2, n=n_fft)[:, :win]
    lags = torch.arange(win, dtype=torch.float32)
    # Unbiased, energy-normalised autocorrelation: 1.0 at lag 0 and for a perfectly periodic frame.
    nacf = (acf / (win - lags)) / (acf[:, :1] / win + 1e-8)
    lo = int(cfg.sampling_rate / cfg.max_f0)
    hi = min(win - 1, int(cfg.sampling_rate / cfg.min_f0))
    search = nacf[:, lo: hi + 1] * (1 - cfg.octave_penalty * (lags[lo: hi + 1] - lo) / (hi - lo))
    peak, idx = search.max(dim=1)
    voicing = peak.clamp(0.0, 1.0)
    log_f0 = torch.log(cfg.sampling_rate / (idx.float() + lo))
    weights = voicing**2 + 1e-3
    rel_log_f0 = log_f0 - (weights * log_f0).sum() / weights.sum()
    delta = torch.zeros_like(log_f0)
    delta[1:-1] = (log_f0[2:] - log_f0[:-2]) / 2
    return torch.stack([rel_log_f0, voicing, delta * voicing], dim=1)


@register_extractor
class FbankPitch(FeatureExtractor):
    """lhotse's torch-native fbank with three pitch dimensions appended (``num_mel_bins + 3``)."""

    name = "asrt-fbank-pitch"
    config_type = FbankPitchConfig

    def __init__(self, config: FbankPitchConfig | None = None) -> None:
        super().__init__(config=config)
        self.fbank = Fbank(FbankConfig(num_mel_bins=self.config.num_mel_bins,
                                       sampling_rate=self.config.sampling_rate, frame_shift=self.config.frame_shift))

    @property
    def frame_shift(self) -> float:
        return self.config.frame_shift

    def feature_dim(self, sampling_rate: int) -> int:
        return self.config.num_mel_bins + PITCH_DIMS

    def extract(self, samples: np.ndarray | torch.Tensor, sampling_rate: int) -> np.ndarray:
        """Features ``[T, num_mel_bins + 3]`` of mono audio at the configured sampling rate."""
        fbank = self.fbank.extract(samples, sampling_rate)
        fbank = torch.as_tensor(fbank)
        if fbank.ndim == 3:
            fbank = fbank[0]
        wave = torch.as_tensor(samples).reshape(-1)
        pitch = pitch_features(wave, fbank.shape[0], self.config)
        return torch.cat([fbank, pitch], dim=1).numpy()
