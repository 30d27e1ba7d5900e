"""Recognition of audio that arrives in chunks with a model that does not stream (gRPC ``Stream``, the
WebSocket ``/v1/stream``): partial results while a segment grows, committed results when it is cut.

The audio of the current segment is kept and recognised again as it grows, at most once per
``partial_every_seconds`` of new audio (so that a client sending tiny chunks cannot make the server
decode the same audio thousands of times), and less often when a recognition takes longer than that. When a
segment exceeds ``segment_seconds`` it is cut at its quietest point near the limit; the text before the cut
is committed and the rest starts the next one. With ``endpoint_silence_seconds`` a segment is also committed
once its speech is followed by that much silence (a level endpoint: the speaker stopped), and silence before
any speech is not kept (nor recognised).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from asrt.names import SAMPLE_RATE
from asrt.packaged.recognizer import split_points

FRAME = SAMPLE_RATE // 100  # 10 ms level frames
SPEECH_FLOOR_DB = -50.0  # a frame below this level (dB of full scale) is silence whatever came before
SPEECH_RANGE_DB = 35.0  # ... and so is one this far below the loudest frame of the stream
LEAD_SECONDS = 0.3  # silence kept before speech, so that its first syllable is whole


@dataclass
class Segment:
    """A result of :class:`StreamSegmenter`: ``final`` for a committed segment, else the growing segment's
    result so far (``result``: what ``recognize`` returned; None for an empty segment); ``start``/``end``:
    its span in seconds of the stream."""

    final: bool
    result: Any
    start: float
    end: float


def frame_levels(samples: np.ndarray) -> np.ndarray:
    """Level of each whole 10 ms frame of float samples, in dB of full scale."""
    frames = samples[: len(samples) // FRAME * FRAME].reshape(-1, FRAME).astype(np.float64)
    return 10 * np.log10((frames ** 2).mean(axis=1) + 1e-12)


class StreamSegmenter:
    """Turns chunks of 16 kHz mono audio into :class:`Segment` results: partial ones for the growing
    segment, final ones for committed segments."""

    def __init__(self, recognize: Callable[[np.ndarray], Any], segment_seconds: float = 10.0,
                 partial_every_seconds: float = 0.5, endpoint_silence_seconds: float | None = None) -> None:
        self._recognize = recognize
        self.segment_seconds = segment_seconds
        self._partial_every = int(partial_every_seconds * SAMPLE_RATE)
        self._next_partial = self._partial_every
        self._endpoint = None if endpoint_silence_seconds is None else int(endpoint_silence_seconds * 100)
        self._segment = np.zeros(0, dtype=np.float32)
        self._offset = 0  # stream sample of the segment's first sample
        self._unreported = 0  # samples received since the last partial result
        self._peak_db = SPEECH_FLOOR_DB

    def _cut(self, end: int) -> Segment:
        """Commit the segment's first ``end`` samples."""
        piece = self._segment[:end]
        result = Segment(True, self._recognize(piece) if len(piece) else None, self._offset / SAMPLE_RATE,
                         (self._offset + end) / SAMPLE_RATE)
        self._segment, self._offset = self._segment[end:], self._offset + end
        return result

    def _speech_frames(self) -> np.ndarray:
        """Indices of the segment's 10 ms frames that hold speech (by level)."""
        levels = frame_levels(self._segment)
        if len(levels):
            self._peak_db = max(self._peak_db, float(levels.max()))
        return np.flatnonzero(levels > max(SPEECH_FLOOR_DB, self._peak_db - SPEECH_RANGE_DB))

    def _endpoint_cut(self) -> tuple[int | None, bool]:
        """(where to commit the segment, whether it holds speech); drops silence before any speech."""
        speech = self._speech_frames()
        if not len(speech):
            keep = int(LEAD_SECONDS * SAMPLE_RATE)
            if len(self._segment) > 2 * keep:
                drop = len(self._segment) - keep
                self._segment, self._offset = self._segment[drop:], self._offset + drop
            return None, False
        silent_frames = len(self._segment) // FRAME - 1 - int(speech[-1])
        if silent_frames < self._endpoint:
            return None, True
        return (int(speech[-1]) + 1 + self._endpoint // 2) * FRAME, True

    def feed(self, samples: np.ndarray) -> list[Segment]:
        """Add a chunk; return the results it completes (committed segments first, then a partial)."""
        self._segment = np.concatenate([self._segment, samples.astype(np.float32, copy=False)])
        self._unreported += len(samples)
        results = []
        cuts = split_points(self._segment, SAMPLE_RATE, self.segment_seconds)
        for start, end in zip([0, *cuts[:-1]], cuts):
            results.append(self._cut(end - start))
        has_speech = True
        if self._endpoint is not None:
            cut, has_speech = self._endpoint_cut()
            if cut is not None:
                results.append(self._cut(cut))
                self._unreported, has_speech = 0, False
        if self._unreported >= self._next_partial and len(self._segment) and has_speech:
            began = time.monotonic()
            results.append(Segment(False, self._recognize(self._segment), self._offset / SAMPLE_RATE,
                                   (self._offset + len(self._segment)) / SAMPLE_RATE))
            # A recognition slower than the partials' pace would fall behind the audio: space them out.
            self._next_partial = max(self._partial_every, int(2 * (time.monotonic() - began) * SAMPLE_RATE))
            self._unreported = 0
        return results

    def finish(self) -> Segment:
        """The client closed its side: commit what is left (``result`` None if nothing is; with endpoints,
        if it is silence)."""
        if self._endpoint is not None and not len(self._speech_frames()):
            self._segment = self._segment[:0]
        self._unreported = 0
        return self._cut(len(self._segment))
