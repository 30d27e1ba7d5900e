"""GPU (or CPU) time of one stage-6 training step of a recipe's model on synthetic batches: no corpus needed.

A step is ``asrt.train.trainer.ctc_loss`` (forward and summed CTC loss), backward, gradient clipping and an AdamW
step on a batch of ``--batch-seconds`` of audio cut into utterances of ``--utt-seconds`` (random 80-bin
features, random labels of ``--syllables-per-second``). Feature loading and SpecAugment are not timed, so
this is the lower bound of a real step (``bench_training.py`` times real batches). Multiply by the steps
of an epoch (training hours x 3600 / batch seconds, x3 with speed perturbation) to plan a recipe's run.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from benchlib import machine_header, markdown_table, run_benchmark

from asrt.config import load_config
from asrt.models import build_model
from asrt.train.distributed import pick_device
from asrt.train.trainer import ctc_loss

WARMUP_STEPS = 3
NUM_TOKENS = 1841  # <blk> + the tonal-syllable inventory (data/lang/tokens.txt)
FRAMES_PER_SECOND = 100


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", type=Path, default=None,
                   help="recipe YAML overriding asrt/conf/*.yaml (its model and train sections are used)")
    p.add_argument("--utt-seconds", type=float, nargs="+", default=[4.5, 9.0],
                   help="utterance lengths to measure (AISHELL-1 averages about 4.5 s, THCHS-30 about 9 s)")
    p.add_argument("--batch-seconds", type=float, default=None,
                   help="seconds of audio per batch (default: the config's train.max_duration)")
    p.add_argument("--syllables-per-second", type=float, default=3.4)
    p.add_argument("--steps", type=int, default=10, help=f"timed steps, after {WARMUP_STEPS} warm-up steps")
    p.add_argument("--device", default="auto", help="auto (cuda when present), cpu or cuda")
    return p.parse_args()


def time_step(model: torch.nn.Module, optimizer, batch: dict, device: torch.device, steps: int,
              grad_clip: float) -> float:
    """Mean seconds of one training step on ``batch`` over ``steps`` timed steps."""
    def step() -> None:
        loss, _, _ = ctc_loss(model, batch, device)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()

    for _ in range(WARMUP_STEPS):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


def main() -> None:
    args = parse_args()
    config = load_config(args.config)
    mcfg, tcfg = config["model"], config["train"]
    device = pick_device(args.device)
    batch_seconds = args.batch_seconds or float(tcfg["max_duration"])
    rows = []
    for utt_s in args.utt_seconds:
        torch.manual_seed(0)
        model = build_model(num_features=80, vocab_size=NUM_TOKENS, **mcfg).to(device).train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=float(tcfg["lr"]), weight_decay=float(tcfg["weight_decay"]))
        n, frames = max(1, int(batch_seconds // utt_s)), int(utt_s * FRAMES_PER_SECOND)
        labels = max(1, int(utt_s * args.syllables_per_second))
        batch = {"feats": torch.randn(n, frames, 80), "feat_lens": torch.full((n,), frames, dtype=torch.long),
                 "targets": torch.randint(1, NUM_TOKENS, (n * labels,)),
                 "target_lens": torch.full((n,), labels, dtype=torch.long)}
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        seconds = time_step(model, optimizer, batch, device, args.steps, float(tcfg["grad_clip"]))
        peak = f"{torch.cuda.max_memory_allocated() / 2**30:.1f}" if device.type == "cuda" else "-"
        params = sum(p.numel() for p in model.parameters()) / 1e6
        rows.append([f"{mcfg['name']} {params:.1f} M", f"{n} x {utt_s:g} s", f"{seconds:.3f}",
                     f"{n * utt_s / seconds:.0f}", peak])
        del model, optimizer
    name = torch.cuda.get_device_name() if device.type == "cuda" else "cpu"
    print(machine_header(str(torch.get_num_threads()), name))
    print()
    print(markdown_table(["model", "batch", "s / step", "audio s / s", "peak GiB"], rows))


if __name__ == "__main__":
    run_benchmark(main, "bench_train_step")
