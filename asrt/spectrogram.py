"""ASRT's input features: a 200-bin log-magnitude spectrogram, as a lhotse feature extractor.

ASRT's DCNN (``asrt/models/dcnn.py``) reads, per 10 ms frame, ``log(1 + |X|)`` of the first 200 bins
of a 400-point FFT of a 25 ms Hamming-windowed frame of 16 kHz audio, with the samples on the int16
scale (ASRT reads WAV files as integers), no pre-emphasis and no DC removal. Frames are placed as
lhotse's fbank places them (Kaldi's ``snip_edges=false``: centred on each 10 ms step, edges mirrored),
so a cut's ``num_frames`` is the same for both feature types.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from lhotse.features.base import FeatureExtractor, register_extractor


@dataclass
class LogSpectrogramConfig:
    """Frame, FFT and bin settings of :class:`LogSpectrogram` (ASRT's values)."""

    sampling_rate: int = 16000
    frame_length: float = 0.025
    frame_shift: float = 0.01
    n_fft: int = 400
    num_bins: int = 200
    sample_scale: float = 32768.0  # float audio in [-1, 1] to ASRT's int16 scale
    device: str = "cpu"

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(data: dict) -> "LogSpectrogramConfig":
        return LogSpectrogramConfig(**data)


def log_spectrogram(samples: torch.Tensor, cfg: LogSpectrogramConfig) -> torch.Tensor:
    """``[num_frames, num_bins]`` log(1 + |FFT|) of 1-D float audio at ``cfg.sampling_rate``."""
    hop = int(round(cfg.frame_shift * cfg.sampling_rate))
    win = int(round(cfg.frame_length * cfg.sampling_rate))
    x = samples.float().reshape(-1) * cfg.sample_scale
    n = x.numel()
    num_frames = (n + hop // 2) // hop
    if num_frames == 0:
        return torch.zeros(0, cfg.num_bins)
    # Frame t covers samples [t*hop + hop/2 - win/2, ...); indices outside the audio are mirrored
    # (-1 -> 0, n -> n-1), as Kaldi does with snip_edges=false.
    idx = torch.arange(num_frames).unsqueeze(1) * hop + (hop // 2 - win // 2) + torch.arange(win).unsqueeze(0)
    idx = torch.where(idx < 0, -idx - 1, idx)
    idx = torch.where(idx >= n, 2 * n - 1 - idx, idx).clamp(0, n - 1)
    frames = x[idx] * torch.hamming_window(win, periodic=False)
    magnitude = torch.fft.rfft(frames, n=cfg.n_fft).abs()[:, : cfg.num_bins]
    return torch.log1p(magnitude)


@register_extractor
class LogSpectrogram(FeatureExtractor):
    """ASRT's 200-bin log-magnitude spectrogram (``num_bins`` dimensions per 10 ms frame)."""

    name = "asrt-log-spectrogram"
    config_type = LogSpectrogramConfig

    @property
    def frame_shift(self) -> float:
        return self.config.frame_shift

    def feature_dim(self, sampling_rate: int) -> int:
        return self.config.num_bins

    def extract(self, samples: np.ndarray | torch.Tensor, sampling_rate: int) -> np.ndarray:
        """Features ``[T, num_bins]`` of mono audio at the configured sampling rate."""
        if sampling_rate != self.config.sampling_rate:
            raise ValueError(f"the spectrogram expects {self.config.sampling_rate} Hz audio, got {sampling_rate} Hz")
        return log_spectrogram(torch.as_tensor(samples), self.config).numpy()
