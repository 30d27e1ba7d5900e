"""Stage 4: a character n-gram LM trained with KenLM's ``lmplz`` (ARPA output); lmplz's own progress
meter and statistics go to stderr as it writes them."""
from __future__ import annotations

import codecs
import logging
import shutil
import subprocess
import sys
from pathlib import Path

from asrt.fileio import atomic_path


def train_ngram(text: Path, out_arpa: Path, order: int, prune: list[int] | None = None,
                memory: str = "20%") -> Path:
    """Train an ``order``-gram ARPA LM on ``text`` (one sentence per line, space-separated units)."""
    out_arpa = Path(out_arpa)
    lmplz = shutil.which("lmplz")
    if lmplz is None:
        raise RuntimeError("lmplz is not on PATH; source path.sh (it builds KenLM on first use).")
    cmd = [lmplz, "-o", str(order), "-S", memory, "--discount_fallback", "--text", str(text)]
    if prune:
        cmd += ["--prune", *map(str, prune)]
    with atomic_path(out_arpa) as tmp:
        cmd += ["--arpa", str(tmp)]
        logging.info("Running %s", " ".join(cmd))
        returncode, messages = run_showing_stderr(cmd)
        if returncode != 0:
            raise RuntimeError(f"lmplz failed:\n{messages}")
    return out_arpa


def run_showing_stderr(cmd: list[str], keep: int = 2000) -> tuple[int, str]:
    """Run ``cmd`` with its stderr copied to ours as it arrives (lmplz draws its progress meter there, a
    star at a time); return its exit status and the last ``keep`` characters of that stderr."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    tail = ""
    with subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as proc:
        for chunk in iter(lambda: proc.stderr.read1(4096), b""):
            text = decoder.decode(chunk)
            sys.stderr.write(text)
            sys.stderr.flush()
            tail = (tail + text)[-keep:]
    return proc.returncode, tail
