"""Clients of ASRT's HTTP and gRPC services (``asrt client``); they work against asrt and ASRT alike.

Audio is sent as ASRT's clients send it: 16 kHz mono int16 PCM, URL-safe base64 over HTTP.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np

from asrt.audio import float_to_pcm16
from asrt.names import SAMPLE_RATE
from asrt.serving.protocol import FAILED, OK, PARTIAL, encode_samples


class ServiceError(RuntimeError):
    """The service could not be reached or answered with a failure; the message says which."""


@dataclass
class Pcm:
    """Raw little-endian PCM and its format, as a request carries it."""

    data: bytes
    sample_rate: int = SAMPLE_RATE
    channels: int = 1
    byte_width: int = 2

    @classmethod
    def from_float(cls, samples: np.ndarray) -> "Pcm":
        """16 kHz mono float samples as int16 PCM."""
        return cls(float_to_pcm16(samples))

    def json_body(self) -> dict:
        """The JSON body of ASRT's ``/speech`` and ``/all`` routes."""
        return {"samples": encode_samples(self.data), "sample_rate": self.sample_rate, "channels": self.channels,
                "byte_width": self.byte_width}

    def chunks(self, seconds: float) -> Iterator["Pcm"]:
        """Consecutive pieces of about ``seconds`` each (whole frames)."""
        step = max(1, int(seconds * self.sample_rate)) * self.channels * self.byte_width
        for start in range(0, len(self.data), step):
            yield Pcm(self.data[start:start + step], self.sample_rate, self.channels, self.byte_width)


class HttpClient:
    """ASRT's JSON routes over HTTP; a new connection per request, so one client may serve many threads."""

    def __init__(self, host: str = "127.0.0.1", port: int = 20001, timeout: float = 600.0) -> None:
        self.url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
        self.timeout = timeout

    def post(self, route: str, body: dict) -> list[str] | str:
        """POST a JSON body to ``route``; return ``result``, or raise ServiceError unless status_code is 200000."""
        request = urllib.request.Request(self.url + route, data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as e:
            raise ServiceError(f"{self.url}{route} answered HTTP {e.code} {e.reason}") from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise ServiceError(f"cannot reach {self.url} ({reason}); is asrt serve running there?") from None
        if answer.get("status_code") != OK:
            raise ServiceError(f"{self.url}{route} failed ({answer.get('status_code')}): {answer.get('status_message')}")
        return answer["result"]

    def stream(self, chunks: Iterable[Pcm]) -> Iterator[tuple[int, str, str]]:
        """Send 16 kHz mono PCM chunks over the WebSocket route ``/v1/stream``; yield each answer as gRPC's
        Stream gives it: (status_code, text, status_message), PARTIAL for partial results."""
        from websockets.exceptions import WebSocketException
        from websockets.sync.client import connect

        codes = {"partial": PARTIAL, "final": OK, "error": FAILED}
        try:
            with connect(self.url.replace("http", "ws", 1) + "/v1/stream", open_timeout=self.timeout) as ws:
                for chunk in chunks:
                    if chunk.sample_rate != SAMPLE_RATE or chunk.channels != 1 or chunk.byte_width != 2:
                        raise ServiceError("the WebSocket stream takes 16 kHz mono 16-bit PCM")
                    ws.send(chunk.data)
                ws.send(json.dumps({"type": "end"}))
                for message in ws:
                    answer = json.loads(message)
                    if answer["type"] == "done":
                        return
                    yield codes[answer["type"]], answer.get("text", ""), answer.get("message", "")
                    if answer["type"] == "error":  # the server closes the stream after it
                        return
        except (OSError, WebSocketException) as e:
            raise ServiceError(f"{self.url}/v1/stream: {e}") from None

    def speech(self, pcm: Pcm) -> list[str]:
        """Tonal pinyin of PCM (``POST /speech``)."""
        return self.post("/speech", pcm.json_body())

    def all(self, pcm: Pcm) -> str:
        """Characters of PCM (``POST /all``)."""
        return self.post("/all", pcm.json_body())


class GrpcClient:
    """ASRT's gRPC service (``asrt.AsrtGrpcService``)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 20002, timeout: float = 600.0) -> None:
        import grpc

        from asrt.serving.proto import Stub, messages

        self._grpc, self._messages = grpc, messages
        self.target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self.timeout = timeout
        self._stub = Stub(grpc.insecure_channel(self.target))

    def _wav(self, pcm: Pcm):
        return self._messages.SpeechRequest(wav_data=self._messages.WavData(
            samples=pcm.data, sample_rate=pcm.sample_rate, channels=pcm.channels, byte_width=pcm.byte_width))

    def _call(self, method: str, request):
        try:
            response = getattr(self._stub, method)(request, timeout=self.timeout)
        except self._grpc.RpcError as e:
            raise self._rpc_error(e) from None
        if response.status_code != OK:
            raise ServiceError(f"gRPC {method} failed ({response.status_code}): {response.status_message}")
        return response

    def _rpc_error(self, e) -> ServiceError:
        hint = "; is asrt serve running there?" if e.code() == self._grpc.StatusCode.UNAVAILABLE else ""
        return ServiceError(f"gRPC call to {self.target} failed ({e.code().name}: {e.details()}){hint}")

    def speech(self, pcm: Pcm) -> list[str]:
        """Tonal pinyin of PCM (``Speech``)."""
        return list(self._call("Speech", self._wav(pcm)).result_data)

    def all(self, pcm: Pcm) -> str:
        """Characters of PCM (``All``)."""
        return self._call("All", self._wav(pcm)).text_result

    def stream(self, chunks: Iterable[Pcm]) -> Iterator[tuple[int, str, str]]:
        """Send PCM chunks on one ``Stream`` call; yield each answer's (status_code, text, status_message)."""
        try:
            for r in self._stub.Stream((self._wav(c) for c in chunks), timeout=self.timeout):
                yield r.status_code, r.text_result, r.status_message
        except self._grpc.RpcError as e:
            raise self._rpc_error(e) from None
