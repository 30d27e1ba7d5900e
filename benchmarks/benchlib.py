"""Helpers shared by the benchmark scripts: the machine header line, Markdown tables, path checks, a server."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Callable, Sequence

from asrt.version import cpu_model, usable_cores


def machine_header(torch_threads: str, device: str | None = None) -> str:
    """One Markdown line naming the CPU, its core counts, torch's version and thread count (and device)."""
    import torch

    line = (f"**Machine:** {cpu_model()}, {os.cpu_count()} cores ({usable_cores()} usable); "
            f"torch {torch.__version__}, torch threads: {torch_threads}")
    return line + (f"; device: {device}" if device else "")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table; numbers in ``rows`` should already be formatted as strings."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(x) for x in row) + " |" for row in rows]
    return "\n".join(lines)


def print_report(text: str, out: Path | None) -> None:
    """Print a benchmark's Markdown report, and write it to ``out`` too when given."""
    print(text)
    if out:
        Path(out).write_text(text, encoding="utf-8")


def require_files(*paths: Path, hint: str) -> None:
    """Raise FileNotFoundError naming the first missing path and what to do about it."""
    for path in paths:
        if not Path(path).exists():
            raise FileNotFoundError(f"{path} does not exist; {hint}")


def run_benchmark(main: Callable[[], None], name: str) -> None:
    """Run ``main``; errors a user can cause (missing file, bad option) end in one line, not a traceback."""
    try:
        main()
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        print(f"{name}: error: {e}", file=sys.stderr)
        sys.exit(1)


def free_port() -> int:
    """A loopback TCP port that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model_dir: Path, workers: int, *options: str) -> tuple[subprocess.Popen, str, int]:
    """``asrt serve`` on free loopback ports (with ``options``, e.g. limits); returns the process, its HTTP
    URL and its gRPC port once /health answers."""
    port, grpc_port = free_port(), free_port()
    proc = subprocess.Popen([sys.executable, "-m", "asrt.cli", "--log-level", "WARNING", "serve", "--model-dir",
                             str(model_dir), "--host", "127.0.0.1", "--http-port", str(port),
                             "--grpc-port", str(grpc_port), "--workers", str(workers), *options])
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 300
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"asrt serve exited with status {proc.returncode}; see its messages above")
        try:
            urllib.request.urlopen(url + "/health", timeout=5).close()
            return proc, url, grpc_port
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    raise RuntimeError("asrt serve did not answer /health within 300 s")
