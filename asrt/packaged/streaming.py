"""A stream of audio through a packaged streaming model: online features, the model chunk by chunk, greedy
pinyin and the HLG search advanced per chunk, partial results after every chunk and a committed result at
each endpoint (``decode.streaming`` in the model's metadata, asrt/conf/decode.yaml).

The model keeps its context across endpoints (it is one stream of audio); the searches start afresh.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from asrt.config import Section
from asrt.decode.streaming import (
    EndpointRule, GreedyStream, HlgStream, endpoint_reached, endpoint_rules, frames_to_endpoint,
)
from asrt.features.online import OnlineFeatures, check_streamable
from asrt.models.streaming import ChunkStream, accept_chunks
from asrt.names import SAMPLE_RATE

FRAME_SECONDS = 0.01  # feature frame shift


@dataclass
class StreamResult:
    """A result of a stream: ``final`` for a committed segment (at an endpoint or at the end), else the
    segment's text so far. ``start``/``end``: the segment's span in seconds of the stream."""

    final: bool
    pinyin: list[str]
    text: str
    start: float
    end: float


class RecognitionStream:
    """One client's audio, recognised as it arrives: :meth:`accept` samples, :meth:`finish` at the end."""

    def __init__(self, recognizer, chunk_frames: int | None = None,
                 rules: list[EndpointRule] | None = None) -> None:
        """``recognizer``: an :class:`asrt.packaged.recognizer.Recognizer` (``Recognizer.stream()`` makes one).
        ``chunk_frames`` and ``rules`` (``[]``: no endpoints) default to the model's ``decode.streaming``."""
        if recognizer.model is None:
            raise ValueError("streaming recognition runs the PyTorch model (model.pt), not model.onnx")
        streaming = Section("decode.streaming", recognizer.metadata["decode"]["streaming"])
        check_streamable(recognizer.metadata["features"])
        self._recognizer = recognizer
        self._rules = endpoint_rules(streaming) if rules is None else rules
        self._features = OnlineFeatures(recognizer.extractor)
        chunk_frames = int(chunk_frames or streaming["chunk_frames"])
        self._model = ChunkStream(recognizer.model, chunk_frames, recognizer.chunk_step(chunk_frames))
        self._frame_seconds = FRAME_SECONDS * recognizer.model.encoder.subsampling_factor
        self._segment_start = 0.0
        self._new_segment()

    def _new_segment(self) -> None:
        self._greedy = GreedyStream()
        self._search = HlgStream(self._recognizer.decoder)

    def _result(self, final: bool) -> StreamResult:
        tokens = self._recognizer.tokens
        pinyin = tokens.decode(self._greedy.tokens) if tokens.units.is_pinyin else []
        end = self._segment_start + self._greedy.num_frames * self._frame_seconds
        return StreamResult(final, pinyin, "".join(self._search.words(final)), self._segment_start, end)

    def _decode(self, log_probs: torch.Tensor, between_steps: Callable[[], None] | None) -> list[StreamResult]:
        """Feed output frames to the searches, in one piece up to each endpoint; the results they give."""
        x, results = log_probs.cpu().numpy(), []
        while len(x):
            n = frames_to_endpoint(self._rules, self._greedy, x, self._frame_seconds)
            self._greedy.accept(x[:n])
            self._search.accept(x[:n], between_steps)
            x = x[n:]
            if endpoint_reached(self._rules, self._greedy, self._frame_seconds):  # silence alone is dropped
                result = self._result(final=True)
                if result.pinyin or result.text:
                    results.append(result)
                self._segment_start = result.end
                self._new_segment()
        return results

    def accept(self, samples: np.ndarray, between_steps: Callable[[], None] | None = None) -> list[StreamResult]:
        """Add 16 kHz mono float samples; return the segments they commit, then the current partial result
        when the model produced output frames."""
        return accept_streams([self], [samples], between_steps)[0]

    def _results(self, log_probs: torch.Tensor, between_steps: Callable[[], None] | None) -> list[StreamResult]:
        results = self._decode(log_probs, between_steps)
        if len(log_probs) and self._greedy.num_frames:
            results.append(self._result(final=False))
        return results

    def finish(self, between_steps: Callable[[], None] | None = None) -> list[StreamResult]:
        """The audio ended: the segments left, the last one committed (with empty text if nothing is)."""
        feats = torch.from_numpy(self._features.finish())
        log_probs = torch.cat([self._model.accept(feats), self._model.finish()])
        results = self._decode(log_probs, between_steps)
        if self._greedy.num_frames or not results:
            results.append(self._result(final=True))
        return results

    @property
    def seconds(self) -> float:
        """Audio received so far."""
        return self._features.num_samples / SAMPLE_RATE


def accept_streams(streams: Sequence[RecognitionStream], samples: Sequence[np.ndarray],
                   between_steps: Callable[[], None] | None = None) -> list[list[StreamResult]]:
    """:meth:`RecognitionStream.accept` for several streams of one recognizer, each with its samples: their
    model chunks share forward passes (:func:`asrt.models.streaming.accept_chunks`), which is how a server
    worker keeps up with many streams."""
    feats = [torch.from_numpy(s._features.accept(x)) for s, x in zip(streams, samples)]
    log_probs = accept_chunks([s._model for s in streams], feats)
    return [s._results(lp, between_steps) for s, lp in zip(streams, log_probs)]
