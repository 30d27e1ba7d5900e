"""On-the-fly audio augmentation of the training batches (``train.augment``) with lhotse's cut transforms,
and the features computed from the augmented audio with stage 3's extractor.

Each transform a config switches on (``p`` > 0) is built afresh for every batch from a generator the
caller gives, so a batch's audio depends only on that generator's seed (training derives it from the batch
seed, :class:`asrt.train.samplers.SeededBatches`): a resumed run and any DataLoader worker build the same batch. The
transforms apply in the order of :data:`TRANSFORMS`. lhotse's generated room impulse responses, tempo
perturbation, narrowband and mu-law codecs need torchaudio, which asrt does not install, so reverberation
takes recorded impulse responses only and the others are not offered.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from asrt.config import Section
from asrt.names import SAMPLE_RATE

CODECS = ("gsm", "mp3", "opus", "vorbis")  # lhotse's Compress codecs, all written by soundfile


def _number(v: Any) -> bool:
    """``v`` is an int or a float (YAML's true is neither)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _interval(v: Any, low: float = -math.inf, high: float = math.inf) -> bool:
    """``v`` is [a, b] with low <= a <= b <= high."""
    return isinstance(v, (list, tuple)) and len(v) == 2 and all(map(_number, v)) and low <= v[0] <= v[1] <= high


def _manifest(v: Any) -> bool:
    """``v`` is the path of an existing file."""
    return isinstance(v, (str, Path)) and Path(v).is_file()


@dataclass(frozen=True)
class Transform:
    """One kind of ``train.augment`` entry: its keys besides ``p``, each with a test of its value and what the
    value must be, and how to make its lhotse cut transform from the entry and a random generator."""

    keys: dict[str, tuple[Callable[[Any], bool], str]]
    make: Callable[[dict, random.Random], Callable]


def _speed(c: dict, rng: random.Random) -> Callable:
    """Speed perturbation by one of ``factors``."""
    from lhotse.dataset.cut_transforms import PerturbSpeed

    return PerturbSpeed(list(c["factors"]), c["p"], randgen=rng, preserve_id=True)


def _reverb(c: dict, rng: random.Random) -> Callable:
    """Convolution with one of the ``rirs``."""
    from lhotse.dataset.cut_transforms import ReverbWithImpulseResponse

    return ReverbWithImpulseResponse(c["rirs"], c["p"], randgen=rng, preserve_id=True)


def _noise(c: dict, rng: random.Random) -> Callable:
    """Noise from ``cuts`` mixed in at an ``snr``."""
    from lhotse.dataset.cut_transforms import CutMix

    snr = tuple(c["snr"]) if isinstance(c["snr"], (list, tuple)) else c["snr"]
    # Each utterance keeps its length: noise fills it, the batch is not padded to its longest.
    return CutMix(c["cuts"], snr, c["p"], pad_to_longest=False, preserve_id=True, seed=rng)


def _lowpass(c: dict, rng: random.Random) -> Callable:
    """A low-pass filter at a ``cutoff``, by resampling."""
    from lhotse.dataset.cut_transforms import LowpassUsingResampling

    return LowpassUsingResampling(c["p"], tuple(c["cutoff"]), seed=None, rng=rng, preserve_id=True)


def _compress(c: dict, rng: random.Random) -> Callable:
    """A round trip through one of the ``codecs``."""
    from lhotse.dataset.cut_transforms import Compress

    level = tuple(c["level"]) if isinstance(c["level"], (list, tuple)) else c["level"]
    return Compress(list(c["codecs"]), level, p=c["p"], seed=None, rng=rng, preserve_id=True)


def _volume(c: dict, rng: random.Random) -> Callable:
    """A gain drawn from ``scale``."""
    from lhotse.dataset.cut_transforms import PerturbVolume

    return PerturbVolume(c["p"], *c["scale"], randgen=rng, preserve_id=True)


TRANSFORMS = {  # train.augment.<name>, in the order they apply: timing, room, noise, channel, level
    "speed": Transform({"factors": (lambda v: isinstance(v, list) and v and all(_number(f) and f > 0 for f in v),
                                    "a list of positive factors such as [0.9, 1.1]")}, _speed),
    "reverb": Transform({"rirs": (_manifest, "an existing lhotse recordings manifest of room impulse responses "
                                  "(lhotse's generated ones need torchaudio, which asrt does not install)")}, _reverb),
    "noise": Transform({"cuts": (_manifest, "an existing lhotse cuts manifest of noise recordings"),
                        "snr": (lambda v: _number(v) or _interval(v), "a number of dB or [low, high]")}, _noise),
    "lowpass": Transform({"cutoff": (lambda v: _interval(v, 1, SAMPLE_RATE // 2),
                                     f"[low, high] in Hz, at most {SAMPLE_RATE // 2}")}, _lowpass),
    "compress": Transform({"codecs": (lambda v: isinstance(v, list) and v and len(set(v)) == len(v)
                                      and set(v) <= set(CODECS), f"a list of codecs from {', '.join(CODECS)}"),
                           "level": (lambda v: (_number(v) and 0 <= v <= 1) or _interval(v, 0, 1),
                                     "a number from 0 to 1 or [low, high]")}, _compress),
    "volume": Transform({"scale": (lambda v: _interval(v, 1e-9), "[low, high] gains above 0")}, _volume),
}


def check_augment(section: dict | None) -> dict[str, dict]:
    """The transforms a ``train.augment`` section switches on (p > 0), in the order they apply; raise
    ValueError naming the first unknown key or bad value."""
    if not section:
        return {}
    if not isinstance(section, dict):
        raise ValueError(f"train.augment must map transforms ({', '.join(TRANSFORMS)}) to settings, or be null")
    on = {}
    for name, params in section.items():
        where = f"train.augment.{name}"
        if name not in TRANSFORMS:
            raise ValueError(f"{where} is not a transform: use {', '.join(TRANSFORMS)}")
        keys = TRANSFORMS[name].keys
        if not isinstance(params, dict):
            raise ValueError(f"{where} must be a mapping with the keys p, {', '.join(keys)}")
        for key in params:
            if key != "p" and key not in keys:
                raise ValueError(f"{where} has no key {key!r}: its keys are p, {', '.join(keys)}")
        p = Section(where, params)["p"]
        if not (_number(p) and 0 <= p <= 1):
            raise ValueError(f"{where}.p must be a probability from 0 to 1, not {p!r}")
        if p > 0:
            for key, (valid, what) in keys.items():
                if not valid(params.get(key)):
                    raise ValueError(f"{where}.{key} must be {what}, not {params.get(key)!r}")
            on[name] = params
    return {name: on[name] for name in TRANSFORMS if name in on}


def _load_manifests(name: str, params: dict) -> dict:
    """An entry with its manifest path (reverb's ``rirs``, noise's ``cuts``) replaced by its contents, read as
    16 kHz (mono) audio like the training cuts (stage 3's :func:`asrt.features.extract.model_input`)."""
    from lhotse import CutSet, RecordingSet, load_manifest

    from asrt.features.extract import model_input

    key, kind = {"reverb": ("rirs", RecordingSet), "noise": ("cuts", CutSet)}.get(name, (None, None))
    if key is None:
        return params
    manifest = load_manifest(params[key])
    if not isinstance(manifest, kind):
        raise ValueError(f"train.augment.{name}.{key} must be a lhotse {kind.__name__} manifest, but "
                         f"{params[key]} holds a {type(manifest).__name__}")
    if kind is RecordingSet:
        return {**params, key: [r if r.sampling_rate == SAMPLE_RATE else r.resample(SAMPLE_RATE) for r in manifest]}
    return {**params, key: CutSet.from_cuts(model_input(c.drop_features()) for c in manifest)}


class AudioAugmentation:
    """The transforms ``train.augment`` switches on, applied to a batch's audio, and the features of the
    result computed with stage 3's extractor (lhotse's ``OnTheFlyFeatures``)."""

    def __init__(self, transforms: dict[str, dict], extractor) -> None:
        from lhotse.dataset.input_strategies import OnTheFlyFeatures

        self.settings = transforms  # as :func:`check_augment` returned them
        self.transforms = {name: _load_manifests(name, params) for name, params in transforms.items()}
        self.features = OnTheFlyFeatures(extractor)

    def __call__(self, cuts, rng: random.Random):
        """The batch's cuts (16 kHz mono audio since stage 3, their stored features dropped) through each
        transform, every random choice drawn from ``rng``."""
        from lhotse import CutSet

        cuts = CutSet.from_cuts(c.drop_features() for c in cuts)
        for name, params in self.transforms.items():
            cuts = TRANSFORMS[name].make(params, rng)(cuts)
        return cuts

    def batch(self, cuts, rng: random.Random) -> tuple:
        """(augmented cuts longest first, their padded features, frame counts), computed on one torch thread as
        in a DataLoader worker: resampling and convolution give other results on other thread counts."""
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            cuts = self(cuts, rng).sort_by_duration(ascending=False)
            return (cuts, *self.features(cuts))
        finally:
            torch.set_num_threads(threads)

    def __str__(self) -> str:
        """The transforms that are on and their settings, for the log."""
        return "; ".join(f"{name} " + ", ".join(f"{k} {v}" for k, v in params.items())
                         for name, params in self.settings.items())


def audio_augmentation(section: dict | None, features_cfg: dict, num_features: int) -> AudioAugmentation | None:
    """The augmentation a ``train.augment`` section asks for, with the extractor of the ``features`` section
    (stage 3's), or None when it switches nothing on; raise ValueError for a bad section or an extractor whose
    frames are not of the stored features' size ``num_features``."""
    from asrt.features.extract import make_extractor

    transforms = check_augment(section)
    if not transforms:
        return None
    extractor = make_extractor(features_cfg)
    dim = extractor.feature_dim(SAMPLE_RATE)
    if dim != num_features:
        raise ValueError(f"train.augment computes features with the features section, whose frames have {dim} "
                         f"values, but the training cuts' have {num_features}: train with the config stage 3 used")
    return AudioAugmentation(transforms, extractor)
