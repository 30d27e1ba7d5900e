"""Learning curves: dev token error rate against minutes of training, one line per experiment directory.

Reads the tensorboard events stage 6 writes (``<exp_dir>/tensorboard``): each ``dev/token_error_rate``
point at its wall-clock time, counted from the events file's first event (the start of training; a
resumed run's pause is not subtracted, so plot uninterrupted runs). Example::

    python benchmarks/learning_curve.py --out docs/img/mini_cmn_v2_learning_curve.png \\
        'tdnn 4 epochs=egs/mini_cmn/exp/default' 'conformer=egs/mini_cmn/exp/conformer'

Prints the points as a Markdown table too. With ``--dev-cuts`` (and ``--lang-dir``), each epoch's
checkpoint (``epoch-<E>.pt``) is scored again by greedy CTC on those cuts instead, at the minute its own
validation was logged: curves of runs made with different dev sets, compared on one.
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


def revalidate(exp_dir: Path, dev_cuts: Path, lang_dir: Path) -> list[tuple[float, int, float]]:
    """``read_curve``'s points with each epoch's error rate recomputed on ``dev_cuts`` (greedy CTC, the
    output units' own metric: PER for pinyin); the k-th validation of the run is epoch k's."""
    import torch
    from lhotse import load_manifest

    from asrt.decode.greedy import ctc_greedy
    from asrt.decode.scoring import edit_counts
    from asrt.lang.tokens import TokenTable
    from asrt.models.checkpoint import load_model

    tokens = TokenTable(Path(lang_dir) / "tokens.txt")
    cuts = load_manifest(dev_cuts)
    points = []
    for epoch, (minutes, step, _) in enumerate(read_curve(exp_dir), 1):
        model, _ = load_model(Path(exp_dir) / f"epoch-{epoch}.pt")
        errors = length = 0
        for cut in cuts:
            feats = torch.from_numpy(cut.load_features())
            with torch.no_grad():
                lp, lens = model(feats.unsqueeze(0), torch.tensor([feats.shape[0]]))
            ref, hyp = tokens.units.greedy_scoring(cut.supervisions[0], tokens.decode(ctc_greedy(lp[0, : lens[0]])))
            counts = edit_counts(ref, hyp)
            errors, length = errors + counts.errors, length + counts.ref_len
        points.append((minutes, step, 100.0 * errors / length))
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="LABEL=EXP_DIR (or EXP_DIR, labelled with its name)")
    parser.add_argument("--out", type=Path, required=True, help="the PNG to write")
    parser.add_argument("--title", default="dev PER against training time (2 CPU cores)")
    parser.add_argument("--dev-cuts", type=Path, help="score every epoch's checkpoint again on these cuts")
    parser.add_argument("--lang-dir", type=Path, help="the lang directory of the runs' tokens (with --dev-cuts)")
    args = parser.parse_args()
    if args.dev_cuts and not args.lang_dir:
        parser.error("--dev-cuts needs --lang-dir")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    print("| run | minutes | step | dev error rate |\n|---|---|---|---|")
    for run in args.runs:
        label, _, path = run.rpartition("=")
        curve = revalidate(Path(path), args.dev_cuts, args.lang_dir) if args.dev_cuts else read_curve(Path(path))
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
