"""Front-ends that reduce the frame rate before an encoder: 1-D (over time) and 2-D (over time and frequency)."""
from __future__ import annotations

import torch
from torch import nn


class Conv1dSubsampling(nn.Module):
    """Three stride-2 convolutions over time (8x fewer frames) that see every frequency bin, so the
    harmonic spacing that carries pitch, and with it the tone, is not pooled away."""

    def __init__(self, num_features: int, channels: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(3):
            layers += [nn.Conv1d(num_features if i == 0 else channels, channels, 3, stride=2),
                       nn.BatchNorm1d(channels), nn.ReLU()]
        self.conv = nn.Sequential(*layers)

    @staticmethod
    def output_lengths(lengths: torch.Tensor) -> torch.Tensor:
        """Number of output frames for inputs of ``lengths`` frames."""
        for _ in range(3):
            lengths = (lengths - 3) // 2 + 1
        return lengths

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[N, T, F]`` features to ``[N, C, T/8]`` and the new lengths."""
        return self.conv(x.transpose(1, 2)), self.output_lengths(lengths)



class Conv2dSubsampling(nn.Module):
    """Stride-2 3x3 convolutions (two for 4x, three for 8x time reduction), projected to ``d_model``.

    ``freq_strides`` gives each convolution's stride over frequency (default 2 for every one); a stride
    of 1 keeps the frequency resolution, and with it small movements of the pitch harmonics, for the
    next layer.

    ``causal``: each convolution gets one frame of padding before it in time and none after, so that
    output frame ``t`` sees input frames up to ``factor * t + factor - 1`` (the end of its own block of
    frames, no lookahead) and there are exactly ``T // factor`` outputs. Such a front-end streams with one
    cached input frame per convolution (:meth:`init_stream`, :meth:`stream`).
    """

    def __init__(self, num_features: int, d_model: int, channels: int = 32, factor: int = 8,
                 freq_strides: tuple[int, ...] | None = None, causal: bool = False) -> None:
        super().__init__()
        if factor not in (4, 8):
            raise ValueError(f"subsampling factor must be 4 or 8, not {factor}")
        self.num_convs = 2 if factor == 4 else 3
        self.factor = factor
        self.causal = causal
        freq_strides = tuple(freq_strides) if freq_strides is not None else (2,) * self.num_convs
        if len(freq_strides) != self.num_convs or any(s not in (1, 2) for s in freq_strides):
            raise ValueError(f"freq_strides must be {self.num_convs} strides of 1 or 2, not {list(freq_strides)}")
        layers: list[nn.Module] = []
        freq = num_features
        self._freqs = []  # each convolution's input bins
        for i, fs in enumerate(freq_strides):
            self._freqs.append(freq)
            layers += [nn.Conv2d(1 if i == 0 else channels, channels, 3, stride=(2, fs)), nn.ReLU()]
            freq = (freq - 3) // fs + 1
        self.conv = nn.Sequential(*layers)
        self.out = nn.Linear(channels * freq, d_model)

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Number of output frames for inputs of ``lengths`` frames."""
        if self.causal:
            return torch.div(lengths, self.factor, rounding_mode="floor")
        for _ in range(self.num_convs):
            lengths = (lengths - 1) // 2
        return lengths

    def _project(self, x: torch.Tensor) -> torch.Tensor:
        n, c, t, f = x.shape
        return self.out(x.transpose(1, 2).reshape(n, t, c * f))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.unsqueeze(1)
        if self.causal:
            for layer in self.conv:
                x = layer(nn.functional.pad(x, (0, 0, 1, 0)) if isinstance(layer, nn.Conv2d) else x)
        else:
            x = self.conv(x)  # [N, C, T', F']
        return self._project(x), self.output_lengths(lengths)

    def init_stream(self, batch: int = 1) -> list[torch.Tensor]:
        """A causal front-end's stream state: each convolution's cached input frame (zeros: its padding)."""
        param = self.out.weight
        return [torch.zeros(batch, 1 if i == 0 else self.conv[0].out_channels, 1, f, dtype=param.dtype,
                            device=param.device) for i, f in enumerate(self._freqs)]

    def stream(self, x: torch.Tensor, cache: list[torch.Tensor],
               advance: int | None = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The next ``T / factor`` outputs of a causal front-end for the next ``T`` input frames ``[N, T, F]``
        (``T`` a multiple of ``factor``), and the new cache; equal to :meth:`forward` over the whole input.
        With ``advance`` (a multiple of ``factor``), the cache is the one after the first ``advance`` frames
        only: the next call starts there (overlapping chunks, as a lookahead that is recomputed)."""
        advance = x.size(1) if advance is None else advance
        if x.size(1) % self.factor or advance % self.factor or not 0 < advance <= x.size(1):
            raise ValueError(f"a streamed chunk and its advance must be multiples of {self.factor} frames, "
                             f"not {x.size(1)} and {advance}")
        x, new_cache = x.unsqueeze(1), []
        for i, cached in enumerate(cache):
            new_cache.append(x[:, :, advance // 2 ** i - 1: advance // 2 ** i])
            x = self.conv[2 * i + 1](self.conv[2 * i](torch.cat([cached, x], dim=2)))
        return self._project(x), new_cache
