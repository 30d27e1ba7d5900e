"""Acoustic-model registry: a config names a model (``model.name``) and gives its keyword arguments.

Every model maps padded features ``[N, T, F]`` and lengths ``[N]`` to CTC log-probs ``[N, T', V]`` and
output lengths ``[N]``, so training, decoding and export never look inside.
"""
from __future__ import annotations

from typing import Callable

import torch

MIN_FRAMES = 16  # the shortest input (feature frames) every model's front-end maps to at least one output frame

_REGISTRY: dict[str, Callable[..., torch.nn.Module]] = {}


def register(name: str):
    """Class decorator that makes a model buildable by name from a config."""
    def wrap(cls):
        _REGISTRY[name] = cls
        return cls
    return wrap


class CtcModel(torch.nn.Module):
    """A registered encoder behind global feature normalisation (mean/std stored with the weights)."""

    def __init__(self, encoder: torch.nn.Module, num_features: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.register_buffer("feat_mean", torch.zeros(num_features))
        self.register_buffer("feat_std", torch.ones(num_features))

    def set_normalisation(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Store the training set's per-bin feature mean and standard deviation."""
        self.feat_mean.copy_(mean)
        self.feat_std.copy_(std.clamp(min=1e-3))

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """CTC log-probs ``[N, T', V]`` and output lengths for raw padded features ``[N, T, F]``."""
        return self.encoder((feats - self.feat_mean) / self.feat_std, lengths)


def build_model(name: str, num_features: int, vocab_size: int, **kwargs) -> CtcModel:
    """Build the registered model ``name``; raise ValueError listing the known names otherwise."""
    from asrt.models import conformer, dcnn, tdnn  # noqa: F401  (they register themselves)

    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(sorted(_REGISTRY))}")
    return CtcModel(_REGISTRY[name](num_features=num_features, vocab_size=vocab_size, **kwargs), num_features)
