"""Stage 3: 80-bin log-mel filterbanks with lhotse's torch-native extractor (optionally with pitch,
``asrt/features/pitch.py``), or ASRT's 200-bin log spectrogram (``asrt/features/spectrogram.py``), stored with lilcom."""
from __future__ import annotations

import logging
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Mapping

import torch

from asrt.config import Section
from asrt.corpora import Splits
from asrt.fileio import atomic_path
from asrt.names import SAMPLE_RATE, cuts_path, feature_storage, manifest_path


def _fbank(features_cfg: Section):
    """lhotse's fbank, with 3 pitch dimensions appended when ``features.pitch`` is set."""
    from lhotse import Fbank, FbankConfig

    num_mel_bins = int(features_cfg["num_mel_bins"])
    if features_cfg["pitch"]:
        from asrt.features.pitch import FbankPitch, FbankPitchConfig

        return FbankPitch(FbankPitchConfig(num_mel_bins=num_mel_bins))
    return Fbank(FbankConfig(num_mel_bins=num_mel_bins))


def _spectrogram(features_cfg: Section):
    """ASRT's 200-bin log spectrogram (no pitch)."""
    from asrt.features.spectrogram import LogSpectrogram, LogSpectrogramConfig

    if features_cfg["pitch"]:
        raise ValueError("pitch features go with fbank only: set features.pitch to false for the spectrogram")
    return LogSpectrogram(LogSpectrogramConfig())


FEATURE_TYPES = {"fbank": _fbank, "spectrogram": _spectrogram}  # features.type: its extractor


def make_extractor(features_cfg: Mapping):
    """The feature extractor a ``features`` config section describes: lhotse's fbank, fbank + pitch, or
    ASRT's log spectrogram (``type: spectrogram``)."""
    cfg = Section("features", features_cfg)
    if cfg["type"] not in FEATURE_TYPES:
        raise ValueError(f"features type must be one of {', '.join(FEATURE_TYPES)}, not {cfg['type']!r}")
    return FEATURE_TYPES[cfg["type"]](cfg)


def compute_features(manifest_dir: Path, corpus: str, splits: Splits, out_dir: Path, features_cfg: dict,
                     num_jobs: int = 1, resume: bool = False) -> None:
    """Stage 3: the cuts with features of every split; training splits get ``features.speed_perturb`` copies.

    A run first removes the cuts an earlier run wrote, so that what ``resume`` keeps when an interrupted
    run is run again (the splits whose cuts exist) is only what that run finished.
    """
    out_dir = Path(out_dir)
    if not resume:
        for split in splits.all:
            cuts_path(out_dir, corpus, split).unlink(missing_ok=True)
    perturb = tuple(Section("features", features_cfg)["speed_perturb"] or ())
    for split in splits.all:
        if resume and cuts_path(out_dir, corpus, split).exists():
            logging.info("%s was finished before the interruption, keeping it", cuts_path(out_dir, corpus, split))
            continue
        compute_fbank(manifest_dir, corpus, split, out_dir, features_cfg, num_jobs,
                      perturb if split in splits.train.values() else ())


def model_input(cut):
    """``cut`` as the models hear it: the first channel of a multi-channel cut, resampled to 16 kHz (lazily,
    by lhotse, when its audio is loaded). lhotse's down-mix (``to_mono(mono_downmix=True)``) would keep the
    mixed audio in the manifest, so stage 3 takes a channel, as Kaldi's data preparation does."""
    from lhotse import MultiCut

    if isinstance(cut, MultiCut):
        cut = cut.to_mono()[0]
    return cut if cut.sampling_rate == SAMPLE_RATE else cut.resample(SAMPLE_RATE)


def split_cuts(manifest_dir: Path, corpus: str, split: str, speed_perturb: tuple[float, ...] = ()):
    """The eager CutSet stage 3 computes features for: one cut per labelled supervision, as the model hears
    it (:func:`model_input`), and a copy per ``speed_perturb`` factor after the originals."""
    from lhotse import CutSet, load_manifest

    recordings = load_manifest(manifest_path(manifest_dir, corpus, "recordings", split))
    supervisions = load_manifest(manifest_path(manifest_dir, corpus, "supervisions_labelled", split))
    cuts = CutSet.from_manifests(recordings=recordings, supervisions=supervisions).trim_to_supervisions(
        keep_overlapping=False).map(model_input).to_eager()
    if speed_perturb:
        cuts = CutSet.from_cuts([c for f in (1.0, *speed_perturb) for c in (cuts if f == 1.0 else cuts.perturb_speed(f))])
    return cuts


def compute_fbank(manifest_dir: Path, corpus: str, split: str, out_dir: Path, features_cfg: dict,
                  num_jobs: int = 1, speed_perturb: tuple[float, ...] = ()) -> Path:
    """Make ``<corpus>_cuts_<split>.jsonl.gz`` with features in ``out_dir``.

    ``speed_perturb`` (e.g. ``(0.9, 1.1)``) adds speed-perturbed copies, for training splits only.
    """
    from lhotse import LilcomChunkyWriter

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = cuts_path(out_dir, corpus, split)
    cuts = split_cuts(manifest_dir, corpus, split, speed_perturb)
    torch.set_num_threads(1)
    storage = feature_storage(out_dir, corpus, split)
    # What a killed run stored, perhaps with another --num-jobs: lhotse's one archive, or a directory of them
    storage.with_name(storage.name + ".lca").unlink(missing_ok=True)
    shutil.rmtree(storage, ignore_errors=True)
    extractor = make_extractor(features_cfg)
    logging.info("Computing features for %d %s cuts with %d jobs", len(cuts), split, num_jobs)
    cuts = cuts.compute_and_store_features(
        extractor=extractor, storage_path=storage, num_jobs=num_jobs,
        storage_type=LilcomChunkyWriter,
        executor=ProcessPoolExecutor(num_jobs, initializer=torch.set_num_threads, initargs=(1,)) if num_jobs > 1 else None)
    with atomic_path(out) as tmp:
        cuts.to_file(tmp)
    return out
