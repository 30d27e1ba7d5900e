"""The recogniser behind both servers: requests checked against the server's limits, then run by a pool of
worker processes (:mod:`asrt.serving.workers`) that drops or stops the work nobody waits for any more.

Every method returns a :class:`~asrt.serving.workers.Job` at once: ``job.future`` holds the answer,
``job.cancel()`` withdraws it when the client goes away. A job still unfinished ``request_seconds`` after it
was submitted fails with :class:`~asrt.serving.workers.Stopped`.
"""
from __future__ import annotations

import itertools
import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from asrt.names import SAMPLE_RATE
from asrt.serving.limits import LimitExceeded, ServeLimits
from asrt.serving.workers import Job, Stopped, WorkerPool, should_stop, worker_model, worker_streams

if TYPE_CHECKING:
    from asrt.packaged.recognizer import Recognition
    from asrt.packaged.streaming import StreamResult

log = logging.getLogger(__name__)

# Queue order: a request waits this much longer per second of its audio than one without audio, so that
# long audio (600 s: 60 s) yields to the short requests that arrive meanwhile, yet is never starved.
QUEUE_DELAY_PER_AUDIO_SECOND = 0.1


def _stop_check() -> None:
    """Between pieces of work in a worker: give up if the job is no longer wanted."""
    if should_stop():
        raise Stopped("cancelled")


def _recognize_samples(samples: np.ndarray) -> Recognition:
    return worker_model().recognize(samples, between_pieces=_stop_check)


def _recognize_pcm(data: bytes, sample_rate: int, channels: int, byte_width: int) -> Recognition:
    from asrt.audio import pcm_to_float

    return worker_model().recognize(pcm_to_float(data, sample_rate, channels, byte_width), between_pieces=_stop_check)


def _recognize_file(data: bytes, name: str) -> Recognition:
    from asrt.audio import decode_audio

    return worker_model().recognize(decode_audio(data, name), between_pieces=_stop_check)


def _pinyin_to_text(syllables: list[str]) -> str:
    return worker_model().pinyin_to_text(syllables, between_pieces=_stop_check)


def _model_streams() -> bool:
    from asrt.models.streaming import is_streaming

    model = worker_model().model
    return model is not None and is_streaming(model)


def _worker_stream(stream_id: int):
    try:
        return worker_streams()[stream_id]
    except KeyError:
        raise RuntimeError("this stream's recognition worker was restarted; its audio is lost") from None


def _stream_open(stream_id: int) -> None:
    worker_streams()[stream_id] = worker_model().stream()


def _stream_accept(stream_id: int, samples: np.ndarray) -> list[StreamResult]:
    return _worker_stream(stream_id).accept(samples, between_steps=_stop_check)


def _streams_accept(items: list[tuple[int, np.ndarray]]) -> list[tuple[bool, list[StreamResult]]]:
    """:func:`_stream_accept` of several streams at once (their model chunks share forward passes)."""
    from asrt.packaged.streaming import accept_streams

    streams = [_worker_stream(stream_id) for stream_id, _ in items]
    return [(True, r) for r in accept_streams(streams, [samples for _, samples in items], _stop_check)]


def _stream_finish(stream_id: int) -> list[StreamResult]:
    results = _worker_stream(stream_id).finish(between_steps=_stop_check)
    del worker_streams()[stream_id]
    return results


def _stream_close(stream_id: int) -> None:
    worker_streams().pop(stream_id, None)


def _open_streams() -> int:
    return len(worker_streams())


class StreamHandle:
    """One open stream, held by one worker (its model state and search live there): every call returns a
    :class:`Job` whose result is a list of :class:`~asrt.packaged.streaming.StreamResult`. :meth:`close`
    (always, at the end) frees its state and its place among the server's streams."""

    def __init__(self, service: RecognitionService, worker: int, stream_id: int) -> None:
        self._service, self.worker, self.id = service, worker, stream_id
        self.seconds = 0.0
        self._closed = False

    def _submit(self, fn: Callable, *args, batch: Callable | None = None) -> Job:
        if self.worker is None:
            raise ValueError("this model does not stream (it was trained without model.streaming)")
        return self._service._submit(fn, self.id, *args, worker=self.worker, key=self.id, batch=batch)

    def accept(self, samples: np.ndarray) -> Job:
        """Recognise the next 16 kHz mono float samples (refused past ``max_audio_seconds`` in all)."""
        self._service.limits.check_audio_seconds(self.seconds + len(samples) / SAMPLE_RATE)
        self.seconds += len(samples) / SAMPLE_RATE
        return self._submit(_stream_accept, samples, batch=_streams_accept)

    def finish(self) -> Job:
        """The audio ended: the last results."""
        return self._submit(_stream_finish)

    def close(self) -> None:
        """Free the stream (safe more than once; a finished stream's state is already gone)."""
        if not self._closed:
            self._closed = True
            self._service._stream_closed(self)


class RecognitionService:
    """``workers`` processes that recognise requests within ``limits``, each with ``torch_threads`` torch
    threads. A worker that dies (killed, out of memory) fails the request it held and is replaced."""

    def __init__(self, model_dir: str | Path, workers: int, limits: ServeLimits, torch_threads: int = 1) -> None:
        self.limits = limits
        self._pool = WorkerPool(str(model_dir), workers, torch_threads)
        self.model_name = self._pool.model_name
        self.streaming = self._pool.submit(_model_streams).future.result()
        self._stream_ids = itertools.count(1)
        self._streams_lock = threading.Lock()
        self._streams_per_worker = [0] * self._pool.size
        self._streams_open = 0
        log.info("Loaded %s (%s%s) in %d recognition worker(s)", model_dir, self.model_name,
                 ", streaming" if self.streaming else "", workers)

    def _submit(self, fn: Callable, *args, audio_seconds: float = 0.0, **where) -> Job:
        """Run ``fn(*args)`` (a module-level function) in a worker, within ``request_seconds``; long audio
        queues behind shorter requests that arrive up to ``QUEUE_DELAY_PER_AUDIO_SECOND`` x its seconds
        later. (A client's own deadline ends its call, which withdraws the job.) ``where``: the ``worker``,
        ``key`` and ``batch`` of :meth:`WorkerPool.submit`."""
        return self._pool.submit(fn, *args, deadline=time.monotonic() + self.limits.request_seconds,
                                 delay=QUEUE_DELAY_PER_AUDIO_SECOND * audio_seconds, **where)

    def open_stream(self) -> StreamHandle:
        """A place among the server's ``max_streams`` streams (LimitExceeded when none is free) and, for a
        streaming model, a stream on the worker that holds the fewest (``handle.worker``; None for a model
        that does not stream). The caller closes it (:meth:`StreamHandle.close`)."""
        with self._streams_lock:
            if self._streams_open >= self.limits.max_streams:
                raise LimitExceeded(f"This server already has {self.limits.max_streams} streams open, its limit; "
                                    "try again later.")
            self._streams_open += 1
            worker = None
            if self.streaming:
                worker = min(range(len(self._streams_per_worker)), key=self._streams_per_worker.__getitem__)
                self._streams_per_worker[worker] += 1
        handle = StreamHandle(self, worker, next(self._stream_ids))
        if worker is not None:
            handle._submit(_stream_open)  # jobs of one worker run in order: no need to wait for it
        return handle

    def _stream_closed(self, handle: StreamHandle) -> None:
        if handle.worker is not None:
            self._pool.submit(_stream_close, handle.id, worker=handle.worker, key=handle.id)
        with self._streams_lock:
            self._streams_open -= 1
            if handle.worker is not None:
                self._streams_per_worker[handle.worker] -= 1

    @property
    def streams_open(self) -> int:
        """Streams open now."""
        return self._streams_open

    def open_streams_in_workers(self) -> list[int]:
        """How many streams each worker holds state for (what :meth:`StreamHandle.close` frees)."""
        return [self._pool.submit(_open_streams, worker=w).future.result() for w in range(self._pool.size)]

    def recognize_samples(self, samples: np.ndarray) -> Job:
        """Recognise 16 kHz mono float samples (a piece of a stream: no length check)."""
        return self._submit(_recognize_samples, samples, audio_seconds=len(samples) / SAMPLE_RATE)

    def recognize_pcm(self, data: bytes, sample_rate: int, channels: int, byte_width: int) -> Job:
        """Recognise raw little-endian PCM of any rate, channel count and supported byte width."""
        seconds = self.limits.check_pcm(len(data), sample_rate, channels, byte_width)
        return self._submit(_recognize_pcm, data, sample_rate, channels, byte_width, audio_seconds=seconds)

    def recognize_file(self, data: bytes, name: str) -> Job:
        """Recognise the bytes of a WAV or FLAC file."""
        seconds = self.limits.check_file(data)
        return self._submit(_recognize_file, data, name, audio_seconds=seconds)

    def pinyin_to_text(self, syllables: list[str]) -> Job:
        """Characters for tonal pinyin syllables."""
        self.limits.check_syllables(len(syllables))
        return self._submit(_pinyin_to_text, syllables)

    def close(self) -> None:
        """Finish the queued recognitions and stop the workers."""
        self._pool.close()
