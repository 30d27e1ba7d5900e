"""The chunk contract of streaming models: feature frames in as they arrive, CTC log-probs out as soon as
the model's lookahead allows, with a cost per chunk that does not grow with the stream.

A streaming encoder (``model.streaming`` in its config: :class:`asrt.models.tdnn.TdnnCtc`,
:class:`asrt.models.conformer.ConformerCtc`) has ``streaming = True``, ``subsampling_factor``, ``lookahead``
(output frames), ``init_stream(chunk_frames)`` and ``stream(feats, state, final)``. The causal tdnn's outputs
streamed in chunks of any size equal its outputs over the whole utterance; a ``chunked`` encoder's (the
conformer's chunk attention, the chunked tdnn's chunks with right context) equal the whole utterance's under
the chunk mask of the same size (``forward(..., chunk_frames=C)``; tests/test_streaming.py). A chunked
encoder's first chunk waits for its ``lookahead`` frames too (:func:`first_chunk_frames`); the conformer is
given one chunk per pass. Either way one model decodes offline and in any chunk size.

A state is tensors (in lists, or None) whose first dimension is the batch: the chunks of several streams
that have the same shapes go through the model in one pass (:func:`accept_chunks`), which is what lets one
worker serve many streams (the cost of a small chunk is mostly per pass, not per stream).
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Callable, Sequence

import torch

from asrt.models import CtcModel


def is_streaming(model: CtcModel) -> bool:
    """Whether ``model`` was built to stream (``model.streaming`` in its config)."""
    return bool(getattr(model.encoder, "streaming", False))


def first_chunk_frames(model: CtcModel, chunk_frames: int) -> int:
    """Feature frames a stream needs before its first chunk of ``chunk_frames`` output frames can be
    computed: a chunked encoder's first chunk also needs the ``lookahead`` frames after it (a causal one
    gives out what it completes as it goes)."""
    encoder = model.encoder
    lead = encoder.lookahead if getattr(encoder, "chunked", False) else 0
    return encoder.subsampling_factor * (chunk_frames + lead)


class ChunkStream:
    """One stream through a streaming :class:`CtcModel`: raw feature frames in (:meth:`accept`), the
    log-probs ``[T', V]`` of the output frames they complete out, ``chunk_frames`` output frames at a time."""

    def __init__(self, model: CtcModel, chunk_frames: int, fast_step: Callable | None = None) -> None:
        """``fast_step`` (optional) runs whole chunks in the steady state faster than the encoder's own ``stream``
        with the same results (``fast_step.fits(x, state)``, ``fast_step(x, state)``:
        :class:`asrt.packaged.chunk_onnx.OnnxChunkStep`)."""
        if not is_streaming(model):
            raise ValueError("this model does not stream: train one with model.streaming (conf/streaming.yaml)")
        if model.utterance_mean:
            raise ValueError("model.feature_norm utterance needs the whole utterance: a streaming model uses global")
        if chunk_frames < 1:
            raise ValueError(f"decode.streaming.chunk_frames must be at least 1, not {chunk_frames}")
        self.model = model
        self.step = model.encoder.subsampling_factor * chunk_frames  # feature frames per chunk
        self._fast_step = fast_step
        param = model.feat_mean
        self._pending = torch.zeros(0, param.numel(), dtype=param.dtype, device=param.device)
        self._first = first_chunk_frames(model, chunk_frames)  # until the first chunk has gone in
        self._state = model.encoder.init_stream(chunk_frames)

    def _take(self, feats: torch.Tensor) -> torch.Tensor:
        """Add the next feature frames ``[T, F]``; the whole chunks now complete (the first with the frames
        its lookahead needs), normalised."""
        self._pending = torch.cat([self._pending, feats.to(self._pending)])
        lead = self._first - self.step
        if self._pending.size(0) < self._first:
            return self._pending[:0]
        ready = lead + (self._pending.size(0) - lead) // self.step * self.step
        self._first = self.step
        chunk, self._pending = self._pending[:ready], self._pending[ready:]
        return (chunk - self.model.feat_mean) / self.model.feat_std

    def accept(self, feats: torch.Tensor) -> torch.Tensor:
        """Take the next feature frames ``[T, F]``; return the log-probs of every whole chunk now complete
        (``[0, V]`` while the current chunk is not)."""
        return accept_chunks([self], [feats])[0]

    @torch.inference_mode()
    def finish(self) -> torch.Tensor:
        """The stream ended: the log-probs of the output frames left (the last partial chunk, floored to
        whole output frames as offline decoding floors them, and the lookahead frames)."""
        factor = self.model.encoder.subsampling_factor
        usable = self._pending.size(0) // factor * factor
        x = (self._pending[:usable] - self.model.feat_mean) / self.model.feat_std
        self._pending = self._pending[:0]
        return _run(self.model, [self], x.unsqueeze(0), final=True)[0]


@torch.inference_mode()
def accept_chunks(streams: Sequence[ChunkStream], feats: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """:meth:`ChunkStream.accept` of each stream (all of one model) with its next feature frames: the
    streams whose chunks and states have the same shapes share a forward pass (equal to one at a time
    within float rounding)."""
    chunks = [s._take(f) for s, f in zip(streams, feats)]
    groups: dict[tuple, list[int]] = defaultdict(list)
    for i, (s, chunk) in enumerate(zip(streams, chunks)):
        groups[(chunk.shape, state_shapes(s._state))].append(i)
    out: list[torch.Tensor] = [None] * len(streams)  # type: ignore[list-item]
    model, step = streams[0].model, streams[0].step
    for members in groups.values():
        x = torch.stack([chunks[i] for i in members])
        group = [streams[i] for i in members]
        if getattr(model.encoder, "chunked", False) and x.size(1) > step:  # one chunk per pass
            log_probs = torch.cat([_run(model, group, x[:, t:t + step], final=False)
                                   for t in range(0, x.size(1), step)], dim=1)
        else:
            log_probs = _run(model, group, x, final=False)
        for i, lp in zip(members, log_probs):
            out[i] = lp
    return out


def _run(model: CtcModel, streams: list[ChunkStream], x: torch.Tensor, final: bool) -> torch.Tensor:
    """The encoder over normalised chunks ``[N, T, F]`` of ``streams`` (states of the same shapes), their
    states advanced; the log-probs ``[N, T', V]``."""
    state = streams[0]._state if len(streams) == 1 else _stack([s._state for s in streams])
    fast = streams[0]._fast_step
    if fast is not None and not final and fast.fits(x, state):
        log_probs, state = fast(x, state)
    else:
        log_probs, state = model.encoder.stream(x, state, final)
    for s, part in zip(streams, [state] if len(streams) == 1 else _unstack(state, len(streams))):
        s._state = part
    return log_probs


def state_shapes(state: Any) -> Any:
    """A state's structure and per-stream shapes (streams batch together when theirs are equal)."""
    if isinstance(state, torch.Tensor):
        return tuple(state.shape[1:])
    return None if state is None else tuple(state_shapes(s) for s in state)


def flatten_state(state: Any) -> list[torch.Tensor]:
    """A state's tensors in order (for a runtime that takes flat inputs)."""
    if isinstance(state, torch.Tensor):
        return [state]
    return [] if state is None else [t for part in state for t in flatten_state(part)]


def rebuild_state(template: Any, tensors: list) -> Any:
    """``tensors`` (in :func:`flatten_state`'s order; consumed) in the structure of ``template``."""
    if isinstance(template, torch.Tensor):
        return tensors.pop(0)
    return None if template is None else [rebuild_state(part, tensors) for part in template]


def _stack(states: list) -> Any:
    """States of the same structure as one batched state."""
    if isinstance(states[0], torch.Tensor):
        return torch.cat(states)
    return None if states[0] is None else [_stack([s[i] for s in states]) for i in range(len(states[0]))]


def _unstack(state: Any, n: int) -> list:
    """A batched state of ``n`` streams as theirs."""
    if isinstance(state, torch.Tensor):
        return list(state.split(1))
    if state is None:
        return [None] * n
    parts = [_unstack(s, n) for s in state]
    return [[p[i] for p in parts] for i in range(n)]
