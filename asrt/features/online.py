"""Features computed as audio arrives, equal to the whole-utterance features that training used.

Every streamable extractor (lhotse's fbank, ASRT's log spectrogram) computes each 10 ms frame from its own
25 ms window alone, with frames placed as Kaldi's ``snip_edges=false`` places them: frame ``i`` reads
samples ``[160 i - 120, 160 i + 280)``, mirrored at the edges, and ``N`` samples give ``(N + 80) // 160``
frames. So the extractor run over the audio from sample ``160 (i - 1)`` gives frame ``i`` and every later
frame whose window has fully arrived exactly as it gives them over the whole utterance; only the last
frames, whose windows reach past the end, wait for :meth:`OnlineFeatures.finish`. The pitch features
(``features.pitch``) normalise over the utterance and do not stream.
"""
from __future__ import annotations

import numpy as np

from asrt.names import SAMPLE_RATE

HOP = SAMPLE_RATE // 100  # samples per frame
_WINDOW_END = HOP * 7 // 4  # a frame's window ends this many samples after the frame's own step starts


def check_streamable(features_cfg: dict) -> None:
    """Raise ValueError when the ``features`` config cannot be computed as audio arrives."""
    if features_cfg.get("pitch"):
        raise ValueError("pitch features (features.pitch: true) normalise over the whole utterance and do not "
                         "stream: a streaming model uses fbank without pitch")


class OnlineFeatures:
    """Feature frames of one stream of 16 kHz mono audio: :meth:`accept` returns the frames whose windows
    the audio so far completes, :meth:`finish` the rest."""

    def __init__(self, extractor) -> None:
        self.extractor = extractor
        self._buffer = np.zeros(0, dtype=np.float32)  # audio from sample HOP * (next frame - 1), or from 0
        self._offset = 0  # index of the audio's first sample in _buffer
        self._next = 0  # the next frame to return
        self.num_samples = 0  # audio received

    def _frames(self, last: int | None) -> np.ndarray:
        """Frames ``_next`` .. ``last`` (None: to the end of the audio) from the buffer."""
        feats = self.extractor.extract(self._buffer, SAMPLE_RATE)
        first = 0 if self._next == 0 else 1  # the buffer starts one frame before _next after the first call
        stop = None if last is None else last - self._next + first + 1
        return feats[first:stop]

    def accept(self, samples: np.ndarray) -> np.ndarray:
        """Add audio; return the new frames ``[T, F]`` (none until a window is complete)."""
        self._buffer = np.concatenate([self._buffer, np.asarray(samples, dtype=np.float32)])
        self.num_samples += len(samples)
        last = (self.num_samples - _WINDOW_END) // HOP  # the last frame whose window has arrived
        if last < self._next:
            return np.zeros((0, self.extractor.feature_dim(SAMPLE_RATE)), dtype=np.float32)
        feats = self._frames(last)
        self._next = last + 1
        keep_from = HOP * last  # the buffer now starts one frame before _next
        self._buffer = self._buffer[keep_from - self._offset:]
        self._offset = keep_from
        return feats

    def finish(self) -> np.ndarray:
        """The audio ended: the frames left, mirrored at the end as the whole-utterance features are."""
        total = (self.num_samples + HOP // 2) // HOP
        if self._next >= total or self.num_samples < 2 * HOP:
            feats = np.zeros((0, self.extractor.feature_dim(SAMPLE_RATE)), dtype=np.float32)
        else:
            feats = self._frames(None)
        self._next, self._buffer = total, self._buffer[:0]
        return feats
