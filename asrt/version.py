"""Which code made a result or a model: the checked-out git commit (RESULTS.md rows, packaged models)."""
from __future__ import annotations

import subprocess
from pathlib import Path


def git_commit() -> str:
    """Short hash of the checked-out commit (``unknown`` outside a git checkout)."""
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
