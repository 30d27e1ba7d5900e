"""Training on several cut sets at once (``egs/multi_cn``: one per member corpus), mixed by weight.

``train.mux_weights: {name: weight}`` says how many passes over each named cut set one epoch makes:
1.0 (the default for a name without a weight) uses every cut once, 2.0 twice (upsampling a small
corpus), 0.5 a fixed half (the cuts whose id hashes below one half; the same half every epoch). The
weighted sets are interleaved with lhotse's ``CutSet.mux``, each drawn with probability proportional
to its number of cuts, so that every stretch of an epoch holds the corpora in the same proportions
instead of the small ones running out first. The mix is deterministic (fixed seed), so a resumed
epoch sees the same stream; the sampler shuffles it per epoch.
"""
from __future__ import annotations

import logging
import math
import zlib
from functools import partial
from pathlib import Path


def parse_named_cuts(specs: list[str]) -> dict[str, Path]:
    """``NAME=PATH`` (or a bare ``PATH``, named after its file) for each spec, as {name: path}."""
    out: dict[str, Path] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep:
            name, path = Path(spec).name.split(".")[0], spec
        if name in out:
            raise ValueError(f"training cut set name {name!r} given twice; name each set once (NAME=PATH)")
        out[name] = Path(path)
    return out


def _hash_below(cut, fraction: float) -> bool:
    return zlib.crc32(cut.id.encode()) < fraction * 2**32


def weighted_passes(cuts, weight: float):
    """``cuts`` repeated ``floor(weight)`` times plus the fraction left over (a fixed subset by id hash)."""
    if weight < 0 or not math.isfinite(weight):
        raise ValueError(f"a mux weight must be a finite number >= 0, got {weight}")
    whole, fraction = int(weight), weight - int(weight)
    parts = []
    if whole == 1:
        parts.append(cuts)
    elif whole > 1:
        parts.append(cuts.repeat(times=whole, preserve_id=False))
    if fraction > 0:
        parts.append(cuts.filter(partial(_hash_below, fraction=fraction)))
    if not parts:
        return None
    out = parts[0]
    for p in parts[1:]:
        out = out + p
    return out


def mix_cut_sets(paths: dict[str, Path], weights: dict[str, float] | None = None, seed: int = 0):
    """One lazy CutSet of the training cuts of every named set, weighted as the module docstring says.

    A single set without weights is returned as loaded, unchanged.
    """
    from lhotse import CutSet, load_manifest_lazy

    weights = dict(weights or {})
    unknown = sorted(set(weights) - set(paths))
    if unknown:
        logging.warning("train.mux_weights names %s, which is not among the training sets (%s): ignored",
                        ", ".join(unknown), ", ".join(paths))
    if len(paths) == 1 and not weights:
        return load_manifest_lazy(next(iter(paths.values())))
    streams, sizes = [], []
    for name, path in paths.items():
        weighted = weighted_passes(load_manifest_lazy(path), float(weights.get(name, 1.0)))
        n = 0 if weighted is None else sum(1 for _ in weighted)
        logging.info("Training set %s: %d cuts per epoch (weight %s)", name, n, weights.get(name, 1.0))
        if n:
            streams.append(weighted)
            sizes.append(n)
    if not streams:
        raise ValueError("every training set has weight 0 (train.mux_weights): nothing to train on")
    if len(streams) == 1:
        return streams[0]
    return CutSet.mux(*streams, weights=sizes, seed=seed)
