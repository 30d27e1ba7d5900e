"""Fbank extraction speed on one core: lhotse's torch-native ``Fbank``, as stage 3 (asrt/features/extract.py) uses it.

Audio decoding (``load_audio``) and feature extraction are timed separately, so the table shows what the
extractor itself costs. Prints a Markdown table.
"""
from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import torch
from benchlib import machine_header, markdown_table, require_files, run_benchmark

from asrt.config import load_config


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recordings", "--cuts", dest="manifest", type=Path, required=True,
                   help="lhotse recordings (or cuts) manifest, e.g. data/manifests/mini_cmn_recordings_test.jsonl.gz")
    p.add_argument("--max-utts", type=int, default=None, help="use only the first N recordings (default: all)")
    p.add_argument("--num-mel-bins", type=int, default=int(load_config()["features"]["num_mel_bins"]),
                   help="mel bins (default: asrt/conf/features.yaml)")
    return p.parse_args()


def time_fbank(items, num_mel_bins: int) -> dict[str, float]:
    """Decode and extract fbank for each recording or cut; return count, audio, decode and extraction seconds."""
    from lhotse import Fbank, FbankConfig

    extractor = Fbank(FbankConfig(num_mel_bins=num_mel_bins))
    count, audio_s, decode_s, extract_s = 0, 0.0, 0.0, 0.0
    warmed_up = False
    for item in items:
        t0 = time.perf_counter()
        samples = item.load_audio()
        t1 = time.perf_counter()
        if not warmed_up:  # the first call pays one-time torch set-up costs
            extractor.extract(samples, item.sampling_rate)
            warmed_up = True
            t1 = time.perf_counter()
        extractor.extract(samples, item.sampling_rate)
        t2 = time.perf_counter()
        count, audio_s = count + 1, audio_s + item.duration
        decode_s, extract_s = decode_s + t1 - t0, extract_s + t2 - t1
    if count == 0:
        raise ValueError("the manifest has no recordings")
    return {"count": count, "audio_s": audio_s, "decode_s": decode_s, "extract_s": extract_s}


def main() -> None:
    """Time fbank extraction over the manifest and print the table."""
    from lhotse import load_manifest_lazy

    args = parse_args()
    require_files(args.manifest, hint="give a recordings manifest written by stage 1 (asrt prepare)")
    torch.set_num_threads(1)
    items = itertools.islice(load_manifest_lazy(args.manifest), args.max_utts)
    r = time_fbank(items, args.num_mel_bins)
    print(machine_header(str(torch.get_num_threads())))
    print(f"\nFbank ({args.num_mel_bins} mel bins, lhotse torch-native) on `{args.manifest}`\n")
    print(markdown_table(
        ["recordings", "audio s", "fbank wall s", "x real time per core", "audio decode s (separate)"],
        [[r["count"], f"{r['audio_s']:.1f}", f"{r['extract_s']:.3f}", f"{r['audio_s'] / r['extract_s']:.0f}",
          f"{r['decode_s']:.3f}"]]))


if __name__ == "__main__":
    run_benchmark(main, "bench_features")
