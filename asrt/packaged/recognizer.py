"""A packaged model, loaded once, that turns audio samples into pinyin and characters.

The pinyin is the greedy CTC output of a pinyin model (tonal, or toneless for ``toneless_pinyin``
units); a model of characters or sentencepiece pieces has none, and gives an empty list. The
characters always come from HLG decoding.

Used by ``asrt recognize``, the evaluation stage and the servers. Audio of any length is recognised
in pieces of at most ``max_chunk_seconds``, cut at the quietest 10 ms frame near each limit so that
pieces break in pauses rather than inside syllables.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from asrt.decode.greedy import ctc_greedy
from asrt.decode.search import HlgDecoder, PinyinDecoder
from asrt.lang.tokens import TokenTable
from asrt.models import MIN_FRAMES
from asrt.config import Section
from asrt.models.checkpoint import load_model
from asrt.names import MODEL_FILE, ONNX_MODEL_FILE, P2H_FILE, SAMPLE_RATE, TOKENS_FILE
from asrt.packaged.onnx_model import onnx_log_probs, onnx_session
from asrt.packaged.package import read_metadata

BACKENDS = ("torch", "onnx")
# Audio shorter than the models' shortest input (MIN_FRAMES feature frames of 10 ms) recognises to nothing;
# lhotse's extractor would fail on less than one 25 ms window.
MIN_SAMPLES = MIN_FRAMES * SAMPLE_RATE // 100


@dataclass
class Recognition:
    """One recognition result (``pinyin`` is empty for a model whose units are not pinyin)."""

    pinyin: list[str]
    text: str
    duration: float


def split_points(samples: np.ndarray, rate: int, max_seconds: float, search_seconds: float = 4.0) -> list[int]:
    """Sample indices at which to cut long audio: each piece is at most ``max_seconds`` long and ends in
    the lowest-energy 10 ms frame of its last ``search_seconds``."""
    hop = rate // 100
    limit = int(max_seconds * rate)
    cuts, start = [], 0
    while len(samples) - start > limit:
        lo = start + int((max_seconds - search_seconds) * rate)
        window = samples[lo: start + limit]
        frames = window[: len(window) // hop * hop].reshape(-1, hop)
        energy = (frames.astype(np.float64) ** 2).sum(axis=1)
        cut = lo + int(energy.argmin()) * hop + hop // 2
        cuts.append(cut)
        start = cut
    return cuts


class Recognizer:
    """Loads a packaged model directory (``asrt package`` output) for recognition on one device."""

    def __init__(self, model_dir: str | Path, device: str = "cpu", max_chunk_seconds: float = 20.0,
                 beam: float | None = None, max_active: int | None = None, backend: str = "torch") -> None:
        """``backend`` ``onnx`` runs ``model.onnx`` of an ``asrt export`` directory with onnxruntime (CPU)."""
        from asrt.features.extract import make_extractor

        model_dir = Path(model_dir)
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
        if backend == "onnx" and not (model_dir / ONNX_MODEL_FILE).is_file():
            raise FileNotFoundError(f"{model_dir} has no model.onnx; make one with asrt export")
        if backend == "torch" and not (model_dir / MODEL_FILE).is_file():
            raise FileNotFoundError(f"{model_dir} is not a packaged model directory (no model.pt); run stage 8")
        self.metadata = read_metadata(model_dir)
        self.device = torch.device(device)
        self.model, self.session = None, None
        if backend == "onnx":
            self.session = onnx_session(model_dir / ONNX_MODEL_FILE, torch.get_num_threads())
        else:
            self.model, _ = load_model(model_dir / MODEL_FILE, self.device)
        self.tokens = TokenTable(model_dir / TOKENS_FILE)
        self.decoder = HlgDecoder.from_dir(model_dir, self.metadata["decode"], beam=beam, max_active=max_active)
        # pinyin to characters (/language); models packaged before LG_pinyin.fst existed have none
        self.pinyin_decoder = PinyinDecoder.from_dir(model_dir, self.metadata["decode"]) \
            if self.tokens.units.is_pinyin and (model_dir / P2H_FILE).is_file() else None
        self.extractor = make_extractor(self.metadata["features"])
        self.max_chunk_seconds = max_chunk_seconds
        self._chunk_steps: dict[int, object] = {}  # chunk_frames -> ONNX Runtime step (chunk_step)

    @property
    def feature_dim(self) -> int:
        """The size of the feature vectors the model takes."""
        return self.extractor.feature_dim(SAMPLE_RATE)

    def decode_and_score(self, cuts, split_dir: Path, num_threads: int, desc: str = "decoding") -> dict[str, float]:
        """Stage 7's decoding and scoring of a cut set with features (:func:`asrt.decode.evaluate.decode_and_score`)
        by this model (PyTorch backend), its reports in ``split_dir``."""
        from asrt.decode.evaluate import decode_and_score  # stage 7's scoring: not needed to serve

        if self.model is None:
            raise ValueError("decoding stored features needs the PyTorch backend (model.pt)")
        return decode_and_score(self.model, cuts, self.tokens, self.decoder, split_dir, num_threads, desc)

    @torch.no_grad()
    def log_probs(self, samples: np.ndarray) -> np.ndarray:
        """CTC log-probs ``[T', V]`` of one piece of 16 kHz mono audio."""
        if len(samples) < MIN_SAMPLES:
            return np.zeros((0, len(self.tokens)), dtype=np.float32)
        feats = torch.from_numpy(self.extractor.extract(samples.astype(np.float32), SAMPLE_RATE))
        if feats.shape[0] < MIN_FRAMES:
            return np.zeros((0, len(self.tokens)), dtype=np.float32)
        if self.session is not None:
            lp, lens = onnx_log_probs(self.session, feats.unsqueeze(0).numpy(), np.array([feats.shape[0]], np.int64))
            return lp[0, : lens[0]]
        lp, lens = self.model(feats.unsqueeze(0).to(self.device), torch.tensor([feats.shape[0]], device=self.device))
        return lp[0, : lens[0]].cpu().numpy()

    def recognize(self, samples: np.ndarray, between_pieces: Callable[[], None] | None = None) -> Recognition:
        """Recognise 16 kHz mono float audio of any length (too short for one feature frame: nothing).
        ``between_pieces`` is called before each piece of long audio and as the search of each goes (a
        server's check whether the client still waits: it raises to stop)."""
        bounds = [0, *split_points(samples, SAMPLE_RATE, self.max_chunk_seconds), len(samples)]
        pinyin, words = [], []
        for start, end in zip(bounds[:-1], bounds[1:]):
            if between_pieces is not None:
                between_pieces()
            lp = self.log_probs(samples[start:end])
            if self.tokens.units.is_pinyin:
                pinyin += self.tokens.decode(ctc_greedy(lp))
            words += self.decoder.decode(lp, between_pieces)
        return Recognition(pinyin=pinyin, text="".join(words), duration=len(samples) / SAMPLE_RATE)

    def chunk_step(self, chunk_frames: int):
        """The ONNX Runtime step for whole chunks of ``chunk_frames`` output frames
        (:func:`asrt.packaged.chunk_onnx.onnx_chunk_step`, made once per size), or None: PyTorch runs them
        (``decode.streaming.runtime: torch``, onnxruntime missing, or a state that keeps changing shape)."""
        if chunk_frames not in self._chunk_steps:
            step = None
            if Section("decode.streaming", self.metadata["decode"]["streaming"])["runtime"] == "onnxruntime":
                from asrt.packaged.chunk_onnx import onnx_chunk_step

                step = onnx_chunk_step(self.model, self.model.encoder.subsampling_factor * chunk_frames,
                                       torch.get_num_threads())
            self._chunk_steps[chunk_frames] = step
        return self._chunk_steps[chunk_frames]

    def prepare_streams(self) -> None:
        """Make what streams in the model's default chunk size need (its :meth:`chunk_step`: about a second),
        so that a server's first stream does not wait for it; nothing for a model that does not stream."""
        from asrt.models.streaming import is_streaming

        if self.model is not None and is_streaming(self.model):
            self.chunk_step(int(self.metadata["decode"]["streaming"]["chunk_frames"]))

    def stream(self, chunk_frames: int | None = None, rules=None):
        """A :class:`asrt.packaged.streaming.RecognitionStream` of this (streaming) model, in chunks of
        ``chunk_frames`` output frames, with endpoint ``rules`` (defaults: the model's ``decode.streaming``)."""
        from asrt.packaged.streaming import RecognitionStream

        return RecognitionStream(self, chunk_frames, rules)

    def pinyin_to_text(self, syllables: list[str], between_pieces: Callable[[], None] | None = None) -> str:
        """Characters for a pinyin sequence (ASRT's ``/language`` service): tonal, or toneless for a
        toneless-pinyin model; a model of other units has no pinyin to read."""
        if not self.tokens.units.is_pinyin:
            raise ValueError(f"this model's output units are {self.tokens.units.description}, not pinyin: "
                             "it cannot convert pinyin to text")
        if self.pinyin_decoder is None:
            raise FileNotFoundError(f"this model directory has no {P2H_FILE}: package it again (stages 5 and 8)")
        return self.pinyin_decoder.pinyin_to_text(syllables, between_pieces)
