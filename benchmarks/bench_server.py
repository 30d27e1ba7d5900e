"""Throughput and latency of ``asrt serve`` (HTTP) on loopback: ``POST /all`` with the same audio from
1, 4 and 16 concurrent clients, a soak run (``--duration``) that counts failed requests and the
server's memory before and after, and an abuse run (``--abuse``).

The abuse run measures the good load (``--soak-clients`` clients) alone for ``--abuse`` seconds, then the
same load for as long again while abusive clients send 10,000-syllable ``/language`` requests, 10-minute
audio to ``/all`` that they abandon 0.5 s after sending it, 1-sample audio (HTTP and gRPC), and hold 100
gRPC ``Stream`` calls open without sending anything (reopened when the server closes them).

Starts its own server (``asrt serve`` on free loopback ports) with the packaged model. Each client is a
thread that sends its next request as soon as the previous answer arrived; a request fails unless it gets
HTTP 200 with status_code 200000. Prints Markdown tables.
"""
from __future__ import annotations

import argparse
import json
import socket
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path

import numpy as np
from benchlib import machine_header, markdown_table, require_files, run_benchmark, start_server

from asrt.audio import load_audio
from asrt.serving.client import Pcm
from asrt.serving.protocol import OK
from asrt.serving.server import default_workers

RATE = 16000


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model-dir", type=Path, required=True, help="packaged model directory, e.g. exp/default/model")
    p.add_argument("--audio", type=Path, required=True,
                   help="a WAV/FLAC recording, repeated or cut to --audio-seconds (e.g. a test utterance)")
    p.add_argument("--audio-seconds", type=float, default=5.0)
    p.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16], help="concurrency levels")
    p.add_argument("--seconds", type=float, default=20.0, help="measured seconds per concurrency level")
    p.add_argument("--duration", type=float, default=None,
                   help="instead: a soak run of this many seconds with --soak-clients clients")
    p.add_argument("--soak-clients", type=int, default=16)
    p.add_argument("--abuse", type=float, default=None, metavar="SECONDS",
                   help="instead: the good load alone, then with abusive clients, this many seconds each")
    p.add_argument("--workers", type=int, default=default_workers(), help="the server's recognition workers")
    return p.parse_args()


def request_body(path: Path, seconds: float) -> bytes:
    """The /all JSON body of ``path`` repeated (with 0.3 s pauses) or cut to exactly ``seconds``."""
    speech = load_audio(path)
    one = np.concatenate([speech, np.zeros(int(0.3 * RATE), dtype=np.float32)])
    samples = np.tile(one, int(np.ceil(seconds * RATE / len(one))))[: int(seconds * RATE)]
    return json.dumps(Pcm.from_float(samples).json_body()).encode()


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (the server and its recognition workers)."""
    children = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += [int(c) for c in (task / "children").read_text().split()]
    return [pid] + [p for c in children for p in process_tree(c)]


def rss_mib(pid: int) -> float:
    """Resident memory of process ``pid`` and its descendants, in MiB."""
    total_kib = 0
    for p in process_tree(pid):
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total_kib += int(line.split()[1])
    return total_kib / 1024


def load(url: str, body: bytes, clients: int, seconds: float) -> dict:
    """``clients`` threads POST ``body`` to /all for ``seconds``; latencies (s) of good requests, failures."""
    latencies, failures, lock = [], [], threading.Lock()
    end = time.perf_counter() + seconds

    def client() -> None:
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            try:
                request = urllib.request.Request(url + "/all", data=body, headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=300) as r:
                    answer = json.loads(r.read())
                ok = answer.get("status_code") == OK
                reason = answer.get("status_message")
            except (OSError, ValueError) as e:
                ok, reason = False, repr(e)
            with lock:
                if ok:
                    latencies.append(time.perf_counter() - t0)
                else:
                    failures.append(reason)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"latencies": np.array(latencies), "failures": failures, "wall": time.perf_counter() - t0}


def abusers(url: str, grpc_port: int, stop: threading.Event) -> tuple[list[threading.Thread], dict[str, Counter]]:
    """Start the abusive clients of the abuse run, until ``stop`` is set; return their threads and, for
    each kind, a count of the answers they got."""
    import grpc

    from asrt.serving.proto import Stub, messages

    outcomes: dict[str, Counter] = {}
    lock = threading.Lock()
    host, port = url.removeprefix("http://").split(":")
    channel = grpc.insecure_channel(f"127.0.0.1:{grpc_port}")
    stub = Stub(channel)
    noise = np.random.default_rng(0).standard_normal(600 * RATE) * 0.1  # 10 minutes: the slowest audio to decode
    ten_minutes = json.dumps(Pcm.from_float(noise.astype(np.float32)).json_body()).encode()
    one_sample = Pcm(b"\x01\x00")

    def count(kind: str, outcome: str) -> None:
        with lock:
            outcomes.setdefault(kind, Counter())[outcome] += 1

    def asrt_post(path: str, body: bytes) -> str:
        with urllib.request.urlopen(urllib.request.Request(url + path, data=body), timeout=300) as r:
            answer = json.loads(r.read())
        return f"{answer['status_code']} {answer['status_message'][:40]}"

    def syllables() -> None:
        body = json.dumps({"sequence_pinyin": ["ni3", "hao3"] * 5000}).encode()
        while not stop.is_set():
            count("/language, 10,000 syllables", asrt_post("/language", body))

    def abandoned() -> None:
        head = b"POST /all HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
        while not stop.is_set():
            with socket.create_connection((host, int(port))) as s:
                s.sendall(head % len(ten_minutes) + ten_minutes)
                time.sleep(0.5)
            count("/all, 600 s of audio, abandoned after 0.5 s", "sent and closed")

    def tiny() -> None:
        body = json.dumps(one_sample.json_body()).encode()
        while not stop.is_set():
            count("/all, 1 sample (HTTP)", asrt_post("/all", body))
            r = stub.All(messages.SpeechRequest(wav_data=messages.WavData(
                samples=one_sample.data, sample_rate=RATE, channels=1, byte_width=2)), timeout=300)
            count("All, 1 sample (gRPC)", f"{r.status_code} {r.status_message[:40]}")

    def idle_stream() -> None:
        def nothing():
            stop.wait()
            yield from ()

        while not stop.is_set():
            try:
                last = list(stub.Stream(nothing(), timeout=600))[-1]
                outcome = f"{last.status_code} {last.status_message[:40]}"
            except grpc.RpcError as e:
                outcome = str(e.code())
            count("Stream sending nothing (100 at once)", outcome)
            stop.wait(1.0)

    threads = [threading.Thread(target=f) for f in (syllables, abandoned, tiny, *[idle_stream] * 100)]
    for t in threads:
        t.start()
    return threads, outcomes


def percentiles_ms(latencies: np.ndarray) -> list[str]:
    """p50, p90 and p99 in milliseconds."""
    return [f"{x * 1000:.0f}" for x in np.percentile(latencies, [50, 90, 99])] if len(latencies) else ["-"] * 3


def abuse_run(pid: int, url: str, grpc_port: int, body: bytes, clients: int, seconds: float) -> None:
    """The good load alone, then with the abusive clients; print the good requests' table, the abusive
    clients' answers and the server's memory before and after."""
    rss_before = rss_mib(pid)
    alone = load(url, body, clients, seconds)
    stop = threading.Event()
    threads, outcomes = abusers(url, grpc_port, stop)
    abused = load(url, body, clients, seconds)
    stop.set()
    for t in threads:
        t.join()
    time.sleep(5.0)  # let the server finish withdrawing the abandoned work
    rss_after = rss_mib(pid)
    rows = [[label, len(r["latencies"]) + len(r["failures"]), len(r["failures"]), *percentiles_ms(r["latencies"])]
            for label, r in (("alone", alone), ("with the abusive clients", abused))]
    print(markdown_table(["good load", "requests", "failed", "p50 ms", "p90 ms", "p99 ms"], rows))
    p99 = [np.percentile(r["latencies"], 99) for r in (alone, abused)]
    print(f"\np99 with the abusive clients / alone: {p99[1] / p99[0]:.2f}; server RSS (server and workers) "
          f"before {rss_before:.0f} MiB, after {rss_after:.0f} MiB ({rss_after - rss_before:+.0f} MiB)\n")
    print(markdown_table(["abusive client", "answer", "count"],
                         [[kind, outcome, n] for kind, counts in outcomes.items() for outcome, n in counts.items()]))
    for reason in sorted(set(alone["failures"] + abused["failures"]))[:5]:
        print(f"\nfailure: {reason}")


def main() -> None:
    """Start the server, warm it up, run the concurrency levels (or the soak run) and print the tables."""
    args = parse_args()
    require_files(args.model_dir / "model.pt", hint="give a packaged model directory written by stage 8 (asrt package)")
    require_files(args.audio, hint="give a WAV or FLAC recording")
    body = request_body(args.audio, args.audio_seconds)
    proc, url, grpc_port = start_server(args.model_dir, args.workers)
    try:
        # Warm-up at the highest concurrency, so that "before" is the memory of a server in steady use.
        load(url, body, args.soak_clients if args.duration or args.abuse else max(args.clients), 5.0)
        threads = max(1, default_workers() // args.workers)
        print(machine_header(f"{threads} per worker"))
        print(f"\n`asrt serve --workers {args.workers}` with `{args.model_dir}`; `POST /all` with "
              f"{args.audio_seconds:g} s of audio ({len(body) / 1e6:.2f} MB body) on loopback\n")
        if args.abuse:
            abuse_run(proc.pid, url, grpc_port, body, args.soak_clients, args.abuse)
        elif args.duration:
            rss_before = rss_mib(proc.pid)
            r = load(url, body, args.soak_clients, args.duration)
            rss_after = rss_mib(proc.pid)
            print(markdown_table(
                ["clients", "seconds", "requests", "failed", "requests/s", "p50 ms", "p90 ms", "p99 ms",
                 "server RSS before MiB", "server RSS after MiB"],
                [[args.soak_clients, f"{r['wall']:.1f}", len(r["latencies"]) + len(r["failures"]), len(r["failures"]),
                  f"{len(r['latencies']) / r['wall']:.2f}", *percentiles_ms(r["latencies"]),
                  f"{rss_before:.0f}", f"{rss_after:.0f}"]]))
            for reason in sorted(set(r["failures"]))[:5]:
                print(f"\nfailure: {reason}")
        else:
            rows = []
            for clients in args.clients:
                r = load(url, body, clients, args.seconds)
                rows.append([clients, len(r["latencies"]) + len(r["failures"]), len(r["failures"]),
                             f"{len(r['latencies']) / r['wall']:.2f}", *percentiles_ms(r["latencies"])])
            print(markdown_table(["clients", "requests", "failed", "requests/s", "p50 ms", "p90 ms", "p99 ms"], rows))
    finally:
        proc.terminate()
        proc.wait(60)


if __name__ == "__main__":
    run_benchmark(main, "bench_server")
