"""A convolutional CTC model: conv subsampling, then residual depthwise-separable 1-D conv blocks.

Mandarin syllables are recognised from about half a second of context, which a stack of 1-D
convolutions covers cheaply; with batch-norm it leaves the CTC blank plateau far sooner than attention
models do on a CPU budget. The 2-D front-end is what makes tones learnable quickly: on mini_cmn it
halved the tone substitutions of the 1-D one at the same training time (egs/mini_cmn/RESULTS.md).
"""
from __future__ import annotations

import torch
from torch import nn

from asrt.models.chunks import draw_chunk_frames
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

    def chunks(self, windows: torch.Tensor, x: torch.Tensor, rc: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The block over chunks in their windows ``[M, C, left + K + R]`` (the chunk's ``left`` input frames
        before it, its ``K`` frames, its ``R`` right-context frames), their inputs ``x`` ``[M, C, K]`` and
        ``rc`` ``[M, C, R]``: the outputs of both (the right context's beyond the window seen as zeros)."""
        y = self._mix(nn.functional.pad(windows, (0, self.pad[1])))
        return x + self.dropout(y[:, :, : x.size(2)]), rc + self.dropout(y[:, :, x.size(2):])

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

    ``streaming`` makes the model stream, with a causal front-end, in one of two ways:

    * ``{lookahead: R, lookahead_blocks: first|last}``: blocks that see ``R`` output frames ahead in all (one
      each in the first ``R`` blocks, or the last ``R``) and ``kernel_size - 1`` before, so that its outputs
      streamed chunk by chunk (:meth:`stream`) equal its outputs over the whole input, whatever the chunks.
    * ``{lookahead: R, chunked: true}``: centred blocks that see the rest of their chunk and ``R`` frames
      after it (Emformer's right context, Shi et al. 2021, with convolutions for attention): each block
      computes a chunk in a window of its left context (final frames of the chunks before), the chunk and
      its ``R`` right-context frames, which it also computes, seeing zeros after them; the right context's
      outputs feed the next block's window and are then dropped. Trained with dynamic chunks
      (:mod:`asrt.models.chunks`), it decodes offline with full context and in chunks of any size, its
      stream equal to ``forward(..., chunk_frames=C)``.
    """

    def __init__(self, num_features: int, vocab_size: int, channels: int = 256, num_layers: int = 8,
                 kernel_size: int = 5, dropout: float = 0.1, frontend: str = "conv1d",
                 frontend_channels: int = 32, frontend_freq_strides: tuple[int, ...] | None = None,
                 streaming: dict | None = None) -> None:
        super().__init__()
        self.streaming = streaming is not None
        streaming = dict(streaming or {})
        unknown = set(streaming) - {"lookahead", "lookahead_blocks", "chunked", "full_context"}
        if unknown:
            raise ValueError("a tdnn's model.streaming takes lookahead, lookahead_blocks, chunked and full_context, "
                             f"not {sorted(unknown)}")
        lookahead = int(streaming.get("lookahead", 0))
        self.chunked = bool(streaming.get("chunked", False))
        self.full_context = float(streaming.get("full_context", 0.5))  # the share of training batches
        if "full_context" in streaming and not self.chunked:
            raise ValueError("model.streaming.full_context is dynamic chunk training's: it needs chunked: true")
        if not 0.0 <= self.full_context <= 1.0:
            raise ValueError(f"model.streaming.full_context is a share of batches, between 0 and 1, not {self.full_context}")
        where = streaming.get("lookahead_blocks", "first")
        if where not in ("first", "last"):
            raise ValueError(f"model.streaming.lookahead_blocks must be first or last, not {where!r}")
        if self.chunked and "lookahead_blocks" in streaming:
            raise ValueError("a chunked tdnn's lookahead is its right context after each chunk: it has no lookahead_blocks")
        ahead = range(lookahead) if where == "first" else range(num_layers - lookahead, num_layers)  # blocks that look ahead
        if self.streaming and frontend != "conv2d":
            raise ValueError("a streaming tdnn needs frontend: conv2d (its causal front-end)")
        if lookahead < 0 or (not self.chunked and lookahead > num_layers):
            raise ValueError(f"model.streaming.lookahead must be between 0 and num_layers ({num_layers}), not {lookahead}")
        if frontend == "conv1d":
            self.subsampling = Conv1dSubsampling(num_features, channels)
        elif frontend == "conv2d":
            self.subsampling = Conv2dFrontend(num_features, channels, frontend_channels, frontend_freq_strides,
                                              causal=self.streaming)
        else:
            raise ValueError(f"tdnn frontend must be conv1d or conv2d, not {frontend!r}")
        causal = self.streaming and not self.chunked
        self.blocks = nn.ModuleList(
            SeparableConvBlock(channels, kernel_size, dropout, (int(i in ahead) if causal else None))
            for i in range(num_layers))
        self.lookahead = lookahead  # output frames
        self.output = nn.Linear(channels, vocab_size)

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor,
                chunk_frames: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Return CTC log-probs ``[N, T', V]`` and their lengths for padded features ``[N, T, F]``; a chunked
        model with ``chunk_frames`` (in training: one drawn per batch) as it is streamed in chunks of that many
        output frames."""
        if chunk_frames is not None and not self.chunked:
            raise ValueError("chunk_frames needs a tdnn built with model.streaming.chunked")
        if chunk_frames is None and self.chunked and self.training:
            chunk_frames = draw_chunk_frames(self.subsampling_factor, self.full_context)
        x, lengths = self.subsampling(feats, lengths)
        if chunk_frames is not None:
            x = self._chunks(x, lengths, chunk_frames)
        else:
            mask = (torch.arange(x.size(2), device=x.device).unsqueeze(0) >= lengths.unsqueeze(1)).unsqueeze(1)
            for block in self.blocks:
                x = block(x, mask)
        return self.output(x.transpose(1, 2)).log_softmax(dim=-1), lengths

    def _chunks(self, x: torch.Tensor, lengths: torch.Tensor, chunk: int) -> torch.Tensor:
        """The blocks over front-end outputs ``[N, C, T]`` in chunks of ``chunk`` frames, each with its right
        context (the class's doc): ``[N, C, T]``."""
        if chunk < 1:
            raise ValueError(f"a chunk must be at least 1 output frame, not {chunk}")
        (n, c, t), r = x.shape, self.lookahead
        chunks = -(-t // chunk)
        x = nn.functional.pad(x, (0, chunks * chunk - t))
        rc = nn.functional.pad(x, (0, r))[:, :, chunk:].unfold(2, r, chunk) if r else x.new_zeros(n, c, chunks, 0)
        frames = torch.arange(chunks * chunk, device=x.device)
        mask = (frames.unsqueeze(0) >= lengths.unsqueeze(1)).unsqueeze(1)  # [N, 1, T]: padding
        rc_frames = (torch.arange(1, chunks + 1, device=x.device) * chunk).unsqueeze(1) + torch.arange(r, device=x.device)
        rc_mask = (rc_frames.unsqueeze(0) >= lengths.view(-1, 1, 1)).unsqueeze(1)  # [N, 1, chunks, R]
        for block in self.blocks:
            left = block.pad[0]
            xm, rcm = x.masked_fill(mask, 0.0), rc.masked_fill(rc_mask, 0.0)
            windows = torch.cat([nn.functional.pad(xm, (left, 0)).unfold(2, left + chunk, chunk), rcm], dim=3)
            flat = lambda v: v.transpose(1, 2).reshape(n * chunks, c, v.size(-1))  # noqa: E731  [N*chunks, C, L]
            y, rc_y = block.chunks(flat(windows), flat(x.reshape(n, c, chunks, chunk)), flat(rc))
            x = y.view(n, chunks, c, chunk).transpose(1, 2).reshape(n, c, chunks * chunk)
            rc = rc_y.view(n, chunks, c, r).transpose(1, 2)
        return x[:, :, :t]

    @property
    def subsampling_factor(self) -> int:
        """Input frames per output frame."""
        return 8

    def init_stream(self, chunk_frames: int | None = None) -> list:
        """A new stream's state (a streaming model only; a chunked one streams in chunks of ``chunk_frames``)."""
        if not self.streaming:
            raise ValueError("this tdnn was not built to stream: give it model.streaming (conf/streaming.yaml)")
        if not self.chunked:
            return [self.subsampling.conv.init_stream(), None]
        if chunk_frames is None or chunk_frames < 1:
            raise ValueError(f"a chunked tdnn streams in chunks of at least 1 output frame, not {chunk_frames}")
        param = self.output.weight
        channels = self.output.in_features
        return [self.subsampling.conv.init_stream(), param.new_zeros(1, channels, 0),
                [param.new_zeros(1, channels, b.pad[0]) for b in self.blocks],
                torch.full((1,), chunk_frames, dtype=torch.int64, device=param.device)]

    def stream(self, feats: torch.Tensor, state: list, final: bool = False) -> tuple[torch.Tensor, list]:
        """CTC log-probs ``[N, T', V]`` of the output frames that the next feature frames ``[N, T, F]`` (``T`` a
        multiple of 8) complete, and the new state; with ``final`` also the last ones (a chunked model's
        last chunks see zeros after the stream's end)."""
        if self.chunked:
            return self._stream_chunks(feats, state, final)
        cache, bufs = state
        x, cache = self._stream_frontend(feats, cache)
        bufs = bufs or [block.init_stream(x) for block in self.blocks]
        new_bufs = []
        for block, buf in zip(self.blocks, bufs):
            x, buf = block.stream(x, buf, final)
            new_bufs.append(buf)
        return self.output(x.transpose(1, 2)).log_softmax(dim=-1), [cache, new_bufs]

    def _stream_frontend(self, feats: torch.Tensor, cache: list) -> tuple[torch.Tensor, list]:
        """Front-end outputs ``[N, C, T / 8]`` of the next feature frames and the front-end's new cache."""
        if not feats.size(1):
            return feats.new_zeros(feats.size(0), self.output.in_features, 0), cache
        x, cache = self.subsampling.conv.stream(feats, cache)
        return x.transpose(1, 2), cache

    def _stream_chunks(self, feats: torch.Tensor, state: list, final: bool) -> tuple[torch.Tensor, list]:
        """:meth:`stream` of a chunked model: every chunk whose right context has come in (with ``final``,
        every frame left), from the front-end outputs kept until then."""
        cache, pending, lefts, chunk_t = state
        x, cache = self._stream_frontend(feats, cache)
        pending, chunk, r = torch.cat([pending, x], dim=2), int(chunk_t[0]), self.lookahead
        ready = pending.size(2) if final else max(0, pending.size(2) - r) // chunk * chunk
        outs = []
        for start in range(0, ready, chunk):
            y = pending[:, :, start: min(start + chunk, ready)]
            y, lefts = self.chunk_step(y, pending[:, :, start + y.size(2): start + y.size(2) + r], lefts)
            outs.append(y)
        y = torch.cat(outs, dim=2) if outs else pending[:, :, :0]
        return self.output(y.transpose(1, 2)).log_softmax(dim=-1), [cache, pending[:, :, ready:], lefts, chunk_t]

    def chunk_step(self, y: torch.Tensor, rc: torch.Tensor, lefts: list[torch.Tensor]) -> tuple[torch.Tensor, list]:
        """A chunked model's blocks over one chunk of front-end outputs ``[N, C, K]`` with the right-context
        frames after it ``[N, C, R']`` (fewer than ``lookahead`` at the stream's end: zeros for the rest, at
        every block, as in :meth:`forward`) and each block's left context ``[N, C, left]``: the chunk's outputs
        ``[N, C, K]`` and the blocks' new left contexts."""
        r = self.lookahead
        after_end = torch.arange(r, device=rc.device) >= rc.size(2)
        rc = nn.functional.pad(rc, (0, r - rc.size(2)))
        new_lefts = []
        for block, left in zip(self.blocks, lefts):
            rc = rc.masked_fill(after_end, 0.0)
            windows = torch.cat([left, y, rc], dim=2)
            new_lefts.append(windows[:, :, windows.size(2) - r - left.size(2): windows.size(2) - r])
            y, rc = block.chunks(windows, y, rc)
        return y, new_lefts
