"""CPU cost of on-the-fly audio augmentation (``train.augment``, asrt/train/augment.py) per training batch, on one thread.

Each row builds the same ``DynamicBucketingSampler`` batches with ``CtcDataset`` as stage 6 does (SpecAugment
off): from the stored features; from features computed from the audio with the features section's extractor,
no transform; with each transform the config describes alone at p 1 (reverb and noise only when the config
names their manifests); with all of those together; with ``train.augment`` as the config sets it. One warm-up
batch per row runs first, untimed.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from benchlib import machine_header, markdown_table, require_files, run_benchmark

from asrt.config import load_config
from asrt.features.extract import make_extractor
from asrt.lang.tokens import TokenTable
from asrt.train.augment import TRANSFORMS, AudioAugmentation, check_augment
from asrt.train.dataset import CtcDataset
from asrt.train.samplers import SeededDataset


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cuts", type=Path, required=True,
                   help="cuts with features and audio, e.g. data/fbank/mini_cmn_cuts_train.jsonl.gz")
    p.add_argument("--lang-dir", type=Path, required=True, help="directory with tokens.txt (data/lang)")
    p.add_argument("--config", type=Path, default=None,
                   help="recipe YAML overriding asrt/conf/*.yaml (its features and train.augment sections are used)")
    p.add_argument("--max-cuts", type=int, default=300, help="use the first N cuts")
    p.add_argument("--max-duration", type=float, default=None,
                   help="seconds of audio per batch (default: the config's train.max_duration)")
    return p.parse_args()


def variants(section: dict) -> dict[str, dict | None]:
    """Row name: the transforms it applies (None: stored features); each usable transform alone, all of them,
    and the section as it is."""
    alone = {}
    for name, params in (section or {}).items():
        try:
            alone.update(check_augment({name: {**params, "p": 1.0}}))
        except ValueError:  # reverb or noise without a manifest
            pass
    rows: dict[str, dict | None] = {"stored features": None, "on the fly, no transform": {}}
    rows.update({f"on the fly, {name}": {name: alone[name]} for name in TRANSFORMS if name in alone})
    if len(alone) > 1:
        rows["on the fly, all of the above"] = {name: alone[name] for name in TRANSFORMS if name in alone}
    if check_augment(section):
        rows["on the fly, train.augment as configured"] = check_augment(section)
    return rows


def time_batches(batches: list, dataset) -> tuple[float, float]:
    """Seconds per batch and audio seconds per second of ``dataset`` over ``batches`` (after one warm-up)."""
    dataset[(0, batches[0])]
    start = time.perf_counter()
    for i, cuts in enumerate(batches):
        dataset[(i, cuts)]
    elapsed = time.perf_counter() - start
    return elapsed / len(batches), sum(c.duration for b in batches for c in b) / elapsed


def main() -> None:
    """Time each row's batches and print the table."""
    from lhotse import load_manifest
    from lhotse.dataset import DynamicBucketingSampler

    args = parse_args()
    require_files(args.cuts, args.lang_dir / "tokens.txt", hint="run stages 2 and 3 of a recipe first")
    torch.set_num_threads(1)
    config = load_config(args.config)
    cuts = load_manifest(args.cuts).subset(first=args.max_cuts)
    max_duration = args.max_duration or float(config["train"]["max_duration"])
    batches = list(DynamicBucketingSampler(cuts, max_duration=max_duration, shuffle=False, num_buckets=2))
    tokens, extractor = TokenTable(args.lang_dir / "tokens.txt"), make_extractor(config["features"])
    rows = []
    for name, transforms in variants(config["train"]["augment"]).items():
        augmentation = None if transforms is None else AudioAugmentation(transforms, extractor)
        per_batch, speed = time_batches(batches, SeededDataset(CtcDataset(tokens, None, augmentation)))
        rows.append([name, f"{per_batch:.3f}", f"{speed:.0f}"])
    print(machine_header(str(torch.get_num_threads())))
    print(f"\n{len(batches)} batches of up to {max_duration:g} s from {len(cuts)} cuts of `{args.cuts}`\n")
    print(markdown_table(["batches built from", "s per batch", "audio s per s"], rows))


if __name__ == "__main__":
    run_benchmark(main, "bench_augment")
