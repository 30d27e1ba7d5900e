"""N-best rescoring (``decode.method: rescore``): a lattice search over the graph (kaldi-decoder's
``LatticeSimpleDecoder``), the lattice's n best distinct word sequences, each rescored with the larger LMs
stage 4 builds (``lm_rescore.bin`` over words, ``lm_rescore_char.bin`` over characters; queried through
the ``kenlm`` module).

The decoder's raw lattice has a path for every alignment, so its n best paths are mostly one word
sequence; it is turned into a word acceptor (acoustic + graph cost on each arc), epsilon-removed and
determinized (OpenFst, through kaldifst), whose n shortest paths are n distinct word sequences. Pinyin to
characters does the same with its composition (:func:`nbest_output_sequences`): its n shortest paths are
mostly one word sequence too (the LM's back-off paths).

A sequence's score is log-linear: its acoustic and graph costs (the graph holds the pruned LM and the
pronunciation costs) plus ``lm_weight`` times the word LM's cost (``-ln P(words)``, sentence start and end
included) plus ``char_lm_weight`` times the character LM's (``-ln P`` of the words' characters,
:func:`asrt.lm.ngram.characters`) plus ``word_penalty`` per word; the lowest wins. An LM whose weight is 0 is
not loaded, so either may be absent; all weights 0 give the graph's own best path.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Mapping

import kaldi_decoder
import kaldifst
import numpy as np

from asrt.lm.ngram import characters
from asrt.names import CHAR_RESCORE_LM_FILE, RESCORE_LM_FILE

LN10 = math.log(10.0)
# A raw lattice with more states than this per frame is taken to be of noise or music: its n-best would cost
# minutes (determinizing 20 s of noise: 96 s), and only its 1-best is used. mini_cmn dev speech: at most
# 24 states per frame (median 5); 20 s of white noise: 115 to 273.
MAX_LATTICE_STATES_PER_FRAME = 50
CHAR_LM_WEIGHT = "char_lm_weight"
SETTINGS = ("lm_weight", "word_penalty", "nbest", "lattice_beam", CHAR_LM_WEIGHT)  # of decode (asrt/conf/decode.yaml)


class NbestRescorer:
    """Lattice search plus n-best rescoring with KenLM models of words and of characters; one instance may
    be shared by threads (kenlm's queries and each search's decoder are independent)."""

    def __init__(self, lm_path: str | os.PathLike | None, lm_weight: float, word_penalty: float, nbest: int,
                 lattice_beam: float, char_lm_path: str | os.PathLike | None = None,
                 char_lm_weight: float = 0.0) -> None:
        """Load the word LM at ``lm_path`` unless ``lm_weight`` is 0, the character LM at ``char_lm_path``
        unless ``char_lm_weight`` is 0."""
        if nbest < 1 or lattice_beam <= 0:
            raise ValueError(f"decode.nbest must be >= 1 and decode.lattice_beam > 0, got {nbest}, {lattice_beam}")
        self.lm = _load_lm(lm_path, "lm.rescore_order") if lm_weight else None
        self.char_lm = _load_lm(char_lm_path, "lm.rescore_char_order") if char_lm_weight else None
        self.lm_weight, self.word_penalty, self.nbest, self.lattice_beam = lm_weight, word_penalty, nbest, lattice_beam
        self.char_lm_weight = char_lm_weight

    @classmethod
    def from_config(cls, lm_path: str | os.PathLike, decode_cfg: Mapping) -> "NbestRescorer":
        """The rescorer a ``decode`` config section describes (:data:`SETTINGS`), with stage 4's word LM at
        ``lm_path`` and its character LM beside it."""
        missing = [k for k in SETTINGS if k not in decode_cfg]
        if missing:
            raise ValueError(f"decode.method rescore needs decode.{', decode.'.join(missing)}")
        return cls(lm_path, float(decode_cfg["lm_weight"]), float(decode_cfg["word_penalty"]),
                   int(decode_cfg["nbest"]), float(decode_cfg["lattice_beam"]), char_lm_beside(lm_path),
                   float(decode_cfg[CHAR_LM_WEIGHT]))

    def lm_cost(self, words: list[str]) -> float:
        """``-ln P(words)`` under the word rescoring LM, from sentence start to end."""
        return -LN10 * self.lm.score(" ".join(words), bos=True, eos=True)

    def char_lm_cost(self, words: list[str]) -> float:
        """``-ln P`` of the characters of ``words`` under the character LM, from sentence start to end."""
        return -LN10 * self.char_lm.score(characters(words), bos=True, eos=True)

    def nbest_paths(self, fst: kaldifst.StdVectorFst, x: np.ndarray, beam: float) -> list[tuple[list[int], float]]:
        """The n best (word ids, acoustic + graph cost) of a lattice search over ``fst`` on log-probs ``x``."""
        config = kaldi_decoder.LatticeSimpleDecoderConfig(beam=beam, lattice_beam=self.lattice_beam)
        decoder = kaldi_decoder.LatticeSimpleDecoder(fst, config)
        decoder.decode(kaldi_decoder.DecodableCtc(x))
        ok, lattice = decoder.get_raw_lattice()
        if not ok or lattice.num_states == 0:
            return []
        if lattice.num_states > MAX_LATTICE_STATES_PER_FRAME * len(x):  # noise, not words: the 1-best only
            ok, best_path = decoder.get_best_path()
            ok, _, word_ids, weight = kaldifst.get_linear_symbol_sequence(best_path) if ok else (False,) * 4
            return [(list(word_ids), 0.0)] if ok else []
        return nbest_word_sequences(word_acceptor(lattice), self.nbest)

    def best(self, paths: list[tuple[list[str], float]]) -> list[str]:
        """The words of the path with the lowest rescored cost (``[]`` for no paths)."""
        def cost(path: tuple[list[str], float]) -> float:
            words, graph_cost = path
            total = graph_cost + self.word_penalty * len(words)
            if self.lm is not None:
                total += self.lm_weight * self.lm_cost(words)
            if self.char_lm is not None:
                total += self.char_lm_weight * self.char_lm_cost(words)
            return total

        return min(paths, key=cost)[0] if paths else []


def char_lm_beside(lm_path: str | os.PathLike | None) -> Path | None:
    """Stage 4's character LM, which lies beside its word rescoring LM (in the LM directory, or a packaged model)."""
    return None if lm_path is None else Path(lm_path).with_name(CHAR_RESCORE_LM_FILE)


def rescoring_lms(lm_path: str | os.PathLike | None, decode_cfg: Mapping) -> dict[str, Path | None]:
    """The LMs a ``decode`` section's rescoring weights use, by their file name in a packaged model."""
    lms = {RESCORE_LM_FILE: (lm_path, "lm_weight"), CHAR_RESCORE_LM_FILE: (char_lm_beside(lm_path), CHAR_LM_WEIGHT)}
    return {name: None if path is None else Path(path) for name, (path, weight) in lms.items()
            if float(decode_cfg[weight])}


def _load_lm(path: str | os.PathLike | None, option: str):
    import kenlm

    if path is None or not Path(path).is_file():
        raise FileNotFoundError(f"{path} not found: decode.method rescore with its weight above 0 needs stage 4's "
                                f"LM ({option} above 0)")
    return kenlm.Model(str(path))


def word_acceptor(lattice: kaldifst.Lattice) -> kaldifst.StdVectorFst:
    """A kaldi lattice's word sequences as a tropical acceptor: each arc's output label on both sides and
    its graph + acoustic cost as the weight (rebuilt from the lattice's text form, in C++ both ways)."""
    lines = []
    for line in lattice.to_str().splitlines():
        fields = line.split()
        if len(fields) >= 4:  # SRC DST ILABEL OLABEL [GRAPH,ACOUSTIC]
            lines.append(f"{fields[0]} {fields[1]} {fields[3]} {fields[3]} {_total_cost(fields[4:])}")
        elif fields:  # STATE [GRAPH,ACOUSTIC]: a final state
            lines.append(f"{fields[0]} {_total_cost(fields[1:])}")
    return kaldifst.compile("\n".join(lines) + "\n", acceptor=False)


def _total_cost(weight: list[str]) -> float:
    return sum(map(float, weight[0].split(","))) if weight else 0.0


def nbest_word_sequences(acceptor: kaldifst.StdVectorFst, n: int) -> list[tuple[list[int], float]]:
    """The ``n`` cheapest distinct word sequences of a word acceptor, with their costs."""
    kaldifst.rmepsilon(acceptor)
    paths = []
    for path in kaldifst.convert_nbest_to_vector(kaldifst.shortest_path(kaldifst.determinize(acceptor), n=n)):
        ok, _, word_ids, weight = kaldifst.get_linear_symbol_sequence(path)
        if ok:
            paths.append((list(word_ids), float(weight.value)))
    return paths


def nbest_output_sequences(fst: kaldifst.StdVectorFst, n: int, beam: float) -> list[tuple[list[int], float]]:
    """The ``n`` cheapest distinct output-label sequences of ``fst`` within ``beam`` of its best path, with
    their costs (``fst`` is pruned in place first: determinizing all of a sentence's composition with
    LG_pinyin takes ~75 ms, the pruned one ~0.5 ms)."""
    if fst.num_states == 0:
        return []
    kaldifst.rmepsilon(fst, weight=str(beam))
    acceptor = kaldifst.StdVectorFst()
    for _ in range(fst.num_states):
        acceptor.add_state()
    acceptor.start = fst.start
    for state in range(fst.num_states):
        for arc in kaldifst.ArcIterator(fst, state):
            acceptor.add_arc(state, kaldifst.StdArc(arc.olabel, arc.olabel, arc.weight, arc.nextstate))
        acceptor.set_final(state, fst.final(state))
    return nbest_word_sequences(acceptor, n)
