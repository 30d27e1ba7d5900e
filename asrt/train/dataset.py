"""Batches for CTC training and validation: padded features and token targets of the output units."""
from __future__ import annotations

import random

import torch

from asrt.lang.tokens import TokenTable
from asrt.train.augment import AudioAugmentation


class CtcDataset(torch.utils.data.Dataset):
    """Maps a lhotse CutSet (one sampler batch) to a dict of padded tensors and CTC targets: the stored
    features, or with ``augmentation`` (:mod:`asrt.train.augment`) those of the augmented audio, its random choices
    drawn from Python's generator (which :class:`asrt.train.samplers.SeededDataset` seeds per batch); then SpecAugment."""

    def __init__(self, tokens: TokenTable, spec_augment: torch.nn.Module | None = None,
                 augmentation: AudioAugmentation | None = None) -> None:
        self.tokens = tokens
        self.spec_augment = spec_augment
        self.augmentation = augmentation

    def __getitem__(self, cuts) -> dict:
        from lhotse.dataset.collation import collate_features

        if self.augmentation is None:
            cuts = cuts.sort_by_duration(ascending=False)
            feats, feat_lens = collate_features(cuts)
        else:
            cuts, feats, feat_lens = self.augmentation.batch(cuts, random.Random(random.getrandbits(64)))
        if self.spec_augment is not None:
            feats = self.spec_augment(feats)
        targets = [self.tokens.encode_supervision(c.supervisions[0]) for c in cuts]
        return {
            "feats": feats,
            "feat_lens": feat_lens,
            "targets": torch.tensor([t for seq in targets for t in seq], dtype=torch.long),
            "target_lens": torch.tensor([len(t) for t in targets], dtype=torch.long),
            "cut_ids": [c.id for c in cuts],
            "texts": [c.supervisions[0].text for c in cuts],
        }
