"""The chunk contract of streaming models: feature frames in as they arrive, CTC log-probs out as soon as
the model's lookahead allows, with a cost per chunk that does not grow with the stream.

A streaming encoder (``model.streaming`` in its config; today the tdnn, :class:`asrt.models.tdnn.TdnnCtc`)
has ``streaming = True``, ``subsampling_factor``, ``lookahead`` (output frames), ``init_stream()`` and
``stream(feats, state, final)``. Its outputs streamed in chunks of any size equal its outputs over the
whole utterance (tests/test_streaming.py), so one model decodes offline and in any chunk size.
"""
from __future__ import annotations

import torch

from asrt.models import CtcModel


def is_streaming(model: CtcModel) -> bool:
    """Whether ``model`` was built to stream (``model.streaming`` in its config)."""
    return bool(getattr(model.encoder, "streaming", False))


class ChunkStream:
    """One stream through a streaming :class:`CtcModel`: raw feature frames in (:meth:`accept`), the
    log-probs ``[T', V]`` of the output frames they complete out, ``chunk_frames`` output frames at a time."""

    def __init__(self, model: CtcModel, chunk_frames: int) -> None:
        if not is_streaming(model):
            raise ValueError("this model does not stream: train one with model.streaming (conf/streaming.yaml)")
        if model.utterance_mean:
            raise ValueError("model.feature_norm utterance needs the whole utterance: a streaming model uses global")
        if chunk_frames < 1:
            raise ValueError(f"decode.streaming.chunk_frames must be at least 1, not {chunk_frames}")
        self.model = model
        self.step = model.encoder.subsampling_factor * chunk_frames  # feature frames per chunk
        param = model.feat_mean
        self._pending = torch.zeros(0, param.numel(), dtype=param.dtype, device=param.device)
        self._state = model.encoder.init_stream()

    @torch.inference_mode()
    def _run(self, feats: torch.Tensor, final: bool) -> torch.Tensor:
        x = ((feats - self.model.feat_mean) / self.model.feat_std).unsqueeze(0)
        log_probs, self._state = self.model.encoder.stream(x, self._state, final)
        return log_probs[0]

    def accept(self, feats: torch.Tensor) -> torch.Tensor:
        """Take the next feature frames ``[T, F]``; return the log-probs of every whole chunk now complete
        (``[0, V]`` while the current chunk is not)."""
        self._pending = torch.cat([self._pending, feats.to(self._pending)])
        ready = self._pending.size(0) // self.step * self.step
        chunk, self._pending = self._pending[:ready], self._pending[ready:]
        return self._run(chunk, final=False)

    def finish(self) -> torch.Tensor:
        """The stream ended: the log-probs of the output frames left (the last partial chunk, floored to
        whole output frames as offline decoding floors them, and the lookahead frames)."""
        factor = self.model.encoder.subsampling_factor
        usable = self._pending.size(0) // factor * factor
        log_probs = self._run(self._pending[:usable], final=True)
        self._pending = self._pending[:0]
        return log_probs
