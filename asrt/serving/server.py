"""``asrt serve``: one process that loads a packaged model once and serves it over HTTP, gRPC or both,
until SIGTERM or SIGINT, after which in-flight requests finish and both servers stop."""
from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from asrt.serving.limits import ServeLimits

HTTP_PORT = 20001
GRPC_PORT = 20002
PROTOCOLS = ("http", "grpc")
SHUTDOWN_GRACE_SECONDS = 30

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


def header_timeout_protocol(seconds: float) -> type:
    """uvicorn's HTTP/1.1 protocol (h11), closing a connection whose next request's headers have not all
    arrived ``seconds`` after it opened or after its previous answer (uvicorn itself waits for ever); a
    connection upgraded to a WebSocket is left alone."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderTimeoutProtocol(H11Protocol):
        _timer = None

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._arm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()

        def handle_events(self) -> None:
            cycle = self.cycle
            super().handle_events()
            if self.cycle is not cycle and self._timer is not None:  # a request's headers are in
                self._timer.cancel()
                self._timer = None

        def handle_websocket_upgrade(self, event) -> None:
            # The connection becomes a WebSocket (its own protocol and idle limit): no more HTTP requests.
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            super().handle_websocket_upgrade(event)

        def connection_lost(self, exc) -> None:
            if self._timer is not None:
                self._timer.cancel()
            super().connection_lost(exc)

        def _arm(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = self.loop.call_later(seconds, self._expire)

        def _expire(self) -> None:
            if not self.transport.is_closing():
                log.info("HTTP: no complete request headers within %g s; closing the connection", seconds)
                self.transport.close()

    return HeaderTimeoutProtocol


def serve(model_dir: str | Path, limits: ServeLimits, protocols: tuple[str, ...] = PROTOCOLS,
          host: str = "0.0.0.0", http_port: int = HTTP_PORT, grpc_port: int = GRPC_PORT,
          workers: int | None = None) -> None:
    """Serve ``model_dir`` on the chosen protocols, within ``limits``, until SIGTERM or SIGINT."""
    import uvicorn

    from asrt.serving.grpc_server import start_grpc_server
    from asrt.serving.http_server import create_app
    from asrt.serving.service import RecognitionService
    from asrt.serving.workers import bound_heap

    bound_heap()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    workers = default_workers() if workers is None else workers
    # Each worker recognises one request at a time on its own share of the cores.
    service = RecognitionService(model_dir, workers, limits, torch_threads=max(1, default_workers() // workers))
    http_socket = _listen(host, http_port) if "http" in protocols else None
    grpc_server = None
    try:
        if "grpc" in protocols:
            grpc_server, bound = start_grpc_server(service, host, grpc_port)
            log.info("gRPC: listening on %s:%d", host, bound)
        if http_socket is not None:
            config = uvicorn.Config(create_app(service), log_config=None, access_log=False,
                                    http=header_timeout_protocol(limits.header_seconds),
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
