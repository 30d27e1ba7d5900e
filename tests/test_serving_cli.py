"""``asrt client`` against a running ``asrt serve``, and the server's clean shutdown on SIGTERM."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import Server, Utterance, free_port, start_server

from asrt.serving.client import HttpClient, Pcm, ServiceError


def client(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "asrt.cli", "client", *args], capture_output=True, text=True,
                          timeout=300)


def test_http_and_grpc_clients(server: Server, utterances: list[Utterance], reference: list[dict]) -> None:
    files = [str(u.path) for u in utterances[:2]]
    for protocol, port in (("http", server.http_port), ("grpc", server.grpc_port)):
        proc = client("--protocol", protocol, "--port", str(port), *files)
        assert proc.returncode == 0, proc.stderr
        assert [json.loads(line) for line in proc.stdout.splitlines()] == [
            {"file": f, "text": r["text"]} for f, r in zip(files, reference)]
    proc = client("--port", str(server.http_port), "--level", "speech", files[0])
    assert json.loads(proc.stdout) == {"file": files[0], "pinyin": reference[0]["pinyin"]}


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_stream_client(server: Server, utterances: list[Utterance], streaming_reference: list[dict],
                       protocol: str) -> None:
    """``asrt client --stream``: gRPC Stream, or the WebSocket /v1/stream with --protocol http."""
    port = server.grpc_port if protocol == "grpc" else server.http_port
    proc = client("--protocol", protocol, "--port", str(port), "--stream", "--chunk-seconds", "0.5",
                  str(utterances[0].path))
    assert proc.returncode == 0, proc.stderr
    answers = [json.loads(line) for line in proc.stdout.splitlines()]
    assert {a["status_code"] for a in answers[:-1]} == {206000}
    assert answers[-1]["status_code"] == 200000 and answers[-1]["text"] == streaming_reference[0]["text"]


def test_client_errors(server: Server, utterances: list[Utterance], tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio")
    proc = client("--port", str(server.http_port), str(bad), str(utterances[0].path))
    assert proc.returncode == 1
    assert len(proc.stderr.splitlines()) == 1 and "bad.wav" in proc.stderr
    assert json.loads(proc.stdout)["file"] == str(utterances[0].path)
    for protocol in ("http", "grpc"):
        proc = client("--protocol", protocol, "--port", str(free_port()), str(utterances[0].path))
        assert proc.returncode == 1 and proc.stdout == ""
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr, proc.stderr


def recognition_workers(server: Server) -> list[int]:
    """Process ids of the server's recognition workers."""
    children = Path(f"/proc/{server.proc.pid}/task/{server.proc.pid}/children").read_text().split()
    return [int(c) for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


def test_server_survives_a_dead_worker_and_stops_on_sigterm(model_dir: Path, utterances: list[Utterance],
                                                             reference: list[dict], tmp_path: Path) -> None:
    server = start_server(model_dir, tmp_path / "serve.log")
    http = HttpClient(port=server.http_port)
    workers = recognition_workers(server)
    assert len(workers) == len(os.sched_getaffinity(0))
    os.kill(workers[0], signal.SIGKILL)  # as the kernel's OOM killer would
    time.sleep(0.5)
    answers = []
    for _ in range(3):  # a request that was on the dead worker may fail; the next ones must not
        try:
            answers.append(http.all(Pcm(utterances[0].pcm)))
        except ServiceError as e:
            answers.append(str(e))
    assert answers[1:] == [reference[0]["text"]] * 2, answers
    assert "worker died" in server.log.read_text()

    # About 50 s of audio, so the request is most likely still being recognised when SIGTERM arrives.
    pcm = b"".join(u.pcm for u in utterances) * 3
    body = json.dumps(Pcm(pcm).json_body()).encode()
    answers = []

    def request() -> None:
        with socket.create_connection(("127.0.0.1", server.http_port)) as s:
            s.sendall(b"POST /all HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n"
                      b"Content-Length: %d\r\n\r\n" % len(body) + body)
            answers.append(b"".join(iter(lambda: s.recv(65536), b"")))

    thread = threading.Thread(target=request)
    thread.start()
    thread.join(0.5)
    assert server.stop() == 0, server.log.read_text()[-3000:]
    thread.join(60)
    assert answers and answers[0].startswith(b"HTTP/1.1 200"), answers
    assert b'"status_code": 200000' in answers[0]
    assert "Stopped" in server.log.read_text()
    for port in (server.http_port, server.grpc_port):  # nothing listens on either port any more
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: TIME_WAIT is no obstacle
            s.bind(("127.0.0.1", port))
