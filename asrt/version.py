"""Which code and machine made a result or a model: the checked-out git commit (RESULTS.md rows, packaged
models) and the machine's description (RESULTS.md rows, benchmark headers): numbers differ between CPU
kinds, so a figure is only comparable with figures from the same kind of machine."""
from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

_VECTOR_ISAS = ("avx512f", "avx2", "avx", "sve", "asimd")  # the widest one a CPU has names it


def git_commit() -> str:
    """Short hash of the checked-out commit (``unknown`` outside a git checkout)."""
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo (empty elsewhere)."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if not line.strip():
                break
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
    except OSError:
        pass
    return fields


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or what ``platform`` knows elsewhere)."""
    return _cpuinfo().get("model name") or platform.processor() or platform.machine() or "unknown CPU"


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity), which can be fewer than the machine has."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def machine() -> str:
    """This machine in one line: CPU model, its widest vector instructions, usable cores, the GPU when
    torch sees one, torch's version (e.g. ``Intel(R) Xeon(R) Processor, avx512f, 2 cores, torch 2.13.0+cpu``)."""
    import torch

    info = _cpuinfo()
    flags = set((info.get("flags") or info.get("Features") or "").split())
    isa = next((f for f in _VECTOR_ISAS if f in flags), platform.machine())
    gpu = f", {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    return f"{cpu_model()}, {isa}, {usable_cores()} cores{gpu}, torch {torch.__version__}"
