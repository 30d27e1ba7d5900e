"""N-best rescoring (``decode.method: rescore``): a lattice search over the graph (kaldi-decoder's
``LatticeSimpleDecoder``), the lattice's n best distinct word sequences, each rescored with the larger LM
stage 4 builds (``lm_rescore.bin``, queried through the ``kenlm`` module).

The decoder's raw lattice has a path for every alignment, so its n best paths are mostly one word
sequence; it is turned into a word acceptor (acoustic + graph cost on each arc), epsilon-removed and
determinized (OpenFst, through kaldifst), whose n shortest paths are n distinct word sequences.

A sequence's score is log-linear: its acoustic and graph costs (the graph holds the pruned LM and the
pronunciation costs) plus ``lm_weight`` times the rescoring LM's cost (``-ln P(words)``, sentence start
and end included) plus ``word_penalty`` per word; the lowest wins. ``lm_weight`` 0 and ``word_penalty`` 0
give the graph's own best path.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Mapping

import kaldi_decoder
import kaldifst
import numpy as np

LN10 = math.log(10.0)
SETTINGS = ("lm_weight", "word_penalty", "nbest", "lattice_beam")  # of the decode section (asrt/conf/decode.yaml)


class NbestRescorer:
    """Lattice search plus n-best rescoring with a KenLM model; one instance may be shared by threads
    (kenlm's queries and each search's decoder are independent)."""

    def __init__(self, lm_path: str | os.PathLike, lm_weight: float, word_penalty: float, nbest: int,
                 lattice_beam: float) -> None:
        import kenlm

        lm_path = Path(lm_path)
        if not lm_path.is_file():
            raise FileNotFoundError(f"{lm_path} not found: decode.method rescore needs stage 4's rescoring LM "
                                    "(lm.rescore_order above 0)")
        if nbest < 1 or lattice_beam <= 0:
            raise ValueError(f"decode.nbest must be >= 1 and decode.lattice_beam > 0, got {nbest}, {lattice_beam}")
        self.lm = kenlm.Model(str(lm_path))
        self.lm_weight, self.word_penalty, self.nbest, self.lattice_beam = lm_weight, word_penalty, nbest, lattice_beam

    @classmethod
    def from_config(cls, lm_path: str | os.PathLike, decode_cfg: Mapping) -> "NbestRescorer":
        """The rescorer a ``decode`` config section describes (:data:`SETTINGS`)."""
        missing = [k for k in SETTINGS if k not in decode_cfg]
        if missing:
            raise ValueError(f"decode.method rescore needs decode.{', decode.'.join(missing)}")
        return cls(lm_path, float(decode_cfg["lm_weight"]), float(decode_cfg["word_penalty"]),
                   int(decode_cfg["nbest"]), float(decode_cfg["lattice_beam"]))

    def lm_cost(self, words: list[str]) -> float:
        """``-ln P(words)`` under the rescoring LM, from sentence start to end."""
        return -LN10 * self.lm.score(" ".join(words), bos=True, eos=True)

    def nbest_paths(self, fst: kaldifst.StdVectorFst, x: np.ndarray, beam: float) -> list[tuple[list[int], float]]:
        """The n best (word ids, acoustic + graph cost) of a lattice search over ``fst`` on log-probs ``x``."""
        config = kaldi_decoder.LatticeSimpleDecoderConfig(beam=beam, lattice_beam=self.lattice_beam)
        decoder = kaldi_decoder.LatticeSimpleDecoder(fst, config)
        decoder.decode(kaldi_decoder.DecodableCtc(x))
        ok, lattice = decoder.get_raw_lattice()
        if not ok or lattice.num_states == 0:
            return []
        return nbest_word_sequences(word_acceptor(lattice), self.nbest)

    def best(self, paths: list[tuple[list[str], float]]) -> list[str]:
        """The words of the path with the lowest rescored cost (``[]`` for no paths)."""
        def cost(path: tuple[list[str], float]) -> float:
            words, graph_cost = path
            return graph_cost + self.lm_weight * self.lm_cost(words) + self.word_penalty * len(words)

        return min(paths, key=cost)[0] if paths else []


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
