"""Training throughput of the configured acoustic model: the steps of stage 6 (asrt/train/trainer.py), timed.

Each timed step is what training does: load and collate a ``DynamicBucketingSampler`` batch with
``CtcDataset`` (SpecAugment as configured), ``ctc_loss``, backward, gradient clipping and an AdamW step.
Two warm-up steps run first, untimed. Prints a Markdown table with one row per thread count, with the share
of the wall time spent loading the batch (features, collation, SpecAugment), in the forward pass and CTC
loss, in backward, and in clipping and the AdamW step.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Iterator

import torch
from benchlib import machine_header, markdown_table, require_files, run_benchmark

from asrt.config import load_config
from asrt.lang.tokens import TokenTable
from asrt.models import build_model
from asrt.train.dataset import CtcDataset
from asrt.train.distributed import pick_device
from asrt.train.trainer import ctc_loss

WARMUP_STEPS = 2
PHASES = ("load", "forward", "backward", "optimiser")  # a step's parts, timed apart


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cuts", type=Path, required=True,
                   help="cuts with features, e.g. data/fbank/mini_cmn_cuts_train.jsonl.gz")
    p.add_argument("--lang-dir", type=Path, required=True, help="directory with tokens.txt (data/lang)")
    p.add_argument("--config", type=Path, default=None,
                   help="recipe YAML overriding asrt/conf/*.yaml (its model and train sections are used)")
    p.add_argument("--steps", type=int, default=20,
                   help=f"timed steps per thread count, after {WARMUP_STEPS} warm-up steps")
    p.add_argument("--threads", type=int, nargs="+", default=None,
                   help="torch thread counts to measure (default: 1 and the config's train.num_threads)")
    p.add_argument("--max-duration", type=float, default=None,
                   help="seconds of audio per batch (default: the config's train.max_duration)")
    p.add_argument("--device", default="auto", help="auto (cuda when present), cpu or cuda")
    return p.parse_args()


def endless_batches(cuts, tokens: TokenTable, tcfg: dict, max_duration: float) -> Iterator[tuple[dict, float]]:
    """(batch, audio seconds) pairs from the training sampler and dataset, starting a new epoch when one ends."""
    from lhotse.dataset import DynamicBucketingSampler, SpecAugment

    sampler = DynamicBucketingSampler(cuts, max_duration=max_duration, shuffle=True,
                                      num_buckets=int(tcfg["num_buckets"]), seed=int(tcfg["seed"]))
    dataset = CtcDataset(tokens, SpecAugment(**tcfg["spec_augment"]) if tcfg["spec_augment"] else None)
    epoch = 0
    while True:
        sampler.set_epoch(epoch)
        empty = True
        for batch_cuts in sampler:
            empty = False
            yield dataset[batch_cuts], sum(c.duration for c in batch_cuts)
        if empty:
            raise ValueError("the sampler made no batches: the cuts manifest is empty")
        epoch += 1


def time_training(cuts, tokens: TokenTable, config: dict, device: torch.device, threads: int, steps: int,
                  max_duration: float) -> dict[str, float]:
    """Run warm-up and ``steps`` timed training steps on ``threads`` threads; return totals and wall seconds."""
    tcfg, mcfg = config["train"], config["model"]
    torch.set_num_threads(threads)
    torch.manual_seed(int(tcfg["seed"]))
    num_features = next(iter(cuts)).num_features
    model = build_model(num_features=num_features, vocab_size=len(tokens), **mcfg).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=float(tcfg["lr"]), weight_decay=float(tcfg["weight_decay"]))
    batches = endless_batches(cuts, tokens, tcfg, max_duration)
    totals = dict.fromkeys(("utts", "audio_s", "frames", *PHASES), 0.0)
    start = 0.0

    def clock() -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter()

    for step in range(WARMUP_STEPS + steps):
        if step == WARMUP_STEPS:
            start = clock()
        t0 = clock()
        batch, seconds = next(batches)
        t1 = clock()
        loss, _, _ = ctc_loss(model, batch, device)
        n = len(batch["cut_ids"])
        t2 = clock()
        optimizer.zero_grad(set_to_none=True)
        (loss / n).backward()
        t3 = clock()
        torch.nn.utils.clip_grad_norm_(model.parameters(), float(tcfg["grad_clip"]))
        optimizer.step()
        t4 = clock()
        if step >= WARMUP_STEPS:
            for key, value in zip(("utts", "audio_s", "frames", *PHASES),
                                  (n, seconds, int(batch["feat_lens"].sum()), t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                totals[key] += value
    return {"params": sum(p.numel() for p in model.parameters()), **totals, "wall_s": clock() - start}


def main() -> None:
    """Measure each thread count and print the table."""
    from lhotse import load_manifest_lazy

    args = parse_args()
    require_files(args.cuts, hint="give a cuts manifest with features written by stage 3 (asrt features)")
    require_files(args.lang_dir / "tokens.txt", hint="give the lang directory written by stage 2 (asrt lang)")
    if args.steps < 1:
        raise ValueError(f"--steps must be at least 1, not {args.steps}")
    config = load_config(args.config)
    tcfg, mcfg = config["train"], config["model"]
    threads = args.threads or sorted({1, int(tcfg["num_threads"])})
    max_duration = args.max_duration or float(tcfg["max_duration"])
    device = pick_device(args.device)
    tokens = TokenTable(args.lang_dir / "tokens.txt")
    cuts = load_manifest_lazy(args.cuts)
    label = f"{mcfg['name']} ({args.config.stem if args.config else 'conf defaults'})"
    rows = []
    for n in threads:
        r = time_training(cuts, tokens, config, device, n, args.steps, max_duration)
        wall = r["wall_s"]
        rows.append([label, f"{r['params'] / 1e6:.2f}", n, device.type, f"{r['utts'] / wall:.1f}",
                     f"{r['audio_s'] / wall:.1f}", f"{r['frames'] / wall:.0f}",
                     *(f"{100 * r[phase] / wall:.0f}" for phase in PHASES)])
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(machine_header(", ".join(str(n) for n in threads) + " (see table)", device_name))
    print(f"\nCTC training throughput on `{args.cuts}`: {args.steps} timed steps after {WARMUP_STEPS} warm-up, "
          f"batches of up to {max_duration:g} s of audio; data loading and SpecAugment included\n")
    print(markdown_table(["model", "params (M)", "threads", "device", "utterances/s",
                          "audio s/s (x real time)", "frames/s", *(f"% {phase}" for phase in PHASES)], rows))


if __name__ == "__main__":
    run_benchmark(main, "bench_training")
