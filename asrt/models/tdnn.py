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
    """Depthwise conv over time, pointwise conv, batch-norm, ReLU, dropout, with a residual connection.

    ``lookahead`` None centres the kernel; a number ``r`` lets frame ``t`` see frames up to ``t + r`` only
    (``kernel_size - 1 - r`` before it), and the block then streams (:meth:`stream`).
    """

    def __init__(self, channels: int, kernel_size: int, dropout: float, lookahead: int | None = None) -> None:
        super().__init__()
        if lookahead is not None and not 0 <= lookahead < kernel_size:
            raise ValueError(f"a block's lookahead must be between 0 and {kernel_size - 1}, not {lookahead}")
        self.pad = (kernel_size // 2, kernel_size // 2) if lookahead is None else (kernel_size - 1 - lookahead, lookahead)
        self.depthwise = nn.Conv1d(channels, channels, kernel_size, groups=channels)
        self.pointwise = nn.Conv1d(channels, channels, 1)
        self.norm = nn.BatchNorm1d(channels)
        self.dropout = nn.Dropout(dropout)

    def _mix(self, padded: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.norm(self.pointwise(self.depthwise(padded))))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        y = self._mix(nn.functional.pad(x.masked_fill(mask, 0.0), self.pad))
        return x + self.dropout(y)

    def init_stream(self, x: torch.Tensor) -> torch.Tensor:
        """The stream state for inputs like ``x`` ``[N, C, T]``: the input frames not yet consumed,
        starting with the left padding (zeros)."""
        return x.new_zeros(x.size(0), x.size(1), self.pad[0])

    def stream(self, x: torch.Tensor, buf: torch.Tensor, final: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """The outputs that the new input frames ``x`` ``[N, C, T]`` complete (``lookahead`` frames later
        than the input; with ``final``, every remaining one, as the right padding completes them) and the
        new state."""
        buf = torch.cat([buf, x] + ([x.new_zeros(x.size(0), x.size(1), self.pad[1])] if final else []), dim=2)
        ready = buf.size(2) - (self.pad[0] + self.pad[1])
        if ready <= 0:
            return x[:, :, :0], buf
        y = self._mix(buf[:, :, : ready + self.pad[0] + self.pad[1]])
        return buf[:, :, self.pad[0]: self.pad[0] + ready] + y, buf[:, :, ready:]


class Conv2dFrontend(nn.Module):
    """:class:`Conv2dSubsampling` with its output channels first, as the conv blocks take them."""

    def __init__(self, num_features: int, channels: int, conv_channels: int,
                 freq_strides: tuple[int, ...] | None = None, causal: bool = False) -> None:
        super().__init__()
        self.conv = Conv2dSubsampling(num_features, channels, conv_channels, factor=8, freq_strides=freq_strides,
                                      causal=causal)

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

    ``streaming`` (``{lookahead: R, lookahead_blocks: first|last}``) makes the model stream: a causal
    front-end and blocks that see ``R`` output frames ahead in all (one each in the first ``R`` blocks, or
    the last ``R``) and ``kernel_size - 1`` before, so that its outputs streamed chunk by chunk
    (:meth:`stream`) equal its outputs over the whole input.
    """

    def __init__(self, num_features: int, vocab_size: int, channels: int = 256, num_layers: int = 8,
                 kernel_size: int = 5, dropout: float = 0.1, frontend: str = "conv1d",
                 frontend_channels: int = 32, frontend_freq_strides: tuple[int, ...] | None = None,
                 streaming: dict | None = None) -> None:
        super().__init__()
        self.streaming = streaming is not None
        lookahead = int(streaming["lookahead"]) if streaming is not None else 0
        where = streaming.get("lookahead_blocks", "first") if streaming is not None else "first"
        if where not in ("first", "last"):
            raise ValueError(f"model.streaming.lookahead_blocks must be first or last, not {where!r}")
        ahead = range(lookahead) if where == "first" else range(num_layers - lookahead, num_layers)  # blocks that look ahead
        if self.streaming and frontend != "conv2d":
            raise ValueError("a streaming tdnn needs frontend: conv2d (its causal front-end)")
        if not 0 <= lookahead <= num_layers:
            raise ValueError(f"model.streaming.lookahead must be between 0 and num_layers ({num_layers}), not {lookahead}")
        if frontend == "conv1d":
            self.subsampling = Conv1dSubsampling(num_features, channels)
        elif frontend == "conv2d":
            self.subsampling = Conv2dFrontend(num_features, channels, frontend_channels, frontend_freq_strides,
                                              causal=self.streaming)
        else:
            raise ValueError(f"tdnn frontend must be conv1d or conv2d, not {frontend!r}")
        self.blocks = nn.ModuleList(
            SeparableConvBlock(channels, kernel_size, dropout, (int(i in ahead) if self.streaming else None))
            for i in range(num_layers))
        self.lookahead = lookahead  # output frames
        self.output = nn.Linear(channels, vocab_size)

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return CTC log-probs ``[N, T', V]`` and their lengths for padded features ``[N, T, F]``."""
        x, lengths = self.subsampling(feats, lengths)
        mask = (torch.arange(x.size(2), device=x.device).unsqueeze(0) >= lengths.unsqueeze(1)).unsqueeze(1)
        for block in self.blocks:
            x = block(x, mask)
        return self.output(x.transpose(1, 2)).log_softmax(dim=-1), lengths

    @property
    def subsampling_factor(self) -> int:
        """Input frames per output frame."""
        return 8

    def init_stream(self) -> list:
        """A new stream's state (a streaming model only)."""
        if not self.streaming:
            raise ValueError("this tdnn was not built to stream: give it model.streaming (conf/streaming.yaml)")
        return [self.subsampling.conv.init_stream(), None]

    def stream(self, feats: torch.Tensor, state: list, final: bool = False) -> tuple[torch.Tensor, list]:
        """CTC log-probs ``[N, T', V]`` of the output frames that the next feature frames ``[N, T, F]`` (``T`` a
        multiple of 8) complete, and the new state; with ``final`` also the last ``lookahead`` ones."""
        cache, bufs = state
        if feats.size(1):
            x, cache = self.subsampling.conv.stream(feats, cache)
            x = x.transpose(1, 2)
        else:
            x = feats.new_zeros(feats.size(0), self.output.in_features, 0)
        bufs = bufs or [block.init_stream(x) for block in self.blocks]
        new_bufs = []
        for block, buf in zip(self.blocks, bufs):
            x, buf = block.stream(x, buf, final)
            new_bufs.append(buf)
        return self.output(x.transpose(1, 2)).log_softmax(dim=-1), [cache, new_bufs]
