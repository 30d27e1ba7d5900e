"""The WebSocket stream route ``/v1/stream`` of the HTTP server, for browsers and apps.

The client sends binary frames of little-endian 16-bit mono PCM (16 kHz, or the ``sample_rate`` query
parameter's rate) and a text frame ``{"type": "end"}`` when its audio ends. The server answers JSON text
frames: ``{"type": "partial" | "final", "text", "pinyin", "start", "end"}`` as the model completes chunks
(``final`` at each endpoint), and after the last final ``{"type": "done"}``, then closes. A failure is one
``{"type": "error", "message"}`` frame, then the close (code 1008 for a limit, 1011 otherwise). The
server's stream limits apply as to gRPC Streams (streams open at once, audio seconds, idle seconds); a
client that leaves frees its stream at once.

A model that does not stream is served too (:class:`~asrt.serving.stream.StreamSegmenter`): its growing
segment is recognised again every ``SEGMENTED_PARTIAL_SECONDS`` of new audio, and committed once its speech
is followed by ``SEGMENTED_ENDPOINT_SECONDS`` of silence, after 10 s, or at the end.
"""
from __future__ import annotations

import asyncio
import json
import logging
from concurrent.futures import ThreadPoolExecutor

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from asrt.audio import pcm_to_float
from asrt.names import SAMPLE_RATE
from asrt.serving.limits import LimitExceeded
from asrt.serving.protocol import internal_error_message
from asrt.serving.service import RecognitionService, StreamHandle
from asrt.serving.stream import Segment, StreamSegmenter
from asrt.serving.workers import Job, Stopped

log = logging.getLogger(__name__)

STREAM_ROUTE = "/v1/stream"
POLICY_VIOLATION, INTERNAL_ERROR = 1008, 1011  # WebSocket close codes (RFC 6455)
# A model that does not stream: partials this often (a browser shows them as one speaks), and a commit after
# this much silence (a sentence's pauses are shorter; the committed text comes within 1 s of its end).
SEGMENTED_PARTIAL_SECONDS = 0.25
SEGMENTED_ENDPOINT_SECONDS = 0.5


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


def _segment_message(segment: Segment) -> str:
    r = segment.result
    return json.dumps({"type": "final" if segment.final else "partial", "text": r.text if r else "",
                       "pinyin": r.pinyin if r else [], "start": round(segment.start, 3),
                       "end": round(segment.end, 3)}, ensure_ascii=False)


async def _serve_segmented(ws: WebSocket, service: RecognitionService, sample_rate: int,
                           threads: ThreadPoolExecutor) -> None:
    """A stream of a model that does not stream: its segments recognised again as they grow. The segmenter
    waits for its recognitions in ``threads`` (one per stream the server allows), not in asyncio's default
    executor, which the HTTP routes need meanwhile."""
    loop = asyncio.get_running_loop()
    limits = service.limits
    segmenter = StreamSegmenter(lambda samples: service.recognize_samples(samples).future.result(),
                                partial_every_seconds=SEGMENTED_PARTIAL_SECONDS,
                                endpoint_silence_seconds=SEGMENTED_ENDPOINT_SECONDS)
    seconds = 0.0
    while True:
        try:
            samples = await _next_audio(ws, limits.stream_idle_seconds, sample_rate)
        except _End:
            break
        seconds += len(samples) / SAMPLE_RATE
        limits.check_audio_seconds(seconds)
        for segment in await loop.run_in_executor(threads, segmenter.feed, samples):
            await ws.send_text(_segment_message(segment))
    await ws.send_text(_segment_message(await loop.run_in_executor(threads, segmenter.finish)))
    await ws.send_text(json.dumps({"type": "done"}))
    await ws.close()


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
    threads = ThreadPoolExecutor(service.limits.max_streams, thread_name_prefix="segmented-stream")

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
                await _serve_segmented(ws, service, sample_rate, threads)
            else:
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
