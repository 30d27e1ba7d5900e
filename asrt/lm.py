"""Stage 4: a character n-gram LM trained with KenLM's ``lmplz`` (ARPA output)."""
from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

from asrt.fileio import atomic_path


def train_ngram(text: Path, out_arpa: Path, order: int, prune: list[int] | None = None,
                memory: str = "20%") -> Path:
    """Train an ``order``-gram ARPA LM on ``text`` (one sentence per line, space-separated units)."""
    out_arpa = Path(out_arpa)
    if out_arpa.exists():
        logging.info("%s exists, skipping", out_arpa)
        return out_arpa
    lmplz = shutil.which("lmplz")
    if lmplz is None:
        raise RuntimeError("lmplz is not on PATH; source path.sh (it builds KenLM on first use).")
    cmd = [lmplz, "-o", str(order), "-S", memory, "--discount_fallback", "--text", str(text)]
    if prune:
        cmd += ["--prune", *map(str, prune)]
    with atomic_path(out_arpa) as tmp:
        cmd += ["--arpa", str(tmp)]
        logging.info("Running %s", " ".join(cmd))
        proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"lmplz failed:\n{proc.stderr[-2000:]}")
    return out_arpa
