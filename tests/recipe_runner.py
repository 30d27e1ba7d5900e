"""Run a recipe (``egs/<corpus>/run.sh``) on a miniature corpus replica, outputs under a test directory."""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Callable

import pytest

ROOT = Path(__file__).resolve().parent.parent
REPLICA_CONFIG = Path(__file__).resolve().parent / "replica.yaml"


def run_corpus_recipe(recipe: str, corpus_dir: Path, work: Path, *args: str,
                      config: Path = REPLICA_CONFIG, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run stages 1-7 (unless ``args`` say otherwise) of ``egs/<recipe>/run.sh`` on ``corpus_dir``.

    Data, experiment and results go under ``work``; a failure raises AssertionError with the log's tail.
    """
    recipe_dir = ROOT / "egs" / recipe
    cmd = ["bash", str(recipe_dir / "run.sh"), "--corpus-dir", str(corpus_dir), "--config", str(config),
           "--data-dir", str(work / "data"), "--exp-dir", str(work / "exp"),
           "--results", str(work / "RESULTS.md"), "--stage", "1", "--stop-stage", "7", *args]
    proc = subprocess.run(cmd, cwd=recipe_dir, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return proc


def recipe_fixtures(recipe: str, build: Callable[[Path], Path], *args: str):
    """Module-scoped fixtures ``corpus`` (the replica ``build`` writes) and ``work`` (the recipe run on it, stages
    1-7 unless ``args`` say otherwise; its log is ``work/run.log``), for a test module to bind at its top:
    ``corpus, work = recipe_fixtures("thchs30", replica_thchs30.build)``."""
    @pytest.fixture(scope="module")
    def corpus(tmp_path_factory) -> Path:
        return build(tmp_path_factory.mktemp(f"{recipe}_corpus"))

    @pytest.fixture(scope="module")
    def work(corpus: Path, tmp_path_factory) -> Path:
        work = tmp_path_factory.mktemp(f"{recipe}_work")
        (work / "run.log").write_text(run_corpus_recipe(recipe, corpus, work, *args).stderr)
        return work

    return corpus, work
