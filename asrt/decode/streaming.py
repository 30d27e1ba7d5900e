"""Decoding that never goes back: CTC log-probs arrive chunk by chunk, partial results after every chunk,
a segment's text committed at an endpoint.

Greedy CTC keeps the last frame's best token; the HLG search is one kaldi-decoder ``FasterDecoder``
advanced over each chunk (``DecodableCtc`` with the chunk's frame offset), so a chunk's cost depends on
the chunk, not on how long the stream has run. Both give, chunk by chunk, exactly what they give over the
whole segment at once (tests/test_streaming.py). Endpoints follow sherpa-onnx's rules: trailing silence
(frames whose best token is the blank) after nothing, after something, and a maximum segment length.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import kaldi_decoder
import kaldifst
import numpy as np

from asrt.config import Section
from asrt.decode.greedy import as_matrix
from asrt.decode.search import SEARCH_STEP_FRAMES, HlgDecoder
from asrt.names import BLANK_ID


@dataclass(frozen=True)
class EndpointRule:
    """An endpoint when the segment has ``min_trailing_silence`` seconds of trailing silence, is at least
    ``min_utterance_length`` seconds long, and (with ``must_contain_nonsilence``) has recognised something."""

    must_contain_nonsilence: bool
    min_trailing_silence: float
    min_utterance_length: float

    def holds(self, trailing_silence: float, length: float, nonsilence: bool) -> bool:
        return ((nonsilence or not self.must_contain_nonsilence) and trailing_silence >= self.min_trailing_silence
                and length >= self.min_utterance_length)


def endpoint_rules(streaming_cfg: Mapping) -> list[EndpointRule]:
    """The rules of a ``decode.streaming`` section (``endpoint_rules``); a rule of zero silence and
    zero length would end every frame, and is refused."""
    rules = []
    for i, rule in enumerate(Section("decode.streaming", streaming_cfg)["endpoint_rules"]):
        r = Section(f"decode.streaming.endpoint_rules[{i}]", rule)
        rules.append(EndpointRule(bool(r["must_contain_nonsilence"]), float(r["min_trailing_silence"]),
                                  float(r["min_utterance_length"])))
        if rules[-1].min_trailing_silence <= 0 and rules[-1].min_utterance_length <= 0:
            raise ValueError(f"decode.streaming.endpoint_rules[{i}] would end every segment at once: give it a "
                             "min_trailing_silence or min_utterance_length above 0")
    return rules


def endpoint_reached(rules: list[EndpointRule], greedy: "GreedyStream", frame_seconds: float) -> bool:
    """Whether the segment that ``greedy`` has read ends here under any of ``rules``."""
    silence, length = greedy.trailing_blanks * frame_seconds, greedy.num_frames * frame_seconds
    return any(rule.holds(silence, length, bool(greedy.tokens)) for rule in rules)


def frames_to_endpoint(rules: list[EndpointRule], greedy: "GreedyStream", log_probs: np.ndarray,
                       frame_seconds: float) -> int:
    """How many of the next frames ``log_probs`` the segment that ``greedy`` has read takes: up to and including
    the first at which an endpoint rule holds, else all of them (so that the searches advance in one piece)."""
    best = as_matrix(log_probs).argmax(axis=1).tolist()
    if not rules:
        return len(best)
    trailing, frames, nonsilence = greedy.trailing_blanks, greedy.num_frames, bool(greedy.tokens)
    for i, t in enumerate(best):
        nonsilence = nonsilence or t != BLANK_ID
        trailing, frames = (trailing + 1 if t == BLANK_ID else 0), frames + 1
        if any(r.holds(trailing * frame_seconds, frames * frame_seconds, nonsilence) for r in rules):
            return i + 1
    return len(best)


class GreedyStream:
    """Greedy CTC over a segment's frames as they arrive: its tokens, and what the endpoint rules read."""

    def __init__(self) -> None:
        self.tokens: list[int] = []
        self.num_frames = 0
        self.trailing_blanks = 0  # frames since the last non-blank best token (all of them: nothing yet)
        self._last = BLANK_ID

    def accept(self, log_probs: np.ndarray) -> None:
        """Take the next frames ``[T, V]``."""
        for t in as_matrix(log_probs).argmax(axis=1).tolist():
            if t != BLANK_ID and t != self._last:
                self.tokens.append(t)
            self.trailing_blanks = self.trailing_blanks + 1 if t == BLANK_ID else 0
            self._last = t
        self.num_frames += len(log_probs)


class HlgStream:
    """One segment's Viterbi search of an :class:`HlgDecoder`'s graph, advanced chunk by chunk.

    kaldi-decoder's ``SimpleDecoder`` (the decoder's ``beam``, no ``max_active``): on 60 s of mini_cmn speech
    with the default's word-LM graph it takes 0.00035 of real time where ``FasterDecoder`` takes 0.018-0.030
    whatever its beam and ``max_active``, for the same words (docs/streaming.md)."""

    def __init__(self, decoder: HlgDecoder) -> None:
        self._decoder = decoder
        self._search = kaldi_decoder.SimpleDecoder(decoder.fst, decoder.beam)
        self._search.init_decoding()
        self.num_frames = 0

    def accept(self, log_probs: np.ndarray, between_steps: Callable[[], None] | None = None) -> None:
        """Advance the search over the next frames ``[T, V]``; ``between_steps`` (it raises to stop) is
        called every :data:`SEARCH_STEP_FRAMES` frames."""
        x = self._decoder.scaled(log_probs)
        for start in range(0, len(x), SEARCH_STEP_FRAMES):
            if between_steps is not None:
                between_steps()
            step = x[start: start + SEARCH_STEP_FRAMES]
            self._search.advance_decoding(kaldi_decoder.DecodableCtc(step, offset=self.num_frames))
            self.num_frames += len(step)

    def words(self, final: bool = False) -> list[str]:
        """The best path's words so far; ``final`` (at the segment's end) prefers paths that end in a final
        state of the graph, as the offline search does."""
        if self.num_frames == 0:
            return []
        ok, best_path = self._search.get_best_path(use_final_probs=final)
        if not ok:
            return []
        ok, _, word_ids, _ = kaldifst.get_linear_symbol_sequence(best_path)
        return self._decoder.words(word_ids) if ok else []
