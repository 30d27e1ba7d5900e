"""Learning curves: dev token error rate against minutes of training, one line per experiment directory.

Reads the tensorboard events stage 6 writes (``<exp_dir>/tensorboard``): each ``dev/token_error_rate``
point at its wall-clock time, counted from the events file's first event (the start of training; a
resumed run's pause is not subtracted, so plot uninterrupted runs). Example::

    python benchmarks/learning_curve.py --out docs/img/mini_cmn_v2_learning_curve.png \\
        'tdnn 4 epochs=egs/mini_cmn/exp/default' 'conformer=egs/mini_cmn/exp/conformer'

Prints the points as a Markdown table too.
"""
from __future__ import annotations

import argparse
from pathlib import Path

TAG = "dev/token_error_rate"


def read_curve(exp_dir: Path) -> list[tuple[float, int, float]]:
    """(minutes since training started, step, dev token error rate in %) of every validation in ``exp_dir``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    points = []
    for events in sorted((Path(exp_dir) / "tensorboard").glob("events.out.tfevents.*")):
        acc = EventAccumulator(str(events), size_guidance={"scalars": 0})
        acc.Reload()
        if TAG not in acc.Tags()["scalars"]:
            continue
        start = acc.FirstEventTimestamp()
        points += [((e.wall_time - start) / 60, e.step, e.value) for e in acc.Scalars(TAG)]
    if not points:
        raise SystemExit(f"{exp_dir}: no {TAG} in {exp_dir}/tensorboard; has stage 6 validated yet?")
    return sorted(points)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="LABEL=EXP_DIR (or EXP_DIR, labelled with its name)")
    parser.add_argument("--out", type=Path, required=True, help="the PNG to write")
    parser.add_argument("--title", default="dev PER against training time (2 CPU cores)")
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    print("| run | minutes | step | dev error rate |\n|---|---|---|---|")
    for run in args.runs:
        label, _, path = run.rpartition("=")
        curve = read_curve(Path(path))
        ax.plot([p[0] for p in curve], [p[2] for p in curve], marker="o", label=label or Path(path).name)
        for minutes, step, rate in curve:
            print(f"| {label or Path(path).name} | {minutes:.1f} | {step} | {rate:.2f} |")
    ax.set_xlabel("minutes of stage 6 (training and validation)")
    ax.set_ylabel("dev token error rate (%)")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(args.title)
    ax.legend()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
