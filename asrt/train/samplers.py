"""Samplers of training and validation batches: an epoch's batches resumable mid-epoch with a seed per
batch (so augmentation does not depend on which DataLoader worker builds it), and a rank's share of dev."""
from __future__ import annotations

import random

import numpy as np
import torch


class SeededBatches(torch.utils.data.Sampler):
    """An epoch of a lhotse sampler's batches, from the ``skip``-th on, each paired with a random seed that
    depends only on (seed, epoch, rank, batch index).

    Skipping the batches a checkpoint has trained on walks the cut manifests only (no features are read);
    the seed makes a batch's augmentation the same whichever DataLoader worker builds it.
    """

    def __init__(self, sampler, seed: int, rank: int = 0) -> None:
        self.sampler, self.seed, self.rank = sampler, seed, rank
        self.epoch, self.skip = 0, 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        """Start the next iteration at batch ``skip`` of ``epoch``."""
        self.epoch, self.skip = epoch, skip
        self.sampler.set_epoch(epoch)

    def __iter__(self):
        skip, self.skip = self.skip, 0
        for i, cuts in enumerate(self.sampler):
            if i >= skip:
                seed = np.random.SeedSequence([self.seed, self.epoch, self.rank, i]).generate_state(1)[0]
                yield int(seed), cuts


class SeededDataset(torch.utils.data.Dataset):
    """``dataset[cuts]`` for a ``(seed, cuts)`` item of :class:`SeededBatches`, with Python's, NumPy's and
    torch's random generators seeded for it (and restored afterwards)."""

    def __init__(self, dataset: torch.utils.data.Dataset) -> None:
        self.dataset = dataset

    def __getitem__(self, item):
        seed, cuts = item
        py_state, np_state = random.getstate(), np.random.get_state()
        with torch.random.fork_rng(devices=[]):
            random.seed(seed)
            np.random.seed(seed % 2**32)
            torch.manual_seed(seed)
            try:
                return self.dataset[cuts]
            finally:
                random.setstate(py_state)
                np.random.set_state(np_state)


class EveryNth(torch.utils.data.Sampler):
    """The batches ``rank``, ``rank + n``, ... of a sampler: a rank's share of the dev set, none twice."""

    def __init__(self, sampler, rank: int, n: int) -> None:
        self.sampler, self.rank, self.n = sampler, rank, n

    def __iter__(self):
        for i, cuts in enumerate(self.sampler):
            if i % self.n == self.rank:
                yield cuts
