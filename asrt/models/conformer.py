"""A small Conformer CTC model (Gulati et al. 2020): conv subsampling, then macaron Conformer blocks.

``streaming`` (``{left_context: L}``) builds it to stream the way WeNet's U2 does: chunk attention (a frame
sees its own chunk and the ``L`` output frames before the chunk), causal depthwise convolutions and a causal
front-end, trained with a chunk size drawn for every batch (full context half of the time, else 1 to
:data:`asrt.models.chunks.DYNAMIC_CHUNK_SECONDS` of output frames), so that one model decodes offline and in chunks of any
size. Streamed in chunks of ``C`` frames (:meth:`ConformerCtc.stream`, with the last ``L`` frames' attention
inputs and ``kernel_size - 1`` convolution inputs cached per block), its outputs equal the whole utterance's
under the mask of ``C`` (``forward(..., chunk_frames=C)``). A streaming conformer has no absolute position
encodings (a stream outgrows the lengths it was trained on); its causal convolutions give it the order.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from asrt.models.chunks import draw_chunk_frames
from asrt.models.subsampling import Conv2dSubsampling



class FeedForward(nn.Module):
    def __init__(self, d_model: int, d_ff: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(d_model), nn.Linear(d_model, d_ff), nn.SiLU(), nn.Dropout(dropout),
                                 nn.Linear(d_ff, d_model), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ConvModule(nn.Module):
    """Pointwise conv with GLU, depthwise conv over time (centred, or ``causal``: ``kernel_size - 1`` frames
    before), batch-norm, SiLU, pointwise conv."""

    def __init__(self, d_model: int, kernel_size: int, dropout: float, causal: bool = False) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.pointwise_in = nn.Conv1d(d_model, 2 * d_model, 1)
        self.pad = (kernel_size - 1, 0) if causal else (kernel_size // 2, kernel_size // 2)
        self.depthwise = nn.Conv1d(d_model, d_model, kernel_size, groups=d_model)
        self.depth_norm = nn.BatchNorm1d(d_model)
        self.pointwise_out = nn.Conv1d(d_model, d_model, 1)
        self.dropout = nn.Dropout(dropout)

    def _gated(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.glu(self.pointwise_in(self.norm(x).transpose(1, 2)), dim=1)

    def _out(self, padded: torch.Tensor) -> torch.Tensor:
        y = nn.functional.silu(self.depth_norm(self.depthwise(padded)))
        return self.dropout(self.pointwise_out(y).transpose(1, 2))

    def forward(self, x: torch.Tensor, pad_mask: torch.Tensor) -> torch.Tensor:
        # Zero the padding right before the only layer that mixes frames (pointwise biases would leak).
        x = self._gated(x).masked_fill(pad_mask.unsqueeze(1), 0.0)
        return self._out(nn.functional.pad(x, self.pad))

    def stream(self, x: torch.Tensor, cache: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A causal module over the next frames ``[N, T, D]`` after the cached ``[N, D, kernel_size - 1]``
        depthwise inputs; the outputs and the new cache."""
        padded = torch.cat([cache, self._gated(x)], dim=2)
        return self._out(padded), padded[:, :, padded.size(2) - self.pad[0]:]


class ConformerBlock(nn.Module):
    def __init__(self, d_model: int, num_heads: int, d_ff: int, kernel_size: int, dropout: float,
                 causal: bool = False) -> None:
        super().__init__()
        self.ff1 = FeedForward(d_model, d_ff, dropout)
        self.attn_norm = nn.LayerNorm(d_model)
        self.attn = nn.MultiheadAttention(d_model, num_heads, dropout=dropout, batch_first=True)
        self.attn_dropout = nn.Dropout(dropout)
        self.conv = ConvModule(d_model, kernel_size, dropout, causal)
        self.ff2 = FeedForward(d_model, d_ff, dropout)
        self.out_norm = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor, pad_mask: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``attn_mask`` (``[N * heads, T, T]``, True: not seen) replaces the padding mask in attention."""
        x = x + 0.5 * self.ff1(x)
        y = self.attn_norm(x)
        masks = {"key_padding_mask": pad_mask} if attn_mask is None else {"attn_mask": attn_mask}
        x = x + self.attn_dropout(self.attn(y, y, y, need_weights=False, **masks)[0])
        x = x + self.conv(x, pad_mask)
        x = x + 0.5 * self.ff2(x)
        return self.out_norm(x)

    def stream(self, x: torch.Tensor, state: list[torch.Tensor], left_context: int) -> tuple[torch.Tensor, list]:
        """The block over a chunk ``[N, T, D]`` that sees the cached attention inputs of the frames before it
        (at most ``left_context``); the outputs and the new ``[attention inputs, convolution inputs]``."""
        seen, conv_cache = state
        x = x + 0.5 * self.ff1(x)
        y = self.attn_norm(x)
        keys = torch.cat([seen, y], dim=1)
        x = x + self.attn(y, keys, keys, need_weights=False)[0]
        conv, conv_cache = self.conv.stream(x, conv_cache)
        x = x + conv
        x = x + 0.5 * self.ff2(x)
        return self.out_norm(x), [keys[:, max(0, keys.size(1) - left_context):], conv_cache]


def chunk_mask(length: int, chunk: int, left_context: int, device: torch.device) -> torch.Tensor:
    """``[T, T]``, True where query frame ``i`` may not see key frame ``j``: ``j`` after ``i``'s chunk of
    ``chunk`` frames, or more than ``left_context`` frames before that chunk's start."""
    i = torch.arange(length, device=device)
    start = torch.div(i, chunk, rounding_mode="floor") * chunk
    return (i.unsqueeze(0) >= (start + chunk).unsqueeze(1)) | (i.unsqueeze(0) < (start - left_context).unsqueeze(1))


def sinusoidal_positions(length: int, d_model: int, device: torch.device) -> torch.Tensor:
    """Absolute sinusoidal position encodings ``[length, d_model]``."""
    pos = torch.arange(length, device=device, dtype=torch.float32).unsqueeze(1)
    div = torch.exp(torch.arange(0, d_model, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / d_model))
    pe = torch.zeros(length, d_model, device=device)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)
    return pe


class ConformerCtc(nn.Module):
    """Conformer encoder with a linear CTC output layer over ``vocab_size`` tokens (blank = 0);
    ``streaming`` as the module's doc says."""

    def __init__(self, num_features: int, vocab_size: int, d_model: int = 144, num_layers: int = 6,
                 num_heads: int = 4, d_ff: int = 576, kernel_size: int = 15, dropout: float = 0.1,
                 subsampling_channels: int = 32, subsampling_factor: int = 8, streaming: dict | None = None) -> None:
        super().__init__()
        self.streaming = streaming is not None
        if self.streaming and set(streaming) != {"left_context"}:
            raise ValueError(f"a conformer's model.streaming takes left_context (output frames), not {sorted(streaming)}")
        self.left_context = int(streaming["left_context"]) if self.streaming else 0
        if self.streaming and self.left_context < 0:
            raise ValueError(f"model.streaming.left_context must be 0 or more, not {self.left_context}")
        self.lookahead = 0  # output frames: a chunk sees nothing after itself
        self.chunked = True  # its outputs depend on the chunk size: streamed one chunk per pass
        self.d_model, self.num_heads = d_model, num_heads
        self.subsampling = Conv2dSubsampling(num_features, d_model, subsampling_channels, subsampling_factor,
                                             causal=self.streaming)
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            ConformerBlock(d_model, num_heads, d_ff, kernel_size, dropout, self.streaming) for _ in range(num_layers))
        self.output = nn.Linear(d_model, vocab_size)

    @property
    def subsampling_factor(self) -> int:
        """Input frames per output frame."""
        return self.subsampling.factor

    def _chunk(self, chunk_frames: int | None) -> int | None:
        """The chunk size of this pass: ``chunk_frames``, else in training one drawn (None: full context)."""
        if chunk_frames is not None or not (self.streaming and self.training):
            return chunk_frames
        return draw_chunk_frames(self.subsampling_factor)

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor,
                chunk_frames: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Return CTC log-probs ``[N, T', V]`` and their lengths for padded features ``[N, T, F]``; a streaming
        model with ``chunk_frames`` attends as it does when streamed in chunks of that many output frames."""
        x, lengths = self.subsampling(feats, lengths)
        x = x * math.sqrt(self.d_model)
        if not self.streaming:
            x = x + sinusoidal_positions(x.size(1), self.d_model, x.device)
        x = self.dropout(x)
        pad_mask = torch.arange(x.size(1), device=x.device).unsqueeze(0) >= lengths.unsqueeze(1)
        chunk, attn_mask = self._chunk(chunk_frames), None
        if chunk is not None:
            if not self.streaming:
                raise ValueError("chunk_frames needs a conformer built to stream (model.streaming)")
            # Padded keys are hidden too; every frame sees itself, so no row is all hidden.
            hidden = chunk_mask(x.size(1), chunk, self.left_context, x.device).unsqueeze(0) | pad_mask.unsqueeze(1)
            hidden &= ~torch.eye(x.size(1), dtype=torch.bool, device=x.device)
            attn_mask = hidden.repeat_interleave(self.num_heads, dim=0)
        for block in self.blocks:
            x = block(x, pad_mask, attn_mask)
        return self.output(x).log_softmax(dim=-1), lengths

    def init_stream(self, chunk_frames: int | None = None) -> list:
        """A new stream's state (a streaming model only; its chunk is what each :meth:`stream` call gets)."""
        if not self.streaming:
            raise ValueError("this conformer was not built to stream: give it model.streaming")
        param = self.output.weight
        blocks = [[param.new_zeros(1, 0, self.d_model), param.new_zeros(1, self.d_model, b.conv.pad[0])]
                  for b in self.blocks]
        return [self.subsampling.init_stream(), blocks]

    def stream(self, feats: torch.Tensor, state: list, final: bool = False) -> tuple[torch.Tensor, list]:
        """CTC log-probs ``[N, T', V]`` of the next feature frames ``[N, T, F]`` (``T`` a multiple of the
        subsampling factor: one chunk), and the new state (``final`` changes nothing: no lookahead)."""
        cache, blocks = state
        if feats.size(1) == 0:
            return feats.new_zeros(feats.size(0), 0, self.output.out_features), state
        x, cache = self.subsampling.stream(feats, cache)
        x = x * math.sqrt(self.d_model)
        new_blocks = []
        for block, block_state in zip(self.blocks, blocks):
            x, block_state = block.stream(x, block_state, self.left_context)
            new_blocks.append(block_state)
        return self.output(x).log_softmax(dim=-1), [cache, new_blocks]
