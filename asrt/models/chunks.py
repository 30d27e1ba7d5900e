"""Dynamic chunk training (WeNet U2, Zhang et al. 2020): the chunk size a streaming model is trained with,
drawn afresh for every batch, so that one model decodes offline and in chunks of any size.

A share of the batches (``full_context``, U2's half by default) see full context; the others a chunk of 1
output frame up to :data:`DYNAMIC_CHUNK_SECONDS`, uniformly (U2 draws 1 to 25 frames of 40 ms).
"""
from __future__ import annotations

import torch

DYNAMIC_CHUNK_SECONDS = 1.0  # the longest chunk drawn in training
FEATURE_FRAME_SECONDS = 0.01


def draw_chunk_frames(subsampling_factor: int, full_context: float = 0.5) -> int | None:
    """A training batch's chunk size in output frames, or None for full context (torch's generator)."""
    if torch.rand(()) < full_context:
        return None
    longest = max(1, round(DYNAMIC_CHUNK_SECONDS / (FEATURE_FRAME_SECONDS * subsampling_factor)))
    return int(torch.randint(1, longest + 1, ()))
