"""Greedy CTC decoding: the best path of a model's log-probs, without a graph (training's validation,
``method``-independent PER, the recogniser's pinyin)."""
from __future__ import annotations

import numpy as np
import torch

from asrt.names import BLANK_ID


def as_matrix(log_probs: np.ndarray | torch.Tensor) -> np.ndarray:
    """Return a contiguous float32 [T, V] array, rejecting other shapes."""
    if isinstance(log_probs, torch.Tensor):
        log_probs = log_probs.detach().to("cpu", torch.float32).numpy()
    x = np.ascontiguousarray(log_probs, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"expected log-probs of shape [T, V], got shape {x.shape}")
    return x


def ctc_greedy(log_probs: np.ndarray | torch.Tensor) -> list[int]:
    """Best-path CTC decoding: argmax per frame, merge repeats, drop the blank."""
    x = as_matrix(log_probs)
    if x.shape[0] == 0:
        return []
    best = x.argmax(axis=1)
    keep = np.ones(len(best), dtype=bool)
    keep[1:] = best[1:] != best[:-1]
    return [int(t) for t in best[keep] if t != BLANK_ID]
