"""The output units' token table (stage 2's ``tokens.txt``): what training encodes targets with and what
decoding and recognition turn token ids back into units with."""
from __future__ import annotations

from pathlib import Path

from asrt.fileio import read_symbol_table
from asrt.lang.units import Units


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
