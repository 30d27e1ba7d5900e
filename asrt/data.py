"""Batches for CTC training and decoding: padded fbank features and token targets of the output units."""
from __future__ import annotations

import random
from pathlib import Path

import torch

from asrt.augment import AudioAugmentation
from asrt.fileio import read_symbol_table
from asrt.units import Units


class TokenTable:
    """The output units' tokens and their ids (``tokens.txt``); id 0 is the CTC blank. ``units`` (from
    ``units.json`` beside it; tonal pinyin without one) turns a supervision into units, and units into text."""

    def __init__(self, path) -> None:
        self.token2id = read_symbol_table(path)
        self.id2token = {i: t for t, i in self.token2id.items()}
        self.units = Units.from_dir(Path(path).parent)

    def encode_supervision(self, sup) -> list[int]:
        """Token ids of a labelled supervision's units. Units that skip unseen labels (characters, whose
        tokens are the training text's: dev may hold others) leave those out; the others have a token for all."""
        labels = self.units.supervision_labels(sup)
        if self.units.skips_unseen:
            return [self.token2id[u] for u in labels if u in self.token2id]
        return self.encode(labels)

    def __len__(self) -> int:
        return len(self.token2id)

    def encode(self, units: list[str]) -> list[int]:
        """Token ids of a unit sequence; raise ValueError naming an unknown unit."""
        try:
            return [self.token2id[u] for u in units]
        except KeyError as e:
            raise ValueError(f"{e.args[0]!r} is not in the token table") from None

    def decode(self, ids: list[int]) -> list[str]:
        """Units of a list of token ids."""
        return [self.id2token[i] for i in ids]


class CtcDataset(torch.utils.data.Dataset):
    """Maps a lhotse CutSet (one sampler batch) to a dict of padded tensors and CTC targets: the stored
    features, or with ``augmentation`` (:mod:`asrt.augment`) those of the augmented audio, its random choices
    drawn from Python's generator (which :class:`asrt.train.SeededDataset` seeds per batch); then SpecAugment."""

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
