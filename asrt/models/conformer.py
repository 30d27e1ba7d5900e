"""A small Conformer CTC model (Gulati et al. 2020): conv subsampling, then macaron Conformer blocks."""
from __future__ import annotations

import math

import torch
from torch import nn

from asrt.models.subsampling import Conv2dSubsampling


class FeedForward(nn.Module):
    def __init__(self, d_model: int, d_ff: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(d_model), nn.Linear(d_model, d_ff), nn.SiLU(), nn.Dropout(dropout),
                                 nn.Linear(d_ff, d_model), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ConvModule(nn.Module):
    def __init__(self, d_model: int, kernel_size: int, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.pointwise_in = nn.Conv1d(d_model, 2 * d_model, 1)
        self.depthwise = nn.Conv1d(d_model, d_model, kernel_size, padding=kernel_size // 2, groups=d_model)
        self.depth_norm = nn.BatchNorm1d(d_model)
        self.pointwise_out = nn.Conv1d(d_model, d_model, 1)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, pad_mask: torch.Tensor) -> torch.Tensor:
        x = nn.functional.glu(self.pointwise_in(self.norm(x).transpose(1, 2)), dim=1)
        # Zero the padding right before the only layer that mixes frames (pointwise biases would leak).
        x = x.masked_fill(pad_mask.unsqueeze(1), 0.0)
        x = nn.functional.silu(self.depth_norm(self.depthwise(x)))
        return self.dropout(self.pointwise_out(x).transpose(1, 2))


class ConformerBlock(nn.Module):
    def __init__(self, d_model: int, num_heads: int, d_ff: int, kernel_size: int, dropout: float) -> None:
        super().__init__()
        self.ff1 = FeedForward(d_model, d_ff, dropout)
        self.attn_norm = nn.LayerNorm(d_model)
        self.attn = nn.MultiheadAttention(d_model, num_heads, dropout=dropout, batch_first=True)
        self.attn_dropout = nn.Dropout(dropout)
        self.conv = ConvModule(d_model, kernel_size, dropout)
        self.ff2 = FeedForward(d_model, d_ff, dropout)
        self.out_norm = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor, pad_mask: torch.Tensor) -> torch.Tensor:
        x = x + 0.5 * self.ff1(x)
        y = self.attn_norm(x)
        x = x + self.attn_dropout(self.attn(y, y, y, key_padding_mask=pad_mask, need_weights=False)[0])
        x = x + self.conv(x, pad_mask)
        x = x + 0.5 * self.ff2(x)
        return self.out_norm(x)


def sinusoidal_positions(length: int, d_model: int, device: torch.device) -> torch.Tensor:
    """Absolute sinusoidal position encodings ``[length, d_model]``."""
    pos = torch.arange(length, device=device, dtype=torch.float32).unsqueeze(1)
    div = torch.exp(torch.arange(0, d_model, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / d_model))
    pe = torch.zeros(length, d_model, device=device)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)
    return pe


class ConformerCtc(nn.Module):
    """Conformer encoder with a linear CTC output layer over ``vocab_size`` tokens (blank = 0)."""

    def __init__(self, num_features: int, vocab_size: int, d_model: int = 144, num_layers: int = 6,
                 num_heads: int = 4, d_ff: int = 576, kernel_size: int = 15, dropout: float = 0.1,
                 subsampling_channels: int = 32, subsampling_factor: int = 8) -> None:
        super().__init__()
        self.d_model = d_model
        self.subsampling = Conv2dSubsampling(num_features, d_model, subsampling_channels, subsampling_factor)
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            ConformerBlock(d_model, num_heads, d_ff, kernel_size, dropout) for _ in range(num_layers))
        self.output = nn.Linear(d_model, vocab_size)

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return CTC log-probs ``[N, T', V]`` and their lengths for padded features ``[N, T, F]``."""
        x, lengths = self.subsampling(feats, lengths)
        x = x * math.sqrt(self.d_model) + sinusoidal_positions(x.size(1), self.d_model, x.device)
        x = self.dropout(x)
        pad_mask = torch.arange(x.size(1), device=x.device).unsqueeze(0) >= lengths.unsqueeze(1)
        for block in self.blocks:
            x = block(x, pad_mask)
        return self.output(x).log_softmax(dim=-1), lengths
