"""``asrt serve``: one process that loads a packaged model once and serves it over HTTP, gRPC or both,
until SIGTERM or SIGINT, after which in-flight requests finish and both servers stop."""
from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from pathlib import Path

HTTP_PORT = 20001
GRPC_PORT = 20002
PROTOCOLS = ("http", "grpc")
SHUTDOWN_GRACE_SECONDS = 30
MAX_BODY_MB = 64  # default limit on a request body (HTTP) or message (gRPC)

log = logging.getLogger(__name__)


def default_workers() -> int:
    """Recognition workers by default: one per core this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket for the HTTP server, or one clear error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise RuntimeError(f"cannot listen for HTTP on {host}:{port} ({e.strerror}); choose another --http-port "
                           "or --host") from None
    sock.listen(2048)
    return sock


def serve(model_dir: str | Path, protocols: tuple[str, ...] = PROTOCOLS, host: str = "0.0.0.0",
          http_port: int = HTTP_PORT, grpc_port: int = GRPC_PORT, workers: int | None = None,
          max_body_bytes: int = MAX_BODY_MB << 20) -> None:
    """Serve ``model_dir`` on the chosen protocols until SIGTERM or SIGINT."""
    import uvicorn

    from asrt.serving.grpc_server import start_grpc_server
    from asrt.serving.http_server import create_app
    from asrt.serving.service import RecognitionService

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    workers = default_workers() if workers is None else workers
    # Each worker recognises one request at a time on its own share of the cores.
    service = RecognitionService(model_dir, workers, torch_threads=max(1, default_workers() // workers))
    http_socket = _listen(host, http_port) if "http" in protocols else None
    grpc_server = None
    try:
        if "grpc" in protocols:
            grpc_server, bound = start_grpc_server(service, host, grpc_port, max_body_bytes)
            log.info("gRPC: listening on %s:%d", host, bound)
        if http_socket is not None:
            config = uvicorn.Config(create_app(service, max_body_bytes), log_config=None, access_log=False,
                                    timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS)
            log.info("HTTP: listening on http://%s:%d", host, http_socket.getsockname()[1])
            if not stop.is_set():
                # uvicorn handles SIGTERM/SIGINT while it runs (a graceful shutdown), then restores the
                # handlers above and raises the signal again, which sets `stop`.
                uvicorn.Server(config).run(sockets=[http_socket])
        else:
            stop.wait()
    finally:
        if grpc_server is not None:
            grpc_server.stop(SHUTDOWN_GRACE_SECONDS).wait()
        if http_socket is not None:
            http_socket.close()
        service.close()
        log.info("Stopped")
