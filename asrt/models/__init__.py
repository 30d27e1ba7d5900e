"""Acoustic models: a config names one of :data:`MODELS` (``model.name``) and gives its keyword arguments.

Every model maps padded features ``[N, T, F]`` and lengths ``[N]`` to CTC log-probs ``[N, T', V]`` and
output lengths ``[N]``, so training, decoding and export never look inside.
"""
from __future__ import annotations

import importlib

import torch

MIN_FRAMES = 16  # the shortest input (feature frames) every model's front-end maps to at least one output frame

# The encoders a config can name, as "module:class" (imported when built): each takes ``num_features``,
# ``vocab_size`` and its own keyword arguments, and maps (feats [N, T, F], lengths [N]) to CTC log-probs
# [N, T', V] and output lengths. Adding a model: docs/adding_a_model.md.
MODELS = {
    "tdnn": "asrt.models.tdnn:TdnnCtc",
    "dcnn": "asrt.models.dcnn:DcnnCtc",
    "conformer": "asrt.models.conformer:ConformerCtc",
}


FEATURE_NORMS = ("global", "utterance")


class CtcModel(torch.nn.Module):
    """A registered encoder behind feature normalisation: the training set's per-bin mean and standard
    deviation (stored with the weights), and with ``feature_norm: utterance`` then each utterance's own
    per-bin mean over its frames subtracted (ESPnet's ``utterance_mvn`` without variance), which removes
    what a channel does to every frame alike: gain, microphone and telephone frequency response, the empty
    upper bins of 8 kHz audio."""

    def __init__(self, encoder: torch.nn.Module, num_features: int, feature_norm: str = "global") -> None:
        super().__init__()
        if feature_norm not in FEATURE_NORMS:
            raise ValueError(f"model.feature_norm must be one of {', '.join(FEATURE_NORMS)}, not {feature_norm!r}")
        self.encoder = encoder
        self.utterance_mean = feature_norm == "utterance"
        self.register_buffer("feat_mean", torch.zeros(num_features))
        self.register_buffer("feat_std", torch.ones(num_features))

    def set_normalisation(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Store the training set's per-bin feature mean and standard deviation."""
        self.feat_mean.copy_(mean)
        self.feat_std.copy_(std.clamp(min=1e-3))

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor,
                chunk_frames: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """CTC log-probs ``[N, T', V]`` and output lengths for raw padded features ``[N, T, F]`` (a chunked
        streaming encoder's with ``chunk_frames``: as it streams in chunks of that many output frames)."""
        x = (feats - self.feat_mean) / self.feat_std
        if self.utterance_mean:
            valid = (torch.arange(x.size(1), device=x.device).unsqueeze(0) < lengths.unsqueeze(1)).unsqueeze(2)
            mean = (x * valid).sum(1, keepdim=True) / lengths.clamp(min=1).view(-1, 1, 1).to(x.dtype)
            x = x - mean
        return self.encoder(x, lengths) if chunk_frames is None else self.encoder(x, lengths, chunk_frames=chunk_frames)


def build_model(name: str, num_features: int, vocab_size: int, feature_norm: str = "global", **kwargs) -> CtcModel:
    """Build the registered model ``name`` (its keyword arguments ``kwargs``) behind ``feature_norm``
    (:class:`CtcModel`); raise ValueError listing the known names otherwise."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(sorted(MODELS))}")
    module, cls = MODELS[name].split(":")
    encoder = getattr(importlib.import_module(module), cls)(num_features=num_features, vocab_size=vocab_size, **kwargs)
    return CtcModel(encoder, num_features, feature_norm)
