"""ASRT's wire protocol, shared by the HTTP and gRPC servers and the clients: status codes, the HTTP
JSON bodies and their exact serialisation, and base64 audio samples.

The facts come from ASRT v1.3.0 (the version its Docker image and SDKs speak): JSON routes always
answer HTTP 200 and put the outcome in ``status_code``; samples are raw little-endian PCM.
"""
from __future__ import annotations

import base64
import binascii
import json

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from asrt.names import SAMPLE_RATE

OK = 200000
PARTIAL = 206000  # gRPC Stream: the text so far of a segment that is still growing
UNKNOWN_ROUTE = 400000
FAILED = 500000

ROOT_MESSAGE = "ok"
# status_message of a successful answer on each ASRT HTTP route (POST /<level>).
LEVEL_MESSAGES = {"speech": "speech level", "all": "all level", "language": "language level"}


class RequestError(ValueError):
    """A request cannot be served as sent; the message says what is wrong in one sentence."""


class PcmRequest(BaseModel):
    """Body of ``POST /speech`` and ``POST /all`` (strict JSON types: ``16000``, not ``"16000"`` or ``true``)."""

    model_config = ConfigDict(strict=True)

    samples: str = Field(description="base64 (URL-safe, as ASRT's clients send, or standard) of raw "
                                     "little-endian PCM without a header")
    sample_rate: int = Field(description=f"samples per second of each channel (resampled to {SAMPLE_RATE})",
                             examples=[SAMPLE_RATE])
    channels: int = Field(description="interleaved channels (down-mixed to mono)", examples=[1])
    byte_width: int = Field(description="bytes per sample: 1 (unsigned 8-bit), 2 (int16) or 4 (int32)", examples=[2])


class LanguageRequest(BaseModel):
    """Body of ``POST /language``."""

    model_config = ConfigDict(strict=True)

    sequence_pinyin: list[str] = Field(description="tonal pinyin syllables", examples=[["ni3", "hao3"]])


class AsrtResponse(BaseModel):
    """Every answer of the ASRT JSON routes (always HTTP 200; the outcome is ``status_code``)."""

    result: list[str] | str = Field(description="pinyin list (/speech), text (/all, /language) or empty")
    status_code: int = Field(description=f"{OK} success, {UNKNOWN_ROUTE} unknown route, {FAILED} failure")
    status_message: str = Field(description="route level on success, the reason on failure")


def asrt_json(result: list[str] | str, status_code: int = OK, status_message: str = "") -> bytes:
    """An ASRT HTTP response body, serialised exactly as ASRT does (sorted keys, ASCII escapes)."""
    body = {"result": result, "status_code": status_code, "status_message": status_message}
    return json.dumps(body, sort_keys=True).encode("ascii")


def parse_body(model: type[BaseModel], body: bytes) -> BaseModel:
    """Parse and validate a JSON request body as ``model``; a bad body raises :class:`RequestError`."""
    try:
        return model.model_validate_json(body)
    except ValidationError as e:
        error = e.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        fields = ", ".join(model.model_fields)
        raise RequestError(f"Bad request body ({where + ': ' if where else ''}{error['msg']}); "
                           f"send a JSON object with {fields}.") from None


def decode_samples(text: str) -> bytes:
    """Bytes of base64 ``samples``: URL-safe or standard alphabet, padding and line breaks optional."""
    compact = "".join(text.split())
    compact = compact.rstrip("=").replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise RequestError("samples is not valid base64; encode the raw PCM bytes with base64.") from None


def encode_samples(data: bytes) -> str:
    """base64 of PCM bytes as ASRT's clients send it (URL-safe alphabet)."""
    return base64.urlsafe_b64encode(data).decode("ascii")


def internal_error_message(error: BaseException) -> str:
    """What a client is told about a failure that is the server's fault (the traceback goes to the log)."""
    return f"Internal server error ({type(error).__name__}); see the server log."
