"""Acoustic-model registry: a config names a model (``model.name``) and gives its keyword arguments.

Every model maps padded features ``[N, T, F]`` and lengths ``[N]`` to CTC log-probs ``[N, T', V]`` and
output lengths ``[N]``, so training, decoding and export never look inside.
"""
from __future__ import annotations

from typing import Callable

import torch

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


class FactorizedOutput(torch.nn.Module):
    """CTC output layer whose tonal-syllable logits share a base-syllable and a tone component:
    ``logit(zhong1) = full(zhong1) + base(zhong) + tone(1)``, so every syllable's tone 1 learns from
    every other syllable's tone 1 (blank has its own base and no tone)."""

    def __init__(self, d_model: int, tokens: list[str]) -> None:
        super().__init__()
        bases = sorted({t[:-1] for t in tokens[1:]})
        base_id = {b: i + 1 for i, b in enumerate(bases)}
        self.register_buffer("base_of", torch.tensor([0] + [base_id[t[:-1]] for t in tokens[1:]]))
        self.register_buffer("tone_of", torch.tensor([0] + [int(t[-1]) for t in tokens[1:]]))
        self.full = torch.nn.Linear(d_model, len(tokens))
        self.base = torch.nn.Linear(d_model, len(bases) + 1)
        self.tone = torch.nn.Linear(d_model, 6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.full(x) + self.base(x)[..., self.base_of] + self.tone(x)[..., self.tone_of]


def build_model(name: str, num_features: int, vocab_size: int, factorized_output: bool = False,
                tokens: list[str] | None = None, **kwargs) -> CtcModel:
    """Build the registered model ``name``; raise ValueError listing the known names otherwise.

    ``factorized_output`` replaces the model's output layer by :class:`FactorizedOutput` over ``tokens``.
    """
    from asrt.models import conformer, tdnn  # noqa: F401  (they register themselves)

    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(sorted(_REGISTRY))}")
    encoder = _REGISTRY[name](num_features=num_features, vocab_size=vocab_size, **kwargs)
    if factorized_output:
        if tokens is None or len(tokens) != vocab_size:
            raise ValueError("factorized_output needs the token list (tokens.txt) of the output layer")
        encoder.output = FactorizedOutput(encoder.output.in_features, tokens)
    return CtcModel(encoder, num_features)
