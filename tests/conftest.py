"""Fixtures shared by test files: one run of the mini_cmn recipe on its CI config for the whole session
(its packaged model and test audio), and ``asrt serve`` processes on free loopback ports."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "egs" / "mini_cmn"


def section(name: str, **values) -> dict:
    """A config section as a recipe's would load: the project's defaults (asrt/conf/<name>.yaml) with ``values``."""
    from asrt.config import default_section

    return {**default_section(name), **values}


def run_recipe(work: Path, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    """Run egs/mini_cmn/run.sh on the CI config with all outputs under ``work``."""
    cmd = ["bash", str(RECIPE / "run.sh"), "--config", "conf/ci.yaml", "--data-dir", str(work / "data"),
           "--exp-dir", str(work / "exp"), "--results", str(work / "RESULTS.md"), *args]
    proc = subprocess.run(cmd, cwd=RECIPE, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return proc


@pytest.fixture(scope="session")
def work(tmp_path_factory) -> Path:
    """A mini_cmn CI run through stage 5 (data, lang, features, LM, graph); tests/test_recipe_mini_cmn.py
    runs the later stages on it. ``ASRT_TEST_WORK=DIR`` reuses the run in DIR (a developer's shortcut:
    the stages it finished are not run again)."""
    reuse = os.environ.get("ASRT_TEST_WORK")
    work = Path(reuse) if reuse else tmp_path_factory.mktemp("mini_cmn")
    run_recipe(work, "--stop-stage", "5")
    return work


@pytest.fixture(scope="session")
def model_dir(work: Path) -> Path:
    """The packaged CI model (stage 8), running the stages the recipe tests have not run yet."""
    model = work / "exp" / "model"
    if not (model / "model.pt").exists():
        run_recipe(work)
    return model


@dataclass
class Utterance:
    """A test utterance of the CI corpus: its file and its samples as 16 kHz mono int16 PCM."""

    path: Path
    pcm: bytes


@pytest.fixture(scope="session")
def utterances(work: Path) -> list[Utterance]:
    """The first four test utterances of the clean 16 kHz condition (mono FLAC); the corpus mixes
    telephone, stereo and other rates, which the serving tests feed on purpose where they need them."""
    corpus = work / "data" / "local" / "mini_cmn"
    header, *lines = (corpus / "test.tsv").read_text().splitlines()
    rows = [dict(zip(header.split("\t"), line.split("\t"))) for line in lines]
    out = []
    for row in [r for r in rows if r["condition"] == "16k"][:4]:
        samples, rate = sf.read(corpus / row["path"], dtype="int16")
        assert rate == 16000 and samples.ndim == 1
        out.append(Utterance(corpus / row["path"], samples.astype("<i2").tobytes()))
    assert len(out) == 4, f"the test split has {len(out)} 16 kHz utterances"
    return out


@pytest.fixture(scope="session")
def reference(model_dir: Path, utterances: list[Utterance]) -> list[dict]:
    """``asrt recognize`` (one thread, as each server worker) on each utterance: what the servers must answer."""
    cmd = [sys.executable, "-m", "asrt.cli", "recognize", "--model-dir", str(model_dir),
           *(str(u.path) for u in utterances)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    assert all(r["pinyin"] for r in results), results
    return results


@pytest.fixture(scope="session")
def streaming_reference(model_dir: Path, utterances: list[Utterance]) -> list[dict]:
    """``asrt recognize --streaming`` on each utterance: what the servers' streams must answer."""
    cmd = [sys.executable, "-m", "asrt.cli", "recognize", "--streaming", "--model-dir", str(model_dir),
           *(str(u.path) for u in utterances)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    assert "partial" in proc.stderr, "partial results go to stderr"
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    assert all(r["text"] and r["segments"] for r in results), results
    return results


def free_port() -> int:
    """A TCP port that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A running ``asrt serve`` process."""

    proc: subprocess.Popen
    http_port: int
    grpc_port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM; return the exit status."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)


def start_server(model_dir: Path, log: Path, *args: str) -> Server:
    """Start ``asrt serve`` on free loopback ports (both protocols) and wait until it answers /health."""
    http_port, grpc_port = free_port(), free_port()
    # One worker per usable core gives each worker one torch thread, as in `reference`.
    cmd = [sys.executable, "-m", "asrt.cli", "serve", "--model-dir", str(model_dir), "--host", "127.0.0.1",
           "--http-port", str(http_port), "--grpc-port", str(grpc_port),
           "--workers", str(len(os.sched_getaffinity(0))), *args]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    server = Server(proc, http_port, grpc_port, log)
    deadline = time.time() + 120
    while True:
        assert proc.poll() is None, f"asrt serve exited ({proc.returncode}):\n{log.read_text()[-3000:]}"
        assert time.time() < deadline, f"asrt serve did not answer within 120 s:\n{log.read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(server.url + "/health", timeout=5) as r:
                if r.status == 200:
                    return server
        except OSError:
            time.sleep(0.2)


@pytest.fixture(scope="session")
def server(model_dir: Path, tmp_path_factory) -> Server:
    """``asrt serve`` with both protocols and a 2 MiB body limit, for the whole session."""
    server = start_server(model_dir, tmp_path_factory.mktemp("serve") / "serve.log", "--max-body-mb", "2")
    yield server
    if server.proc.poll() is None:
        server.stop()
