"""ASRT's input features: a 200-bin log-magnitude spectrogram, as a lhotse feature extractor.

ASRT's DCNN (``asrt/models/dcnn.py``) reads, per 10 ms frame, ``log(1 + |X|)`` of the first 200 bins
of a 400-point FFT of a 25 ms Hamming-windowed frame of 16 kHz audio, with the samples on the int16
scale (ASRT reads WAV files as integers), no pre-emphasis and no DC removal. Frames are placed as
lhotse's fbank places them (Kaldi's ``snip_edges=false``: centred on each 10 ms step, edges mirrored),
so a cut's ``num_frames`` is the same for both feature types.

The framing, window and FFT are lhotse's ``Wav2Spec`` with Kaldi's extras switched off (no dither,
pre-emphasis or DC removal, a Hamming window, the FFT as long as the frame); ``tests/test_spectrogram.py``
checks it against ASRT's recipe written out by hand.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from lhotse.features.base import FeatureExtractor, register_extractor
from lhotse.features.kaldi.layers import Wav2Spec

from asrt.names import SAMPLE_RATE


@dataclass
class LogSpectrogramConfig:
    """Frame, FFT and bin settings of :class:`LogSpectrogram` (ASRT's values)."""

    sampling_rate: int = SAMPLE_RATE
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


def wav2spec(cfg: LogSpectrogramConfig) -> Wav2Spec:
    """lhotse's magnitude spectrogram configured as ASRT's (``cfg.n_fft`` must be the frame length)."""
    spec = Wav2Spec(sampling_rate=cfg.sampling_rate, frame_length=cfg.frame_length, frame_shift=cfg.frame_shift,
                    round_to_power_of_two=False, remove_dc_offset=False, preemph_coeff=0.0, window_type="hamming",
                    dither=0.0, snip_edges=False, use_energy=False, use_fft_mag=True).eval()
    if spec.fft_length != cfg.n_fft:
        raise ValueError(f"n_fft ({cfg.n_fft}) must equal the frame length in samples ({spec.fft_length})")
    return spec


def log_spectrogram(samples: torch.Tensor, cfg: LogSpectrogramConfig, spec: Wav2Spec | None = None) -> torch.Tensor:
    """``[num_frames, num_bins]`` log(1 + |FFT|) of 1-D float audio at ``cfg.sampling_rate``."""
    spec = wav2spec(cfg) if spec is None else spec
    hop = int(round(cfg.frame_shift * cfg.sampling_rate))
    x = samples.float().reshape(-1) * cfg.sample_scale
    n = x.numel()
    num_frames = (n + hop // 2) // hop
    if num_frames == 0:
        return torch.zeros(0, cfg.num_bins)
    before = (cfg.n_fft - hop) // 2  # samples the first frame reaches before the audio, the last after it:
    after = (num_frames - 1) * hop + cfg.n_fft - before - n
    if max(before, after) > n:
        # lhotse mirrors the audio only once at each end, too little for audio under ~9 ms; mirror it
        # here as often as needed (only such audio differs from ASRT's framing, which clamps).
        x = torch.from_numpy(np.pad(x.numpy(), (0, num_frames * hop - n), mode="symmetric"))
    with torch.no_grad():
        magnitude = spec(x.unsqueeze(0))[0, :, : cfg.num_bins]
    return torch.log1p(magnitude)


@register_extractor
class LogSpectrogram(FeatureExtractor):
    """ASRT's 200-bin log-magnitude spectrogram (``num_bins`` dimensions per 10 ms frame)."""

    name = "asrt-log-spectrogram"
    config_type = LogSpectrogramConfig

    def __init__(self, config: LogSpectrogramConfig | None = None) -> None:
        super().__init__(config)
        self._spec = wav2spec(self.config)

    @property
    def frame_shift(self) -> float:
        return self.config.frame_shift

    def feature_dim(self, sampling_rate: int) -> int:
        return self.config.num_bins

    def extract(self, samples: np.ndarray | torch.Tensor, sampling_rate: int) -> np.ndarray:
        """Features ``[T, num_bins]`` of mono audio at the configured sampling rate."""
        if sampling_rate != self.config.sampling_rate:
            raise ValueError(f"the spectrogram expects {self.config.sampling_rate} Hz audio, got {sampling_rate} Hz")
        return log_spectrogram(torch.as_tensor(samples), self.config, self._spec).numpy()
