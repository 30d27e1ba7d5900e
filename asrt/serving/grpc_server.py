"""ASRT's gRPC service (``asrt.AsrtGrpcService``, port 20002) over a :class:`RecognitionService`.

Every failure is answered in the protocol's own form, a response with ``status_code`` 500000 and the
reason in ``status_message``; only a message over the size limit is refused by gRPC itself
(``RESOURCE_EXHAUSTED``) before it reaches the service.
"""
from __future__ import annotations

import functools
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterator

import grpc

from asrt.audio import pcm_to_float
from asrt.recognizer import Recognition
from asrt.serving.protocol import FAILED, OK, RequestError, internal_error_message
from asrt.serving.proto import add_servicer, messages
from asrt.serving.service import RecognitionService
from asrt.serving.stream import StreamSegmenter

log = logging.getLogger(__name__)

# Threads that hold RPCs; a Stream holds one for its whole life, so there are more of them than
# recognition workers (those bound the CPU work).
RPC_THREADS = 64


def _failures_answered(response_type: type) -> Callable:
    """Decorate a unary handler so that an exception becomes a ``response_type`` with status 500000."""

    def decorate(handler: Callable) -> Callable:
        @functools.wraps(handler)
        def wrapper(self, request, context):
            try:
                return handler(self, request, context)
            except ValueError as e:  # bad audio or request: the message is meant for the client
                log.warning("gRPC %s: %s", handler.__name__, e)
                return response_type(status_code=FAILED, status_message=str(e))
            except Exception as e:  # noqa: BLE001 - a bug must not take the server down
                log.exception("gRPC %s failed", handler.__name__)
                return response_type(status_code=FAILED, status_message=internal_error_message(e))

        return wrapper

    return decorate


def _pcm(request) -> tuple[bytes, int, int, int]:
    """The PCM bytes, sample rate, channel count and byte width of a SpeechRequest."""
    if not request.HasField("wav_data"):
        raise RequestError("SpeechRequest has no wav_data; set samples, sample_rate, channels and byte_width.")
    w = request.wav_data
    return w.samples, w.sample_rate, w.channels, w.byte_width


class AsrtServicer:
    """The four methods of ASRT's gRPC interface."""

    def __init__(self, service: RecognitionService) -> None:
        self.service = service

    def _recognize(self, request) -> Recognition:
        return self.service.recognize_pcm(*_pcm(request)).result()

    @_failures_answered(messages.SpeechResponse)
    def Speech(self, request, context):
        """Tonal pinyin of one recording."""
        return messages.SpeechResponse(status_code=OK, result_data=self._recognize(request).pinyin)

    @_failures_answered(messages.TextResponse)
    def All(self, request, context):
        """Characters of one recording."""
        return messages.TextResponse(status_code=OK, text_result=self._recognize(request).text)

    @_failures_answered(messages.TextResponse)
    def Language(self, request, context):
        """Characters for a tonal pinyin sequence."""
        text = self.service.pinyin_to_text(list(request.pinyins)).result()
        return messages.TextResponse(status_code=OK, text_result=text)

    def Stream(self, request_iterator, context) -> Iterator:
        """Partial (206000) and committed (200000) results as chunks arrive; a final 200000 at the end.

        A chunk that cannot be used ends the stream with a 500000 response that says why.
        """
        segmenter = StreamSegmenter(lambda samples: self.service.recognize_samples(samples).result().text)
        try:
            for request in request_iterator:
                for code, text in segmenter.feed(pcm_to_float(*_pcm(request))):
                    yield messages.TextResponse(status_code=code, text_result=text)
            code, text = segmenter.finish()
            yield messages.TextResponse(status_code=code, text_result=text)
        except ValueError as e:
            log.warning("gRPC Stream: %s", e)
            yield messages.TextResponse(status_code=FAILED, status_message=str(e))
        except Exception as e:  # noqa: BLE001 - a bug must not take the server down
            log.exception("gRPC Stream failed")
            yield messages.TextResponse(status_code=FAILED, status_message=internal_error_message(e))


def start_grpc_server(service: RecognitionService, host: str, port: int, max_message_bytes: int) -> tuple[grpc.Server, int]:
    """Bind ``host:port`` (0 picks a free port), start serving and return the server and its port."""
    server = grpc.server(ThreadPoolExecutor(RPC_THREADS, thread_name_prefix="asrt-grpc"), options=[
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.so_reuseport", 0),  # a second server on the same port must fail, not share it
    ])
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError:
        bound = 0
    if bound == 0:
        raise RuntimeError(f"cannot listen for gRPC on {address} (in use or not an address of this machine); "
                           "choose another --grpc-port or --host")
    add_servicer(AsrtServicer(service), server)
    server.start()
    return server, bound
