"""CTC decoding: WFST search with kaldi-decoder over HLG.fst (audio) or
LG_pinyin.fst (pinyin to characters), 1-best or n-best rescored (:mod:`asrt.decode.rescore`)."""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Callable, Mapping, Sequence

import kaldi_decoder
import kaldifst
import numpy as np
import torch

from asrt.config import Section
from asrt.decode.greedy import as_matrix
from asrt.decode.rescore import NbestRescorer, nbest_output_sequences
from asrt.fileio import read_symbol_table
from asrt.names import (
    BLANK, BLANK_ID, HLG_FILE, P2H_FILE, RESCORE_LM_FILE, TOKENS_FILE, WORDS_FILE, is_disambig, is_graph_symbol,
)

DECODE_METHODS = ("hlg", "rescore")  # decode.method: 1-best search, or lattice + n-best rescoring

# pinyin_to_text: skipping a syllable costs more than any path that reads it, so only a syllable that
# no word of the lexicon is read as is dropped.
_SKIP_COST = 1000.0
# pinyin_to_text converts longer sequences in pieces: its composition grows faster than the sequence
# (random syllables, one core: 100 take 24 ms, 500 take 3 s, 1000 take 48 s).
P2H_PIECE_SYLLABLES = 100
# An error message shows at most this many unknown syllables, each cut to this many characters.
_SHOWN_ITEMS, _SHOWN_CHARS = 3, 12
# With a ``between_steps`` hook, the Viterbi search advances this many frames at a time and calls it between
# steps: on loud noise a frame of the HLG search can take 0.4 s (2-core Xeon), a 17 s piece 87 s, so a
# server that checks only between pieces of audio cannot stop work nobody waits for.
SEARCH_STEP_FRAMES = 4


class _GraphSearch:
    """A graph (HLG, or the pinyin-to-text T o LG) with its words and tokens, searched with kaldi-decoder:
    Viterbi 1-best (``FasterDecoder``), or a lattice whose n best paths ``rescorer`` rescores.

    The graph is loaded once and only read; each search builds its own small decoder, so one instance
    is safe to share between threads.
    """

    def __init__(
        self,
        graph_path: str | os.PathLike,
        words_path: str | os.PathLike,
        tokens_path: str | os.PathLike | None = None,
        *,
        beam: float,
        max_active: int,
        rescorer: NbestRescorer | None = None,
    ) -> None:
        graph_path, words_path = Path(graph_path), Path(words_path)
        tokens_path = Path(tokens_path) if tokens_path is not None else words_path.with_name(TOKENS_FILE)
        if not graph_path.is_file():
            raise FileNotFoundError(f"{graph_path} not found: run stage 5 (asrt graph) first")
        if not words_path.is_file():
            raise FileNotFoundError(f"{words_path} not found: run stage 2 (asrt lang) first")
        fst = kaldifst.StdVectorFst.read(str(graph_path))
        if fst is None or fst.num_states == 0:
            raise ValueError(f"{graph_path} is not a usable FST: rebuild it with stage 5 (asrt graph)")
        # Searched as read (StdConstFst would double load time and peak memory for ~10% speed).
        self._fst = fst
        self._id2word = {i: w for w, i in read_symbol_table(words_path).items() if not is_graph_symbol(w)}
        self._tokens = read_symbol_table(tokens_path) if tokens_path.is_file() else None
        self._tokens_path = tokens_path
        self.beam = beam
        self.max_active = max_active
        self.rescorer = rescorer

    @staticmethod
    def _options(decode_cfg: Mapping, rescore_lm: str | os.PathLike | None, overrides: dict) -> dict:
        """Search options from a ``decode`` config section (``overrides`` that are not None win), with the
        rescorer ``method: rescore`` asks for, its LM at ``rescore_lm``."""
        cfg = Section("decode", {**decode_cfg, **{k: v for k, v in overrides.items() if v is not None}})
        if cfg["method"] not in DECODE_METHODS:
            raise ValueError(f"decode.method must be one of {', '.join(DECODE_METHODS)}, not {cfg['method']!r}")
        opts = {"beam": float(cfg["beam"]), "max_active": int(cfg["max_active"])}
        if cfg["method"] == "rescore":
            opts["rescorer"] = NbestRescorer.from_config(rescore_lm, cfg)
        return opts

    @property
    def num_tokens(self) -> int | None:
        """Size V of the acoustic model's output layer (None when tokens.txt was not found)."""
        return None if self._tokens is None else len(self._tokens)

    def _search(self, x: np.ndarray, between_steps: Callable[[], None] | None = None) -> list[str]:
        """Search the graph with already-scaled log-probs and map the best path to words; ``between_steps``
        (it raises to stop) is called every :data:`SEARCH_STEP_FRAMES` frames of the Viterbi search."""
        if x.shape[0] == 0:
            return []
        if self._tokens is not None and x.shape[1] != len(self._tokens):
            raise ValueError(
                f"log-probs have {x.shape[1]} columns but {self._tokens_path} has {len(self._tokens)} tokens"
            )
        if self.rescorer is not None:
            paths = self.rescorer.nbest_paths(self._fst, x, self.beam)
            return self.rescorer.best([(self._words(ids), cost) for ids, cost in paths])
        opts = kaldi_decoder.FasterDecoderOptions(beam=self.beam, max_active=self.max_active)
        decoder, decodable = kaldi_decoder.FasterDecoder(self._fst, opts), kaldi_decoder.DecodableCtc(x)
        if between_steps is None:
            decoder.decode(decodable)
        else:
            decoder.init_decoding()
            while decoder.num_frames_decoded() < x.shape[0]:
                between_steps()
                decoder.advance_decoding(decodable, SEARCH_STEP_FRAMES)
        ok, best_path = decoder.get_best_path()
        if not ok:
            return []
        ok, _, word_ids, _ = kaldifst.get_linear_symbol_sequence(best_path)
        return self._words(word_ids) if ok else []

    def _words(self, word_ids) -> list[str]:
        return [self._id2word[w] for w in word_ids if w in self._id2word]


class HlgDecoder(_GraphSearch):
    """Search over an HLG graph built by :func:`asrt.lm.graph.compile_hlg`: acoustic log-probs to words."""

    def __init__(self, hlg_path: str | os.PathLike, words_path: str | os.PathLike,
                 tokens_path: str | os.PathLike | None = None, *, acoustic_scale: float,
                 blank_penalty: float, **search) -> None:
        """Load HLG.fst and words.txt; tokens.txt defaults to the one beside words.txt.

        ``blank_penalty`` is subtracted from the blank's log-prob (column 0) before the search: without
        it the LM makes skipping an unlikely word cheaper than emitting it, and HLG deletes syllables
        that greedy decoding keeps.
        """
        super().__init__(hlg_path, words_path, tokens_path, **search)
        self.acoustic_scale = acoustic_scale
        self.blank_penalty = blank_penalty

    @classmethod
    def from_dir(cls, graph_dir: str | os.PathLike, decode_cfg: Mapping,
                 rescore_lm: str | os.PathLike | None = None, **overrides) -> "HlgDecoder":
        """Load ``HLG.fst``, ``words.txt`` and ``tokens.txt`` from one directory (a lang directory or a
        packaged model), with search options from a ``decode`` config section; ``overrides`` that are
        not None win. ``rescore_lm`` (default: the directory's ``lm_rescore.bin``) serves ``method: rescore``."""
        graph_dir = Path(graph_dir)
        cfg = Section("decode", {**decode_cfg, **{k: v for k, v in overrides.items() if v is not None}})
        opts = cls._options(cfg, rescore_lm or graph_dir / RESCORE_LM_FILE, {})
        return cls(graph_dir / HLG_FILE, graph_dir / WORDS_FILE, graph_dir / TOKENS_FILE,
                   acoustic_scale=float(cfg["acoustic_scale"]), blank_penalty=float(cfg["blank_penalty"]), **opts)

    def decode(self, log_probs: np.ndarray | torch.Tensor,
               between_steps: Callable[[], None] | None = None) -> list[str]:
        """Decode one utterance's [T, V] log-softmax outputs into words ([] if nothing survives);
        ``between_steps`` is called as the search goes (:meth:`_search`)."""
        return self._search(self.scaled(log_probs), between_steps)

    def scaled(self, log_probs: np.ndarray | torch.Tensor) -> np.ndarray:
        """``[T, V]`` log-probs as the search reads them: the blank penalised, then scaled."""
        x = as_matrix(log_probs)
        if self.blank_penalty:
            x = x.copy()
            x[:, BLANK_ID] -= np.float32(self.blank_penalty)
        if self.acoustic_scale != 1.0:
            x = x * np.float32(self.acoustic_scale)
        return x

    def words(self, word_ids) -> list[str]:
        """The words of graph output ids (graph symbols dropped)."""
        return self._words(word_ids)

    @property
    def fst(self) -> kaldifst.StdVectorFst:
        """The graph (read-only: shared by every search)."""
        return self._fst


class PinyinDecoder(_GraphSearch):
    """Pinyin to characters (ASRT's ``/language``) over the pinyin-to-text graph (``LG_pinyin.fst``,
    :func:`asrt.lm.graph.build_token_topo`): the syllables as a linear acceptor composed with the graph, and
    its shortest path, exact and without beam (about 0.1 ms for a sentence); with ``method: rescore``,
    its n best distinct word sequences within ``lattice_beam`` of the best, rescored with the larger LMs."""

    @classmethod
    def from_dir(cls, graph_dir: str | os.PathLike, decode_cfg: Mapping,
                 rescore_lm: str | os.PathLike | None = None) -> "PinyinDecoder":
        """Load ``LG_pinyin.fst``, ``words.txt`` and ``tokens.txt`` from a lang or packaged model directory,
        with the ``decode`` section's method."""
        graph_dir = Path(graph_dir)
        opts = cls._options(decode_cfg, rescore_lm or graph_dir / RESCORE_LM_FILE, {})
        return cls(graph_dir / P2H_FILE, graph_dir / WORDS_FILE, graph_dir / TOKENS_FILE, **opts)

    def pinyin_to_text(self, syllables: Sequence[str], between_pieces: Callable[[], None] | None = None) -> str:
        """Convert tonal pinyin (e.g. ``["ni3", "hao3"]``) to characters with the LM. A syllable that no
        lexicon word is read as is skipped. A sequence longer than ``P2H_PIECE_SYLLABLES`` is converted in
        pieces (the search's work grows faster than its length); ``between_pieces`` is called before each."""
        if self._tokens is None:
            raise FileNotFoundError(f"{self._tokens_path} not found: pinyin_to_text needs tokens.txt")
        unknown = [s for s in syllables if s not in self._tokens or s == BLANK or is_disambig(s)]
        if unknown:
            shown = ", ".join(repr(s[:_SHOWN_CHARS] + ("..." if len(s) > _SHOWN_CHARS else ""))
                              for s in unknown[:_SHOWN_ITEMS])
            more = f" and {len(unknown) - _SHOWN_ITEMS} more" if len(unknown) > _SHOWN_ITEMS else ""
            raise ValueError(f"unknown pinyin syllable(s) {shown}{more}: this model's syllables are tonal "
                             "pinyin such as ni3 hao3")
        pieces = math.ceil(len(syllables) / P2H_PIECE_SYLLABLES)
        text = []
        for i in range(pieces):  # equal pieces, none longer than P2H_PIECE_SYLLABLES
            if between_pieces is not None:
                between_pieces()
            text.append(self._convert(syllables[len(syllables) * i // pieces: len(syllables) * (i + 1) // pieces]))
        return "".join(text)

    def _convert(self, syllables: Sequence[str]) -> str:
        """Characters for one piece of known syllables: the shortest path of their composition with the graph."""
        linear = kaldifst.StdVectorFst()
        state = linear.add_state()
        linear.start = state
        for s in syllables:  # input labels are token id + 1; the blank's (1) skips a syllable, at a cost
            nxt = linear.add_state()
            label = self._tokens[s] + 1
            linear.add_arc(state, kaldifst.StdArc(label, label, 0.0, nxt))
            linear.add_arc(state, kaldifst.StdArc(BLANK_ID + 1, BLANK_ID + 1, _SKIP_COST, nxt))
            state = nxt
        linear.set_final(state, 0.0)
        lattice = kaldifst.compose(linear, self._fst, connect=True)
        if self.rescorer is not None:
            paths = nbest_output_sequences(lattice, self.rescorer.nbest, self.rescorer.lattice_beam)
            return "".join(self.rescorer.best([(self._words(ids), cost) for ids, cost in paths]))
        for path in kaldifst.convert_nbest_to_vector(kaldifst.shortest_path(lattice)):
            ok, _, word_ids, _ = kaldifst.get_linear_symbol_sequence(path)
            return "".join(self._words(word_ids)) if ok else ""
        return ""

