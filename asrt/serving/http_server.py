"""ASRT's HTTP service (port 20001) over a :class:`RecognitionService`, plus routes beyond ASRT.

ASRT's routes (``POST /``, ``/speech``, ``/all``, ``/language``, and any unknown path) always answer
HTTP 200 with ASRT's JSON body, byte for byte as ASRT serialises it; clients check ``status_code``.
The routes under ``/v1/`` and ``/health`` use HTTP status codes. The OpenAPI spec is at
``/openapi.json`` (browsable at ``/docs``).
"""
from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Future
from typing import Callable

from fastapi import FastAPI, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from asrt.serving.protocol import (
    FAILED, LEVEL_MESSAGES, OK, ROOT_MESSAGE, UNKNOWN_ROUTE, AsrtResponse, LanguageRequest, PcmRequest,
    asrt_json, decode_samples, internal_error_message, parse_body,
)
from asrt.serving.service import RecognitionService

log = logging.getLogger(__name__)

MODERN_PREFIX = "/v1/"
DRAIN_SECONDS = 10.0

INDEX_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>asrt recognition service</title></head>
<body><h1>asrt recognition service</h1>
<p>Mandarin speech recognition, compatible with ASRT's HTTP API.</p>
<ul>
<li><code>POST /speech</code>: tonal pinyin of base64 PCM</li>
<li><code>POST /all</code>: characters of base64 PCM</li>
<li><code>POST /language</code>: characters for a tonal pinyin sequence</li>
<li><code>POST /v1/recognize</code>: text, pinyin and duration of an uploaded WAV or FLAC file</li>
<li><code>GET /health</code>: whether the service is up</li>
</ul>
<p>The OpenAPI spec is <a href="/openapi.json">/openapi.json</a>, browsable at <a href="/docs">/docs</a>.</p>
</body></html>
"""


class Transcript(BaseModel):
    """Answer of ``POST /v1/recognize``."""

    text: str = Field(description="recognised characters")
    pinyin: list[str] = Field(description="recognised tonal pinyin")
    duration: float = Field(description="seconds of audio")


class Health(BaseModel):
    """Answer of ``GET /health``."""

    status: str = Field(examples=["ok"])
    model: str = Field(description="acoustic model of the packaged model directory", examples=["tdnn"])


def asrt_response(result: list[str] | str, status_code: int = OK, status_message: str = "") -> Response:
    """An ASRT JSON answer (always HTTP 200)."""
    return Response(asrt_json(result, status_code, status_message), media_type="application/json")


def _json_body_doc(model: type[BaseModel]) -> dict:
    # The ASRT routes read their body themselves (to answer errors in ASRT's form); this documents it.
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": model.model_json_schema()}}}}


class BodySizeLimit:
    """ASGI middleware: refuse request bodies over ``max_bytes`` before anything parses them (413 under
    ``/v1/``, ASRT's HTTP 200 + 500000 elsewhere)."""

    def __init__(self, app: Callable, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_bytes:
            return await self._refuse(scope, receive, send)
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                return await self._refuse(scope, receive, send)
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

    async def _refuse(self, scope: dict, receive: Callable, send: Callable) -> None:
        # Read and drop the rest of the body first (for a bounded time): a connection closed with unread
        # data is reset, and the client would lose the answer.
        async def drain() -> None:
            while (await receive()).get("more_body", False):
                pass

        try:
            await asyncio.wait_for(drain(), DRAIN_SECONDS)
        except asyncio.TimeoutError:
            pass
        reason = (f"Request body is larger than this server's limit of {self.max_bytes} bytes; send shorter "
                  "audio or start asrt serve with a larger --max-body-mb.")
        if scope["path"].startswith(MODERN_PREFIX):
            response = JSONResponse({"detail": reason}, status_code=413)
        else:
            response = asrt_response("", FAILED, reason)
        await response(scope, receive, send)


def create_app(service: RecognitionService, max_body_bytes: int) -> Callable:
    """The HTTP application (ASGI), wrapped in the body-size limit."""
    app = FastAPI(title="asrt recognition service", version="1",
                  description="Mandarin speech recognition; ASRT-compatible routes plus `/v1/recognize`.")

    async def asrt_level(request: Request, level: str, work: Callable[[bytes], Future],
                         result: Callable = lambda r: r) -> Response:
        """Answer an ASRT route: ``work`` starts recognition of the body, ``result`` picks the answer."""
        try:
            answer = result(await asyncio.wrap_future(work(await request.body())))
        except ValueError as e:  # bad audio or request: the message is meant for the client
            log.warning("POST /%s: %s", level, e)
            return asrt_response("", FAILED, str(e))
        except Exception as e:  # noqa: BLE001 - a bug must not take the server down
            log.exception("POST /%s failed", level)
            return asrt_response("", FAILED, internal_error_message(e))
        return asrt_response(answer, OK, LEVEL_MESSAGES[level])

    def recognize_body(body: bytes) -> Future:
        req = parse_body(PcmRequest, body)
        return service.recognize_pcm(decode_samples(req.samples), req.sample_rate, req.channels, req.byte_width)

    asrt_doc = {"response_model": AsrtResponse, "tags": ["ASRT"]}

    @app.get("/", response_class=HTMLResponse, tags=["ASRT"], summary="A page that lists the routes")
    async def index_page():
        return HTMLResponse(INDEX_HTML)

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

    @app.post(MODERN_PREFIX + "recognize", response_model=Transcript, tags=["v1"],
              summary="Recognise an uploaded WAV or FLAC file (any rate, depth, channels and length)",
              responses={400: {"description": "the file is not usable audio"},
                         413: {"description": "the upload is over the size limit"}})
    async def recognize(file: UploadFile) -> Transcript:
        data = await file.read()
        try:
            r = await asyncio.wrap_future(service.recognize_file(data, file.filename or "upload"))
        except ValueError as e:
            log.warning("POST %srecognize: %s", MODERN_PREFIX, e)
            raise HTTPException(status_code=400, detail=str(e)) from None
        return Transcript(text=r.text, pinyin=r.pinyin, duration=round(r.duration, 3))

    @app.get("/health", response_model=Health, tags=["v1"], summary="Whether the service is up")
    async def health() -> Health:
        return Health(status="ok", model=service.model_name)

    @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    async def unknown_route(path: str, request: Request):
        return asrt_response("", UNKNOWN_ROUTE, f"Unknown route {request.method} /{path}; ASRT's routes are "
                                                "POST /speech, /all and /language.")

    return BodySizeLimit(app, max_body_bytes)
