"""A recipe config's figures over several training seeds: mean and sample standard deviation of dev and
test PER and CER, so that one run can be told apart from the spread of the same recipe on the same data.

For each seed it trains and decodes (stages 6-7) the config with only ``train.seed`` changed, on the
recipe's existing data directory (stages 0-5 must have run), each in its own experiment directory
``exp/<config>_seed<N>``; the config's own seed is its usual ``exp/<config>``, reused when finished. The
per-seed configs (``base: <config>`` plus the seed) go to ``exp/seeds/``; their rows go to
``exp/seeds/RESULTS.md``, not the recipe's RESULTS.md. Interrupted, it resumes like run.sh does. Example::

    benchmarks/seeds.py --recipe egs/mini_cmn --config conf/default.yaml --seeds 42 43 44
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
from pathlib import Path

from benchlib import markdown_table, print_report, require_files, run_benchmark

from asrt.config import load_config
from asrt.version import machine

METRICS = (("dev", "per"), ("dev", "cer"), ("test", "per"), ("test", "cer"))


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipe", type=Path, required=True, help="recipe directory, e.g. egs/mini_cmn")
    p.add_argument("--config", type=Path, required=True, help="config relative to the recipe directory")
    p.add_argument("--seeds", type=int, nargs="+", required=True)
    p.add_argument("--out", type=Path, help="also write the table to this Markdown file")
    return p.parse_args()


def seed_exp_dir(recipe: Path, config: Path, seed: int) -> tuple[Path, list[str]]:
    """The experiment directory of ``seed`` and the run.sh options that train and decode into it."""
    name = config.stem
    if seed == load_config(recipe / config)["train"]["seed"]:
        return recipe / "exp" / name, ["--config", str(config)]
    seed_config = recipe / "exp" / "seeds" / f"{name}_seed{seed}.yaml"
    seed_config.parent.mkdir(parents=True, exist_ok=True)
    seed_config.write_text(f"base: {(recipe / config).resolve()}\ntrain:\n  seed: {seed}\n", encoding="utf-8")
    exp_dir = recipe / "exp" / f"{name}_seed{seed}"
    return exp_dir, ["--config", str(seed_config.resolve()), "--exp-dir", str(exp_dir.resolve()),
                     "--results", str((recipe / "exp" / "seeds" / "RESULTS.md").resolve())]


def train_and_decode(recipe: Path, options: list[str]) -> None:
    """Stages 6-7 of the recipe with ``options`` (run.sh skips them when their markers say they are done)."""
    subprocess.run(["./run.sh", "--stage", "6", "--stop-stage", "7", *options], cwd=recipe, check=True)


def read_figures(exp_dir: Path) -> dict[tuple[str, str], float]:
    """Dev and test PER and CER of a decoded experiment (stage 7's ``decode/summary.json``)."""
    summary = json.loads((exp_dir / "decode" / "summary.json").read_text(encoding="utf-8"))
    return {(split, metric): summary[split][metric] for split, metric in METRICS}


def main() -> None:
    args = parse_args()
    recipe = args.recipe.resolve()
    require_files(recipe / args.config, hint="name a config of the recipe directory")
    runs = {}
    for seed in args.seeds:
        exp_dir, options = seed_exp_dir(recipe, args.config, seed)
        train_and_decode(recipe, options)
        runs[seed] = read_figures(exp_dir)
    header = ["seed", *(f"{split} {metric.upper()}" for split, metric in METRICS)]
    rows = [[seed, *(f"{fig[m]:.2f}" for m in METRICS)] for seed, fig in runs.items()]
    columns = [[fig[m] for fig in runs.values()] for m in METRICS]
    spread = [statistics.stdev(c) if len(c) > 1 else 0.0 for c in columns]
    rows.append(["mean ± std", *(f"{statistics.fmean(c):.2f} ± {s:.2f}" for c, s in zip(columns, spread))])
    text = (f"{args.recipe / args.config}, training seeds {', '.join(map(str, args.seeds))} "
            f"(sample std over {len(runs)} runs); machine: {machine()}\n\n{markdown_table(header, rows)}\n")
    print_report(text, args.out)


if __name__ == "__main__":
    run_benchmark(main, "seeds")
