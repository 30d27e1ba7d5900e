"""ASRT's "251bn" deep CNN (re-implemented from its published description) as a CTC model.

Input is ASRT's 200-bin log spectrogram (``features.type: spectrogram``). Five blocks of
[3x3 conv, batch-norm, ReLU] x 2 with 32, 64, 128, 128, 128 channels; 2x2 max-pooling after the first
three halves time and frequency each time (8x in all); each output frame's pooled map (128 channels x
25 bins) is flattened into Linear(128) + ReLU, then a linear CTC layer: about 1.5 M parameters for
ASRT's 1428 outputs. Unlike ASRT, inputs of any length are taken as they are (no padding to 1600
frames) and output lengths are exact (``T // 8``), with padded frames zeroed before every convolution
so that a batch gives each utterance the outputs it gets alone.
"""
from __future__ import annotations

import torch
from torch import nn


def _zero_padding(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Zero the frames of ``x`` ``[N, C, T, F]`` at or beyond each utterance's length."""
    pad = torch.arange(x.size(2), device=x.device).unsqueeze(0) >= lengths.unsqueeze(1)
    return x.masked_fill(pad[:, None, :, None], 0.0)


class ConvBlock(nn.Module):
    """Two [3x3 conv (same padding), batch-norm, ReLU] layers."""

    def __init__(self, in_channels: int, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, padding=1, bias=False)
        self.norm1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.norm2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.norm1(self.conv1(_zero_padding(x, lengths))))
        return torch.relu(self.norm2(self.conv2(_zero_padding(x, lengths))))


class DcnnCtc(nn.Module):
    """ASRT 251bn: conv blocks of ``channels``, the first ``num_pooled`` followed by 2x2 max-pooling."""

    def __init__(self, num_features: int, vocab_size: int, channels: tuple[int, ...] = (32, 64, 128, 128, 128),
                 num_pooled: int = 3, hidden: int = 128, dropout: float = 0.0) -> None:
        super().__init__()
        if not 0 <= num_pooled <= len(channels):
            raise ValueError(f"dcnn num_pooled must be between 0 and {len(channels)}, not {num_pooled}")
        self.num_pooled = num_pooled
        self.blocks = nn.ModuleList(
            ConvBlock(1 if i == 0 else channels[i - 1], c) for i, c in enumerate(channels))
        self.hidden = nn.Linear(channels[-1] * (num_features >> num_pooled), hidden)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(hidden, vocab_size)

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return CTC log-probs ``[N, T // 2**num_pooled, V]`` and their lengths for features ``[N, T, F]``."""
        x = feats.unsqueeze(1)
        for i, block in enumerate(self.blocks):
            x = block(x, lengths)
            if i < self.num_pooled:
                # Floor division drops an odd last frame, exactly as pooling does.
                x = nn.functional.max_pool2d(x, 2)
                lengths = torch.div(lengths, 2, rounding_mode="floor")
        n, c, t, f = x.shape
        x = self.dropout(torch.relu(self.hidden(x.permute(0, 2, 1, 3).reshape(n, t, c * f))))
        return self.output(x).log_softmax(dim=-1), lengths
