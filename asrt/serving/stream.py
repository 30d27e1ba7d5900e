"""Recognition of audio that arrives in chunks (gRPC ``Stream``): partial results while a segment
grows, committed results when it is cut.

The audio of the current segment is kept and recognised again as it grows, at most once per
``partial_every_seconds`` of new audio (so that a client sending tiny chunks cannot make the server
decode the same audio thousands of times). When a segment exceeds ``segment_seconds`` it is cut at its
quietest point near the limit; the text before the cut is committed and the rest starts the next one.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from asrt.names import SAMPLE_RATE
from asrt.packaged.recognizer import split_points
from asrt.serving.protocol import OK, PARTIAL


class StreamSegmenter:
    """Turns chunks of 16 kHz mono audio into ``(status_code, text)`` results: ``PARTIAL`` for the
    text so far of the growing segment, ``OK`` for a committed segment."""

    def __init__(self, recognize: Callable[[np.ndarray], str], segment_seconds: float = 10.0,
                 partial_every_seconds: float = 0.5) -> None:
        self._recognize = recognize
        self.segment_seconds = segment_seconds
        self._partial_every = int(partial_every_seconds * SAMPLE_RATE)
        self._segment = np.zeros(0, dtype=np.float32)
        self._unreported = 0  # samples received since the last partial result

    def feed(self, samples: np.ndarray) -> list[tuple[int, str]]:
        """Add a chunk; return the results it completes (committed segments first, then a partial)."""
        self._segment = np.concatenate([self._segment, samples.astype(np.float32, copy=False)])
        self._unreported += len(samples)
        results = []
        cuts = split_points(self._segment, SAMPLE_RATE, self.segment_seconds)
        for start, end in zip([0, *cuts[:-1]], cuts):
            results.append((OK, self._recognize(self._segment[start:end])))
        if cuts:
            self._segment = self._segment[cuts[-1]:]
        if self._unreported >= self._partial_every and len(self._segment):
            results.append((PARTIAL, self._recognize(self._segment)))
            self._unreported = 0
        return results

    def finish(self) -> tuple[int, str]:
        """The client closed its side: commit what is left (an empty text if nothing is)."""
        text = self._recognize(self._segment) if len(self._segment) else ""
        self._segment = np.zeros(0, dtype=np.float32)
        self._unreported = 0
        return OK, text
