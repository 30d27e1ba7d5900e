"""Front-ends that reduce the frame rate before an encoder: 1-D (over time) and 2-D (over time and frequency)."""
from __future__ import annotations

import torch
from torch import nn


class Conv1dSubsampling(nn.Module):
    """Three stride-2 convolutions over time (8x fewer frames) that see every frequency bin, so the
    harmonic spacing that carries pitch, and with it the tone, is not pooled away."""

    def __init__(self, num_features: int, channels: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(3):
            layers += [nn.Conv1d(num_features if i == 0 else channels, channels, 3, stride=2),
                       nn.BatchNorm1d(channels), nn.ReLU()]
        self.conv = nn.Sequential(*layers)

    @staticmethod
    def output_lengths(lengths: torch.Tensor) -> torch.Tensor:
        """Number of output frames for inputs of ``lengths`` frames."""
        for _ in range(3):
            lengths = (lengths - 3) // 2 + 1
        return lengths

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[N, T, F]`` features to ``[N, C, T/8]`` and the new lengths."""
        return self.conv(x.transpose(1, 2)), self.output_lengths(lengths)



class Conv2dSubsampling(nn.Module):
    """Stride-2 3x3 convolutions (two for 4x, three for 8x time reduction), projected to ``d_model``.

    ``freq_strides`` gives each convolution's stride over frequency (default 2 for every one); a stride
    of 1 keeps the frequency resolution, and with it small movements of the pitch harmonics, for the
    next layer.
    """

    def __init__(self, num_features: int, d_model: int, channels: int = 32, factor: int = 8,
                 freq_strides: tuple[int, ...] | None = None) -> None:
        super().__init__()
        if factor not in (4, 8):
            raise ValueError(f"subsampling factor must be 4 or 8, not {factor}")
        self.num_convs = 2 if factor == 4 else 3
        freq_strides = tuple(freq_strides) if freq_strides is not None else (2,) * self.num_convs
        if len(freq_strides) != self.num_convs or any(s not in (1, 2) for s in freq_strides):
            raise ValueError(f"freq_strides must be {self.num_convs} strides of 1 or 2, not {list(freq_strides)}")
        layers: list[nn.Module] = []
        freq = num_features
        for i, fs in enumerate(freq_strides):
            layers += [nn.Conv2d(1 if i == 0 else channels, channels, 3, stride=(2, fs)), nn.ReLU()]
            freq = (freq - 3) // fs + 1
        self.conv = nn.Sequential(*layers)
        self.out = nn.Linear(channels * freq, d_model)

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Number of output frames for inputs of ``lengths`` frames."""
        for _ in range(self.num_convs):
            lengths = (lengths - 1) // 2
        return lengths

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.conv(x.unsqueeze(1))  # [N, C, T', F']
        n, c, t, f = x.shape
        x = self.out(x.transpose(1, 2).reshape(n, t, c * f))
        return x, self.output_lengths(lengths)
