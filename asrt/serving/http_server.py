"""ASRT's HTTP service (port 20001) over a :class:`RecognitionService`, plus routes beyond ASRT.

ASRT's routes (``POST /``, ``/speech``, ``/all``, ``/language``, and any unknown path) always answer
HTTP 200 with ASRT's JSON body, byte for byte as ASRT serialises it; clients check ``status_code``.
The routes under ``/v1/`` and ``/health`` use HTTP status codes. The OpenAPI spec is at
``/openapi.json`` (browsable at ``/docs``); ``GET /`` is the recognition page (:mod:`asrt.serving.page`).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Callable

from fastapi import FastAPI, HTTPException, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from asrt.serving.limits import LimitExceeded
from asrt.serving.page import add_page_routes
from asrt.serving.protocol import (
    FAILED, LEVEL_MESSAGES, OK, ROOT_MESSAGE, UNKNOWN_ROUTE, AsrtResponse, LanguageRequest, PcmRequest, asrt_json,
    decode_samples, internal_error_message, parse_body,
)
from asrt.serving.service import RecognitionService
from asrt.serving.websocket import add_stream_route
from asrt.serving.workers import Job, Stopped

log = logging.getLogger(__name__)

MODERN_PREFIX = "/v1/"
DRAIN_SECONDS = 10.0

class Transcript(BaseModel):
    """Answer of ``POST /v1/recognize``."""

    text: str = Field(description="recognised characters")
    pinyin: list[str] = Field(description="recognised tonal pinyin")
    duration: float = Field(description="seconds of audio")


class Health(BaseModel):
    """Answer of ``GET /health``."""

    status: str = Field(examples=["ok"])
    model: str = Field(description="acoustic model of the packaged model directory", examples=["tdnn"])
    streaming: bool = Field(description="whether the model streams (WebSocket /v1/stream, gRPC Stream)")
    streams: int = Field(description="streams open now (gRPC and WebSocket)")


def asrt_response(result: list[str] | str, status_code: int = OK, status_message: str = "") -> Response:
    """An ASRT JSON answer (always HTTP 200)."""
    return Response(asrt_json(result, status_code, status_message), media_type="application/json")


def _json_body_doc(model: type[BaseModel]) -> dict:
    # The ASRT routes read their body themselves (to answer errors in ASRT's form); this documents it.
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": model.model_json_schema()}}}}


class RequestLimits:
    """ASGI middleware: refuse a request body over ``max_bytes``, or one that has not arrived
    ``body_seconds`` after the request's headers, before anything parses it (413 or 408 under ``/v1/``,
    ASRT's HTTP 200 + 500000 elsewhere); and answer ``HEAD`` on every ``GET`` route (its headers, no body)."""

    def __init__(self, app: Callable, max_bytes: int, body_seconds: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.body_seconds = body_seconds

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if scope["method"] == "HEAD":
            scope, send = dict(scope, method="GET"), _without_body(send)
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_bytes:
            return await self._refuse_size(scope, receive, send)
        chunks, size = [], 0
        deadline = asyncio.get_running_loop().time() + self.body_seconds
        while True:
            try:
                message = await asyncio.wait_for(receive(), deadline - asyncio.get_running_loop().time())
            except asyncio.TimeoutError:
                return await self._refuse_slow(scope, receive, send)
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                return await self._refuse_size(scope, receive, send)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse_size(self, scope: dict, receive: Callable, send: Callable) -> None:
        # Read and drop the rest of the body first (for a bounded time): a connection closed with unread
        # data is reset, and the client would lose the answer.
        async def drain() -> None:
            while (await receive()).get("more_body", False):
                pass

        try:
            await asyncio.wait_for(drain(), DRAIN_SECONDS)
        except asyncio.TimeoutError:
            pass
        await _refusal(scope, 413, f"Request body is larger than this server's limit of {self.max_bytes} bytes; "
                                   "send shorter audio or start asrt serve with a larger --max-body-mb.")(
            scope, receive, send)

    async def _refuse_slow(self, scope: dict, receive: Callable, send: Callable) -> None:
        log.info("%s %s: body not received within %g s; closing the connection", scope["method"], scope["path"],
                 self.body_seconds)
        await _refusal(scope, 408, f"The request body did not arrive within this server's limit of "
                                   f"{self.body_seconds:g} s; send it at once.", close=True)(scope, receive, send)


def _refusal(scope: dict, status: int, reason: str, close: bool = False) -> Response:
    """A refused request's answer: HTTP ``status`` under ``/v1/``, ASRT's 200 + 500000 elsewhere."""
    headers = {"connection": "close"} if close else None
    if scope["path"].startswith(MODERN_PREFIX):
        return JSONResponse({"detail": reason}, status_code=status, headers=headers)
    response = asrt_response("", FAILED, reason)
    if headers:
        response.headers.update(headers)
    return response


def _without_body(send: Callable) -> Callable:
    """``send`` for a HEAD request answered as GET: the same headers, an empty body."""

    async def send_head(message: dict) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}
        await send(message)

    return send_head


class ClientGone(Exception):
    """The client disconnected before its answer was ready; its work was withdrawn."""


async def _disconnected(receive: Callable) -> None:
    """Return when the client has disconnected (its request body already read)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def outcome(request: Request, job: Job):
    """The result of ``job``; withdraws the job and raises :class:`ClientGone` if the client disconnects
    first (or the request is abandoned in any other way), :class:`Stopped` at the job's deadline."""
    work = asyncio.wrap_future(job.future)
    gone = asyncio.ensure_future(_disconnected(request.receive))
    try:
        await asyncio.wait({work, gone}, timeout=job.seconds_left(), return_when=asyncio.FIRST_COMPLETED)
    finally:
        client_left = gone.done()
        gone.cancel()
        if not work.done():
            job.cancel()
    if not work.done():
        work.cancel()
        raise ClientGone if client_left else Stopped("deadline")
    return work.result()


def create_app(service: RecognitionService) -> Callable:
    """The HTTP application (ASGI), wrapped in the request limits of ``service.limits``."""
    app = FastAPI(title="asrt recognition service", version="1", docs_url=None, redoc_url=None,
                  description="Mandarin speech recognition; ASRT-compatible routes plus `/v1/recognize`.")
    add_page_routes(app)
    _add_asrt_routes(app, service)
    _add_v1_routes(app, service)
    add_stream_route(app, service)

    @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"],
                   include_in_schema=False)
    async def unknown_route(path: str, request: Request):
        return asrt_response("", UNKNOWN_ROUTE, f"Unknown route {request.method} /{path}; ASRT's routes are "
                                                "POST /speech, /all and /language.")

    return RequestLimits(app, service.limits.max_body_bytes, service.limits.body_seconds)


def _add_asrt_routes(app: FastAPI, service: RecognitionService) -> None:
    """ASRT's routes: ``POST /`` (a check; ``GET /`` is the page, :mod:`asrt.serving.page`), ``/speech``,
    ``/all`` and ``/language``."""
    async def asrt_level(request: Request, level: str, start: Callable[[bytes], Job],
                         result: Callable = lambda r: r) -> Response:
        """Answer an ASRT route: ``start`` checks the body and starts its job, ``result`` picks the answer."""
        try:
            body = await request.body()
            answer = result(await outcome(request, await asyncio.to_thread(start, body)))
        except ClientGone:
            log.info("POST /%s: the client left; its work was withdrawn", level)
            return Response(status_code=499)
        except Stopped as e:  # the server's own deadline (a client that cancels is ClientGone)
            log.warning("POST /%s: %s", level, e)
            return asrt_response("", FAILED, service.limits.deadline_message())
        except ValueError as e:  # bad audio or request, or over a limit: the message is meant for the client
            log.warning("POST /%s: %s", level, e)
            return asrt_response("", FAILED, str(e))
        except Exception as e:  # noqa: BLE001 - a bug must not take the server down
            log.exception("POST /%s failed", level)
            return asrt_response("", FAILED, internal_error_message(e))
        return asrt_response(answer, OK, LEVEL_MESSAGES[level])

    def recognize_body(body: bytes) -> Job:
        req = parse_body(PcmRequest, body)
        return service.recognize_pcm(decode_samples(req.samples), req.sample_rate, req.channels, req.byte_width)

    asrt_doc = {"response_model": AsrtResponse, "tags": ["ASRT"]}

    @app.post("/", summary="Check that the service answers", **asrt_doc)
    async def index_post():
        return asrt_response("", OK, ROOT_MESSAGE)

    @app.post("/speech", summary="Tonal pinyin of base64 PCM", openapi_extra=_json_body_doc(PcmRequest),
              **asrt_doc)
    async def speech(request: Request):
        return await asrt_level(request, "speech", recognize_body, lambda r: r.pinyin)

    @app.post("/all", summary="Characters of base64 PCM", openapi_extra=_json_body_doc(PcmRequest), **asrt_doc)
    async def all_levels(request: Request):
        return await asrt_level(request, "all", recognize_body, lambda r: r.text)

    @app.post("/language", summary="Characters for tonal pinyin", openapi_extra=_json_body_doc(LanguageRequest),
              **asrt_doc)
    async def language(request: Request):
        return await asrt_level(request, "language", lambda body: service.pinyin_to_text(
            parse_body(LanguageRequest, body).sequence_pinyin))


def _add_v1_routes(app: FastAPI, service: RecognitionService) -> None:
    """The modern routes: ``/v1/recognize`` (an uploaded file) and ``/health``."""

    @app.post(MODERN_PREFIX + "recognize", response_model=Transcript, tags=["v1"],
              summary="Recognise an uploaded WAV or FLAC file (any rate, depth, channels and length)",
              responses={400: {"description": "the file is not usable audio"},
                         413: {"description": "the upload or its audio is over the server's limits"},
                         503: {"description": "recognition did not finish within the server's time limit"}})
    async def recognize(file: UploadFile, request: Request) -> Transcript:
        data = await file.read()
        try:
            job = await asyncio.to_thread(service.recognize_file, data, file.filename or "upload")
            r = await outcome(request, job)
        except ClientGone:
            log.info("POST %srecognize: the client left; its work was withdrawn", MODERN_PREFIX)
            return Response(status_code=499)
        except Stopped:
            raise HTTPException(status_code=503, detail=service.limits.deadline_message()) from None
        except LimitExceeded as e:
            raise HTTPException(status_code=413, detail=str(e)) from None
        except ValueError as e:
            log.warning("POST %srecognize: %s", MODERN_PREFIX, e)
            raise HTTPException(status_code=400, detail=str(e)) from None
        return Transcript(text=r.text, pinyin=r.pinyin, duration=round(r.duration, 3))

    @app.get("/health", response_model=Health, tags=["v1"], summary="Whether the service is up")
    async def health() -> Health:
        return Health(status="ok", model=service.model_name, streaming=service.streaming,
                      streams=service.streams_open)
