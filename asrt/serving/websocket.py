"""The WebSocket stream route ``/v1/stream`` of the HTTP server, for browsers and apps.

The client sends binary frames of little-endian 16-bit mono PCM (16 kHz, or the ``sample_rate`` query
parameter's rate) and a text frame ``{"type": "end"}`` when its audio ends. The server answers JSON text
frames: ``{"type": "partial" | "final", "text", "pinyin", "start", "end"}`` as the model completes chunks
(``final`` at each endpoint), and after the last final ``{"type": "done"}``, then closes. A failure is one
``{"type": "error", "message"}`` frame, then the close (code 1008 for a limit, 1011 otherwise). The
server's stream limits apply as to gRPC Streams (streams open at once, audio seconds, idle seconds); a
client that leaves frees its stream at once.
"""
from __future__ import annotations

import asyncio
import json
import logging

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from asrt.audio import pcm_to_float
from asrt.serving.limits import LimitExceeded
from asrt.serving.protocol import internal_error_message
from asrt.serving.service import RecognitionService, StreamHandle
from asrt.serving.workers import Job, Stopped

log = logging.getLogger(__name__)

STREAM_ROUTE = "/v1/stream"
POLICY_VIOLATION, INTERNAL_ERROR = 1008, 1011  # WebSocket close codes (RFC 6455)


class _End(Exception):
    """The client said its audio ended."""


def _message(result) -> str:
    return json.dumps({"type": "final" if result.final else "partial", "text": result.text, "pinyin": result.pinyin,
                       "start": round(result.start, 3), "end": round(result.end, 3)}, ensure_ascii=False)


async def _results(job: Job) -> list:
    try:
        return await asyncio.wrap_future(job.future)
    except asyncio.CancelledError:
        job.cancel()
        raise


async def _next_audio(ws: WebSocket, idle_seconds: float, sample_rate: int):
    """The next chunk's float samples; raises :class:`_End` at the client's end message."""
    try:
        message = await asyncio.wait_for(ws.receive(), idle_seconds)
    except asyncio.TimeoutError:
        raise LimitExceeded(f"Nothing was received for {idle_seconds:g} s, this server's limit; the stream is "
                            "closed.") from None
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    if message.get("bytes") is not None:
        return pcm_to_float(message["bytes"], sample_rate, 1, 2)
    try:
        kind = json.loads(message.get("text") or "").get("type")
    except (ValueError, AttributeError):
        kind = None
    if kind == "end":
        raise _End
    raise ValueError('a text frame must be {"type": "end"}; audio goes in binary frames of 16-bit PCM')


async def _serve_stream(ws: WebSocket, handle: StreamHandle, idle_seconds: float, sample_rate: int) -> None:
    while True:
        try:
            samples = await _next_audio(ws, idle_seconds, sample_rate)
        except _End:
            break
        for result in await _results(handle.accept(samples)):
            await ws.send_text(_message(result))
    for result in await _results(handle.finish()):
        await ws.send_text(_message(result))
    await ws.send_text(json.dumps({"type": "done"}))
    await ws.close()


def add_stream_route(app: FastAPI, service: RecognitionService) -> None:
    """Register ``/v1/stream`` on ``app``."""

    @app.websocket(STREAM_ROUTE)
    async def stream(ws: WebSocket, sample_rate: int = 16000) -> None:
        await ws.accept()
        limits = service.limits
        try:
            handle = service.open_stream()
        except LimitExceeded as e:
            return await _fail(ws, str(e), POLICY_VIOLATION)
        try:
            if handle.worker is None:
                return await _fail(ws, "this model does not stream (it was trained without model.streaming); "
                                   "use POST /v1/recognize", POLICY_VIOLATION)
            await _serve_stream(ws, handle, limits.stream_idle_seconds, sample_rate)
        except WebSocketDisconnect:
            log.info("WebSocket stream: the client left; its stream was freed")
        except Stopped as e:
            await _fail(ws, limits.deadline_message() if e.reason == "deadline" else "cancelled", INTERNAL_ERROR)
        except ValueError as e:  # a limit or an unusable frame
            await _fail(ws, str(e), POLICY_VIOLATION)
        except Exception as e:  # noqa: BLE001 - a bug must not take the server down
            log.exception("WebSocket stream failed")
            await _fail(ws, internal_error_message(e), INTERNAL_ERROR)
        finally:
            handle.close()


async def _fail(ws: WebSocket, message: str, code: int) -> None:
    log.warning("WebSocket stream: %s", message)
    try:
        await ws.send_text(json.dumps({"type": "error", "message": message}))
        await ws.close(code)
    except (WebSocketDisconnect, RuntimeError):  # the client has gone already
        pass
