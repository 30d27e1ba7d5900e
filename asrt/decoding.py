"""CTC decoding: greedy best path, and WFST search over HLG.fst with kaldi-decoder."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import kaldi_decoder
import kaldifst
import numpy as np
import torch

from asrt.fileio import read_symbol_table
from asrt.graph import RESERVED_WORDS
from asrt.names import BLANK, BLANK_ID, HLG_FILE, TOKENS_FILE, WORDS_FILE

# Cost (in nats) of a frame that disagrees with pinyin_to_text's one-hot input: far above any LM
# cost difference, so only exact readings compete, but finite, so a syllable without a word in
# the lexicon is dropped (read as blank) instead of making the whole search fail.
_MISMATCH_LOGPROB = -1000.0


def _as_matrix(log_probs: np.ndarray | torch.Tensor) -> np.ndarray:
    """Return a contiguous float32 [T, V] array, rejecting other shapes."""
    if isinstance(log_probs, torch.Tensor):
        log_probs = log_probs.detach().to("cpu", torch.float32).numpy()
    x = np.ascontiguousarray(log_probs, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"expected log-probs of shape [T, V], got shape {x.shape}")
    return x


def ctc_greedy(log_probs: np.ndarray | torch.Tensor) -> list[int]:
    """Best-path CTC decoding: argmax per frame, merge repeats, drop the blank."""
    x = _as_matrix(log_probs)
    if x.shape[0] == 0:
        return []
    best = x.argmax(axis=1)
    keep = np.ones(len(best), dtype=bool)
    keep[1:] = best[1:] != best[:-1]
    return [int(t) for t in best[keep] if t != BLANK_ID]


class HlgDecoder:
    """Viterbi beam search over an HLG graph built by :func:`asrt.graph.compile_hlg`.

    The graph is loaded once and only read; each ``decode`` call builds its own small
    ``FasterDecoder``, so one instance is safe to share between threads.
    """

    def __init__(
        self,
        hlg_path: str | os.PathLike,
        words_path: str | os.PathLike,
        tokens_path: str | os.PathLike | None = None,
        *,
        beam: float = 16.0,
        max_active: int = 3000,
        acoustic_scale: float = 1.0,
        blank_penalty: float = 0.0,
    ) -> None:
        """Load HLG.fst and words.txt; tokens.txt defaults to the one beside words.txt.

        ``blank_penalty`` is subtracted from the blank's log-prob (column 0) before the search: without
        it the LM makes skipping an unlikely word cheaper than emitting it, and HLG deletes syllables
        that greedy decoding keeps.
        """
        hlg_path, words_path = Path(hlg_path), Path(words_path)
        tokens_path = Path(tokens_path) if tokens_path is not None else words_path.with_name(TOKENS_FILE)
        if not hlg_path.is_file():
            raise FileNotFoundError(f"{hlg_path} not found: run stage 5 (asrt graph) first")
        if not words_path.is_file():
            raise FileNotFoundError(f"{words_path} not found: run stage 2 (asrt lang) first")
        fst = kaldifst.StdVectorFst.read(str(hlg_path))
        if fst is None or fst.num_states == 0:
            raise ValueError(f"{hlg_path} is not a usable FST: rebuild it with stage 5 (asrt graph)")
        # Searched as read (StdConstFst would double load time and peak memory for ~10% speed).
        self._fst = fst
        self._id2word = {i: w for w, i in read_symbol_table(words_path).items() if not _is_special_word(w)}
        self._tokens = read_symbol_table(tokens_path) if tokens_path.is_file() else None
        self._tokens_path = tokens_path
        self.beam = beam
        self.max_active = max_active
        self.acoustic_scale = acoustic_scale
        self.blank_penalty = blank_penalty

    @classmethod
    def from_dir(cls, graph_dir: str | os.PathLike, decode_cfg: dict | None = None, **overrides) -> "HlgDecoder":
        """Load ``HLG.fst``, ``words.txt`` and ``tokens.txt`` from one directory (a lang directory or a
        packaged model), with search options from a ``decode`` config section; ``overrides`` that are
        not None win."""
        cfg = dict(decode_cfg or {})
        cfg.update({k: v for k, v in overrides.items() if v is not None})
        opts = {k: t(cfg[k]) for k, t in (("beam", float), ("max_active", int), ("acoustic_scale", float),
                                          ("blank_penalty", float)) if k in cfg}
        graph_dir = Path(graph_dir)
        return cls(graph_dir / HLG_FILE, graph_dir / WORDS_FILE, graph_dir / TOKENS_FILE, **opts)

    @property
    def num_tokens(self) -> int | None:
        """Size V of the acoustic model's output layer (None when tokens.txt was not found)."""
        return None if self._tokens is None else len(self._tokens)

    def decode(self, log_probs: np.ndarray | torch.Tensor) -> list[str]:
        """Decode one utterance's [T, V] log-softmax outputs into words ([] if nothing survives)."""
        x = _as_matrix(log_probs)
        if self.blank_penalty:
            x = x.copy()
            x[:, BLANK_ID] -= np.float32(self.blank_penalty)
        if self.acoustic_scale != 1.0:
            x = x * np.float32(self.acoustic_scale)
        return self._search(x)

    def pinyin_to_text(self, syllables: Sequence[str]) -> str:
        """Convert tonal pinyin (e.g. ``["ni3", "hao3"]``) to characters with the LM in HLG."""
        if self._tokens is None:
            raise FileNotFoundError(f"{self._tokens_path} not found: pinyin_to_text needs tokens.txt")
        unknown = [s for s in syllables if s not in self._tokens or s == BLANK or s.startswith("#")]
        if unknown:
            raise ValueError(f"unknown pinyin syllable(s) {' '.join(unknown)}: not in {self._tokens_path}")
        frames: list[int] = []
        for s in syllables:
            tid = self._tokens[s]
            if frames and frames[-1] == tid:
                frames.append(BLANK_ID)  # CTC needs a blank between equal neighbours
            frames.append(tid)
        x = np.full((len(frames), len(self._tokens)), _MISMATCH_LOGPROB, dtype=np.float32)
        x[np.arange(len(frames)), frames] = 0.0
        return "".join(self._search(x))

    def _search(self, x: np.ndarray) -> list[str]:
        """Run FasterDecoder over already-scaled log-probs and map the best path to words."""
        if x.shape[0] == 0:
            return []
        if self._tokens is not None and x.shape[1] != len(self._tokens):
            raise ValueError(
                f"log-probs have {x.shape[1]} columns but {self._tokens_path} has {len(self._tokens)} tokens"
            )
        opts = kaldi_decoder.FasterDecoderOptions(beam=self.beam, max_active=self.max_active)
        decoder = kaldi_decoder.FasterDecoder(self._fst, opts)
        decoder.decode(kaldi_decoder.DecodableCtc(x))
        ok, best_path = decoder.get_best_path()
        if not ok:
            return []
        ok, _, word_ids, _ = kaldifst.get_linear_symbol_sequence(best_path)
        if not ok:
            return []
        return [self._id2word[w] for w in word_ids if w in self._id2word]


def _is_special_word(word: str) -> bool:
    """True for graph-internal symbols that must never appear in a transcript."""
    return word in RESERVED_WORDS or word.startswith("#")
