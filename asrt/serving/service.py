"""The recogniser behind both servers: requests checked against the server's limits, then run by a pool of
worker processes (:mod:`asrt.serving.workers`) that drops or stops the work nobody waits for any more.

Every method returns a :class:`~asrt.serving.workers.Job` at once: ``job.future`` holds the answer,
``job.cancel()`` withdraws it when the client goes away. A job still unfinished ``request_seconds`` after it
was submitted fails with :class:`~asrt.serving.workers.Stopped`.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from asrt.names import SAMPLE_RATE
from asrt.serving.limits import ServeLimits
from asrt.serving.workers import Job, Stopped, WorkerPool, should_stop, worker_model

if TYPE_CHECKING:
    from asrt.packaged.recognizer import Recognition

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


class RecognitionService:
    """``workers`` processes that recognise requests within ``limits``, each with ``torch_threads`` torch
    threads. A worker that dies (killed, out of memory) fails the request it held and is replaced."""

    def __init__(self, model_dir: str | Path, workers: int, limits: ServeLimits, torch_threads: int = 1) -> None:
        self.limits = limits
        self._pool = WorkerPool(str(model_dir), workers, torch_threads)
        self.model_name = self._pool.model_name
        log.info("Loaded %s (%s) in %d recognition worker(s)", model_dir, self.model_name, workers)

    def _submit(self, fn: Callable, *args, audio_seconds: float = 0.0) -> Job:
        """Run ``fn(*args)`` (a module-level function) in a worker, within ``request_seconds``; long audio
        queues behind shorter requests that arrive up to ``QUEUE_DELAY_PER_AUDIO_SECOND`` x its seconds
        later. (A client's own deadline ends its call, which withdraws the job.)"""
        return self._pool.submit(fn, *args, deadline=time.monotonic() + self.limits.request_seconds,
                                 delay=QUEUE_DELAY_PER_AUDIO_SECOND * audio_seconds)

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
