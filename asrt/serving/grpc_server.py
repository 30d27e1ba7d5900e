"""ASRT's gRPC service (``asrt.AsrtGrpcService``, port 20002) over a :class:`RecognitionService`.

Every failure is answered in the protocol's own form, a response with ``status_code`` 500000 and the
reason in ``status_message``; only a message over the size limit is refused by gRPC itself
(``RESOURCE_EXHAUSTED``) before it reaches the service. Work for a call that ends early (the client
cancels, leaves or passes its deadline) is withdrawn.
"""
from __future__ import annotations

import functools
import logging
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Callable, Iterator

import grpc

from asrt.audio import pcm_to_float
from asrt.names import SAMPLE_RATE
from asrt.packaged.recognizer import Recognition
from asrt.serving.proto import add_servicer, messages
from asrt.serving.limits import LimitExceeded
from asrt.serving.protocol import FAILED, OK, PARTIAL, RequestError, internal_error_message
from asrt.serving.service import RecognitionService, StreamHandle
from asrt.serving.stream import StreamSegmenter
from asrt.serving.workers import Job, Stopped

log = logging.getLogger(__name__)

# Threads that hold RPCs beside those of the open Streams (each holds one for its whole life, and there
# are at most serve.max_streams of them), so that streams can never take every thread from unary calls.
UNARY_RPC_THREADS = 32


def _failures_answered(response_type: type) -> Callable:
    """Decorate a unary handler so that an exception becomes a ``response_type`` with status 500000."""

    def decorate(handler: Callable) -> Callable:
        @functools.wraps(handler)
        def wrapper(self, request, context):
            try:
                return handler(self, request, context)
            except Stopped as e:
                if e.reason == "cancelled":  # the client cancelled or left: nobody reads an answer
                    log.info("gRPC %s: the client left; its work was withdrawn", handler.__name__)
                    return response_type()
                log.warning("gRPC %s: %s", handler.__name__, e)
                return response_type(status_code=FAILED, status_message=self.service.limits.deadline_message())
            except ValueError as e:  # bad audio or request, or over a limit: the message is meant for the client
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


def _result(job: Job, context):
    """The result of ``job``, withdrawn if the RPC ends first (cancelled, past its deadline, disconnected)."""
    if not context.add_callback(job.cancel):  # the RPC had already ended
        job.cancel()
    try:
        return job.future.result(timeout=job.seconds_left())
    except FutureTimeout:
        job.cancel()
        raise Stopped("deadline") from None


class _StreamIdle(Exception):
    """A Stream's client sent nothing for ``stream_idle_seconds``."""


def _chunks(request_iterator: Iterator, idle_seconds: float) -> Iterator:
    """The requests of a Stream, read by a thread of their own so that waiting for the next one can time
    out (:class:`_StreamIdle`); the thread ends when the RPC does."""
    arrived: queue.Queue = queue.Queue(maxsize=2)
    end = object()

    def read() -> None:
        try:
            for request in request_iterator:
                arrived.put(request)
            arrived.put(end)
        except Exception as e:  # noqa: BLE001 - the RPC ended (cancelled, closed): hand it to the reader
            arrived.put(e)

    threading.Thread(target=read, name="asrt-grpc-stream-reader", daemon=True).start()
    while True:
        try:
            item = arrived.get(timeout=idle_seconds)
        except queue.Empty:
            raise _StreamIdle from None
        if item is end:
            return
        if isinstance(item, Exception):
            raise item
        yield item


class AsrtServicer:
    """The four methods of ASRT's gRPC interface."""

    def __init__(self, service: RecognitionService) -> None:
        self.service = service

    def _recognize(self, request, context) -> Recognition:
        return _result(self.service.recognize_pcm(*_pcm(request)), context)

    @_failures_answered(messages.SpeechResponse)
    def Speech(self, request, context):
        """Tonal pinyin of one recording."""
        return messages.SpeechResponse(status_code=OK, result_data=self._recognize(request, context).pinyin)

    @_failures_answered(messages.TextResponse)
    def All(self, request, context):
        """Characters of one recording."""
        return messages.TextResponse(status_code=OK, text_result=self._recognize(request, context).text)

    @_failures_answered(messages.TextResponse)
    def Language(self, request, context):
        """Characters for a tonal pinyin sequence."""
        job = self.service.pinyin_to_text(list(request.pinyins))
        return messages.TextResponse(status_code=OK, text_result=_result(job, context))

    def Stream(self, request_iterator, context) -> Iterator:
        """Partial (206000) results after every chunk the model completes and committed (200000) ones at
        each endpoint, then the last committed result at the end (:mod:`asrt.packaged.streaming`). A model
        that does not stream re-recognises the growing segment instead (:class:`StreamSegmenter`).

        A chunk that cannot be used, a stream over the server's limits (streams open at once, seconds of
        audio, seconds without a chunk) ends the stream with a 500000 response that says why.
        """
        limits = self.service.limits
        try:
            handle = self.service.open_stream()
        except LimitExceeded as e:
            log.warning("gRPC Stream refused: %d streams are open", limits.max_streams)
            yield messages.TextResponse(status_code=FAILED, status_message=str(e))
            return
        try:
            yield from self._answered(self._stream(handle, request_iterator, context), context)
        finally:
            handle.close()

    def _stream(self, handle: StreamHandle, request_iterator, context) -> Iterator:
        limits = self.service.limits
        chunks = _chunks(request_iterator, limits.stream_idle_seconds)
        if handle.worker is None:
            yield from self._segmented(chunks, context)
            return
        for request in chunks:
            for result in _result(handle.accept(pcm_to_float(*_pcm(request))), context):
                yield messages.TextResponse(status_code=OK if result.final else PARTIAL, text_result=result.text)
        for result in _result(handle.finish(), context):
            yield messages.TextResponse(status_code=OK, text_result=result.text)

    def _segmented(self, chunks: Iterator, context) -> Iterator:
        limits = self.service.limits
        segmenter = StreamSegmenter(lambda samples: _result(self.service.recognize_samples(samples), context).text)
        seconds = 0.0
        for request in chunks:
            samples = pcm_to_float(*_pcm(request))
            seconds += len(samples) / SAMPLE_RATE
            limits.check_audio_seconds(seconds)
            for segment in segmenter.feed(samples):
                yield messages.TextResponse(status_code=OK if segment.final else PARTIAL,
                                            text_result=segment.result or "")
        yield messages.TextResponse(status_code=OK, text_result=segmenter.finish().result or "")

    def _answered(self, responses: Iterator, context) -> Iterator:
        """``responses``, ended by a 500000 response that says why when the stream fails."""
        limits = self.service.limits
        try:
            yield from responses
        except GeneratorExit:  # gRPC stops asking for answers once one could not be sent (the client left)
            if not context.is_active():
                log.info("gRPC Stream: the client cancelled it")
            raise
        except _StreamIdle:
            log.info("gRPC Stream: nothing received for %g s; closing it", limits.stream_idle_seconds)
            yield messages.TextResponse(status_code=FAILED, status_message=(
                f"Nothing was received for {limits.stream_idle_seconds:g} s, this server's limit; the stream "
                "is closed."))
        except Stopped as e:
            if e.reason == "cancelled":
                log.info("gRPC Stream: the client left; its work was withdrawn")
                return
            log.warning("gRPC Stream: %s", e)
            yield messages.TextResponse(status_code=FAILED, status_message=limits.deadline_message())
        except ValueError as e:
            log.warning("gRPC Stream: %s", e)
            yield messages.TextResponse(status_code=FAILED, status_message=str(e))
        except Exception as e:  # noqa: BLE001 - a bug must not take the server down
            if not context.is_active():  # the client cancelled or went away: an ordinary end
                log.info("gRPC Stream: the client cancelled it")
                return
            log.exception("gRPC Stream failed")
            yield messages.TextResponse(status_code=FAILED, status_message=internal_error_message(e))


def start_grpc_server(service: RecognitionService, host: str, port: int) -> tuple[grpc.Server, int]:
    """Bind ``host:port`` (0 picks a free port), start serving and return the server and its port."""
    threads = service.limits.max_streams + UNARY_RPC_THREADS
    server = grpc.server(ThreadPoolExecutor(threads, thread_name_prefix="asrt-grpc"), options=[
        ("grpc.max_receive_message_length", service.limits.max_body_bytes),
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
