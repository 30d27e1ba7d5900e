"""A convolutional CTC model: 1-D conv subsampling over time, then residual depthwise-separable 1-D conv blocks.

Mandarin syllables are recognised from about half a second of context, which a stack of 1-D
convolutions covers cheaply; with batch-norm it leaves the CTC blank plateau far sooner than attention
models do on a CPU budget.
"""
from __future__ import annotations

import torch
from torch import nn

from asrt.models import register


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


@register("tdnn")
class TdnnCtc(nn.Module):
    """Conv1d subsampling followed by ``num_layers`` separable conv blocks and a linear CTC layer."""

    def __init__(self, num_features: int, vocab_size: int, channels: int = 256, num_layers: int = 8,
                 kernel_size: int = 5, dropout: float = 0.1) -> None:
        super().__init__()
        self.subsampling = Conv1dSubsampling(num_features, channels)
        self.blocks = nn.ModuleList(SeparableConvBlock(channels, kernel_size, dropout) for _ in range(num_layers))
        self.output = nn.Linear(channels, vocab_size)

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return CTC log-probs ``[N, T', V]`` and their lengths for padded features ``[N, T, F]``."""
        x, lengths = self.subsampling(feats, lengths)
        mask = (torch.arange(x.size(2), device=x.device).unsqueeze(0) >= lengths.unsqueeze(1)).unsqueeze(1)
        for block in self.blocks:
            x = block(x, mask)
        return self.output(x.transpose(1, 2)).log_softmax(dim=-1), lengths
