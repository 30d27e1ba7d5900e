"""A convolutional CTC model: conv subsampling, then residual depthwise-separable 1-D conv blocks.

Mandarin syllables are recognised from about half a second of context, which a stack of 1-D
convolutions covers cheaply; with batch-norm it leaves the CTC blank plateau far sooner than attention
models do on a CPU budget. The 2-D front-end is what makes tones learnable quickly: on mini_cmn it
halved the tone substitutions of the 1-D one at the same training time (egs/mini_cmn/RESULTS.md).
"""
from __future__ import annotations

import torch
from torch import nn

from asrt.models.subsampling import Conv1dSubsampling, Conv2dSubsampling


class SeparableConvBlock(nn.Module):
    """Depthwise conv over time, pointwise conv, batch-norm, ReLU, dropout, with a residual connection."""

    def __init__(self, channels: int, kernel_size: int, dropout: float) -> None:
        super().__init__()
        self.depthwise = nn.Conv1d(channels, channels, kernel_size, padding=kernel_size // 2, groups=channels)
        self.pointwise = nn.Conv1d(channels, channels, 1)
        self.norm = nn.BatchNorm1d(channels)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        y = self.norm(self.pointwise(self.depthwise(x.masked_fill(mask, 0.0))))
        return x + self.dropout(torch.relu(y))


class Conv2dFrontend(nn.Module):
    """:class:`Conv2dSubsampling` with its output channels first, as the conv blocks take them."""

    def __init__(self, num_features: int, channels: int, conv_channels: int,
                 freq_strides: tuple[int, ...] | None = None) -> None:
        super().__init__()
        self.conv = Conv2dSubsampling(num_features, channels, conv_channels, factor=8, freq_strides=freq_strides)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[N, T, F]`` features to ``[N, C, T/8]`` and the new lengths."""
        y, lengths = self.conv(x, lengths)
        return y.transpose(1, 2), lengths


class TdnnCtc(nn.Module):
    """8x conv subsampling followed by ``num_layers`` separable conv blocks and a linear CTC layer.

    ``frontend`` is ``conv1d`` (time-only convolutions over all bins) or ``conv2d`` (3x3 convolutions over
    time and frequency with ``frontend_channels`` maps): a 2-D kernel sees a rising or falling harmonic
    the same way at any pitch, which is what a tone is. ``frontend_freq_strides`` sets its convolutions'
    strides over frequency (see :class:`Conv2dSubsampling`).
    """

    def __init__(self, num_features: int, vocab_size: int, channels: int = 256, num_layers: int = 8,
                 kernel_size: int = 5, dropout: float = 0.1, frontend: str = "conv1d",
                 frontend_channels: int = 32, frontend_freq_strides: tuple[int, ...] | None = None) -> None:
        super().__init__()
        if frontend == "conv1d":
            self.subsampling = Conv1dSubsampling(num_features, channels)
        elif frontend == "conv2d":
            self.subsampling = Conv2dFrontend(num_features, channels, frontend_channels, frontend_freq_strides)
        else:
            raise ValueError(f"tdnn frontend must be conv1d or conv2d, not {frontend!r}")
        self.blocks = nn.ModuleList(SeparableConvBlock(channels, kernel_size, dropout) for _ in range(num_layers))
        self.output = nn.Linear(channels, vocab_size)

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return CTC log-probs ``[N, T', V]`` and their lengths for padded features ``[N, T, F]``."""
        x, lengths = self.subsampling(feats, lengths)
        mask = (torch.arange(x.size(2), device=x.device).unsqueeze(0) >= lengths.unsqueeze(1)).unsqueeze(1)
        for block in self.blocks:
            x = block(x, mask)
        return self.output(x.transpose(1, 2)).log_softmax(dim=-1), lengths
