"""The figures of one ``benchmarks/gpu_check.sh`` run as Markdown: stage times, training rate, peak GPU memory,
the loss and dev PER after each epoch, and the step benchmark's table (see gpu_check.sh)."""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
from benchlib import machine_header, markdown_table, run_benchmark

STAGES = {"0": "synthesise the corpus", "1": "manifests", "2": "labels and lang", "3": "features", "6": "train"}


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--exp-dir", type=Path, required=True, help="the check's stage-6 directory (epoch-N.pt)")
    p.add_argument("--stage-seconds", type=Path, required=True, help="stage<TAB>seconds lines")
    p.add_argument("--gpu-memory", type=Path, required=True, help="nvidia-smi's CSV samples (empty without a GPU)")
    p.add_argument("--train-step", type=Path, required=True, help="bench_train_step.py's output")
    return p.parse_args()


def peak_gpu_mib(samples: Path) -> str:
    """The largest ``memory.used`` of nvidia-smi's samples, or "no GPU"."""
    used = [int(line.split(",")[1].split()[0]) for line in samples.read_text().splitlines() if line.count(",") >= 2]
    return f"{max(used)} MiB (whole device, nvidia-smi)" if used else "no GPU"


def epoch_rows(exp_dir: Path) -> list[list[str]]:
    """Epoch, train loss, dev loss and dev token error rate from each ``epoch-N.pt``."""
    rows = []
    for path in sorted(exp_dir.glob("epoch-*.pt"), key=lambda p: int(p.stem.split("-")[1])):
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
        rows.append([str(ckpt["epoch"]), str(ckpt["step"]), f"{ckpt['train_loss']:.3f}", f"{ckpt['dev_loss']:.3f}",
                     f"{ckpt['dev_token_error_rate']:.2f}"])
    return rows


def main() -> None:
    """Print the summary."""
    args = parse_args()
    seconds = dict(line.split("\t") for line in args.stage_seconds.read_text().splitlines() if line)
    epochs = epoch_rows(args.exp_dir)
    steps = int(epochs[-1][1]) if epochs else 0
    train_s = float(seconds.get("6", "nan"))
    print("# gpu_check\n")
    print(machine_header(str(torch.get_num_threads()), torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"), "\n")
    print(markdown_table(["stage", "what", "seconds"], [[k, STAGES[k], v] for k, v in seconds.items()]), "\n")
    print(f"Training (egs/mini_cmn/conf/gpu.yaml): {steps} steps in {train_s:.0f} s of stage 6 "
          f"({steps / train_s:.2f} steps/s, dev passes and start-up included); peak GPU memory "
          f"{peak_gpu_mib(args.gpu_memory)}.\n")
    print(markdown_table(["epoch", "step", "train loss", "dev loss", "dev PER"], epochs), "\n")
    print("Training step of the real recipes' conformer (benchmarks/bench_train_step.py):\n")
    print(args.train_step.read_text())


if __name__ == "__main__":
    run_benchmark(main, "gpu_check_summary")
