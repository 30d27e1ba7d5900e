"""Streaming recognition on loopback: many clients streaming at real-time pace, and one long stream.

1. ``--clients`` WebSocket clients (``/v1/stream``; ``--protocol grpc`` for ASRT's gRPC ``Stream``) each
   stream ``--seconds`` of speech in ``--chunk-ms`` chunks at real-time pace, all at once. Per client: the
   first partial result's delay after its first chunk, and the final result's delay after its last chunk.
2. One ``--long-minutes`` stream, in-process on one thread (the server's own work, without transport):
   real-time factor, and the time per chunk in the first and the last minute (a stream's cost per chunk
   must not grow with its length).

Starts its own server (``asrt serve`` on free loopback ports) with a packaged streaming model. The speech
is the ``--audio`` recordings joined with 0.3 s pauses, repeated; each client starts at its own offset.
"""
from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path

import numpy as np
from benchlib import machine_header, markdown_table, require_files, run_benchmark, start_server

from asrt.audio import float_to_pcm16, load_audio
from asrt.serving.protocol import OK, PARTIAL
from asrt.serving.server import default_workers

RATE = 16000


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model-dir", type=Path, required=True, help="a packaged streaming model, e.g. exp/streaming/model")
    p.add_argument("--audio", type=Path, nargs="+", required=True, help="WAV/FLAC speech recordings")
    p.add_argument("--clients", type=int, default=100)
    p.add_argument("--seconds", type=float, default=5.0, help="audio each client streams")
    p.add_argument("--chunk-ms", type=int, default=200)
    p.add_argument("--protocol", choices=("websocket", "grpc"), default="websocket")
    p.add_argument("--long-minutes", type=float, default=10.0, help="the long stream (0: skip it)")
    p.add_argument("--workers", type=int, default=default_workers(), help="the server's recognition workers")
    return p.parse_args()


def speech(paths: list[Path], seconds: float) -> np.ndarray:
    """The recordings joined with 0.3 s pauses, repeated to at least ``seconds``."""
    pause = np.zeros(int(0.3 * RATE), dtype=np.float32)
    one = np.concatenate([x for p in paths for x in (load_audio(p), pause)])
    return np.tile(one, int(np.ceil(seconds * RATE / len(one))))


def _websocket_client(url: str, chunks: list[bytes], step: float, out: dict) -> None:
    from websockets.sync.client import connect

    with connect(url.replace("http", "ws", 1) + "/v1/stream", open_timeout=60) as ws:
        def read() -> None:
            for message in ws:
                kind = json.loads(message)["type"]
                now = time.perf_counter()
                if kind == "partial":
                    out.setdefault("first_partial", now)
                elif kind == "error":
                    out["error"] = message
                elif kind == "done":
                    out["final"] = now
                    return

        reader = threading.Thread(target=read)
        reader.start()
        _paced(chunks, step, ws.send, out)
        ws.send(json.dumps({"type": "end"}))
        reader.join()


def _grpc_client(port: int, chunks: list[bytes], step: float, out: dict) -> None:
    import grpc

    from asrt.serving.proto import Stub, messages

    def paced():
        start = time.perf_counter()
        for i, c in enumerate(chunks):
            time.sleep(max(0.0, start + i * step - time.perf_counter()))
            out.setdefault("first_sent", time.perf_counter())
            yield messages.SpeechRequest(wav_data=messages.WavData(samples=c, sample_rate=RATE, channels=1, byte_width=2))
        out["last_sent"] = time.perf_counter()

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        for r in Stub(channel).Stream(paced(), timeout=600):
            if r.status_code == PARTIAL:
                out.setdefault("first_partial", time.perf_counter())
            elif r.status_code != OK:
                out["error"] = r.status_message
        out["final"] = time.perf_counter()


def _paced(chunks: list[bytes], step: float, send, out: dict) -> None:
    start = time.perf_counter()
    for i, c in enumerate(chunks):
        time.sleep(max(0.0, start + i * step - time.perf_counter()))
        out.setdefault("first_sent", time.perf_counter())
        send(c)
    out["last_sent"] = time.perf_counter()


def concurrent_clients(args: argparse.Namespace, url: str, grpc_port: int, source: np.ndarray) -> dict:
    """Every client's timings (``first_sent``, ``first_partial``, ``last_sent``, ``final``) or ``error``."""
    step = args.chunk_ms / 1000
    n = int(args.seconds * RATE)
    outs = [{} for _ in range(args.clients)]

    def client(i: int) -> None:
        start = (i * 7919 * RATE // 10) % (len(source) - n)  # each client its own stretch of speech
        pcm = float_to_pcm16(source[start:start + n])
        size = int(step * RATE) * 2
        chunks = [pcm[j:j + size] for j in range(0, len(pcm), size)]
        try:
            if args.protocol == "websocket":
                _websocket_client(url, chunks, step, outs[i])
            else:
                _grpc_client(grpc_port, chunks, step, outs[i])
        except Exception as e:  # noqa: BLE001 - every failure is counted, none stops the run
            outs[i]["error"] = repr(e)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
    for t in threads:
        t.start()
        time.sleep(step / args.clients)  # spread the clients' chunk times over one chunk
    for t in threads:
        t.join()
    return outs


def long_stream(model_dir: Path, source: np.ndarray, minutes: float, chunk_ms: int) -> dict:
    """One stream of ``minutes`` in-process on one thread: chunk times (s) by the chunk's minute, and the RTF."""
    import torch

    from asrt.packaged.recognizer import Recognizer

    torch.set_num_threads(1)
    stream = Recognizer(model_dir).stream()
    audio = np.tile(source, int(np.ceil(minutes * 60 * RATE / len(source))))[: int(minutes * 60 * RATE)]
    size = chunk_ms * RATE // 1000
    times = []
    for j in range(0, len(audio), size):
        t0 = time.perf_counter()
        stream.accept(audio[j:j + size])
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    stream.finish()
    total = sum(times) + time.perf_counter() - t0
    per_minute = 60 * 1000 // chunk_ms
    return {"rtf": total / (len(audio) / RATE), "first": np.mean(times[:per_minute]),
            "last": np.mean(times[-per_minute:]), "chunks": len(times)}


def main() -> None:
    args = parse_args()
    require_files(args.model_dir / "model.pt", *args.audio, hint="package a streaming model (conf/streaming.yaml)")
    source = speech(args.audio, max(60.0, 2 * args.seconds))
    print(machine_header("1 per worker", None))
    print(f"\n{args.clients} clients, {args.protocol}, {args.seconds:g} s each in {args.chunk_ms} ms chunks at "
          f"real-time pace; {args.workers} worker(s)\n")
    proc, url, grpc_port = start_server(args.model_dir, args.workers, "--max-streams", str(args.clients))
    try:
        outs = concurrent_clients(args, url, grpc_port, source)
    finally:
        proc.terminate()
        proc.wait(60)
    good = [o for o in outs if "error" not in o and "final" in o]
    errors = [o.get("error", "no final result") for o in outs if o not in good]
    first = np.array([o["first_partial"] - o["first_sent"] for o in good if "first_partial" in o])
    final = np.array([o["final"] - o["last_sent"] for o in good])
    pct = lambda x, q: f"{np.percentile(x, q):.3f}" if len(x) else "-"  # noqa: E731
    print(markdown_table(["clients", "errors", "first partial median (s)", "first partial p95 (s)",
                          "final median (s)", "final p95 (s)"],
                         [[args.clients, len(errors), pct(first, 50), pct(first, 95), pct(final, 50), pct(final, 95)]]))
    for e in sorted(set(errors))[:5]:
        print(f"- error: {e[:200]}")
    if args.long_minutes > 0:
        r = long_stream(args.model_dir, source, args.long_minutes, args.chunk_ms)
        print(f"\nOne {args.long_minutes:g}-minute stream, in-process, one thread, {args.chunk_ms} ms chunks:\n")
        print(markdown_table(["RTF", "chunks", "ms per chunk, first minute", "ms per chunk, last minute", "last / first"],
                             [[f"{r['rtf']:.4f}", r["chunks"], f"{1000 * r['first']:.2f}", f"{1000 * r['last']:.2f}",
                               f"{r['last'] / r['first']:.2f}"]]))


if __name__ == "__main__":
    run_benchmark(main, "bench_streaming")
