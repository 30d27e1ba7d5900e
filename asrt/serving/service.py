"""The recogniser behind both servers: a pool of worker processes, each with the packaged model loaded
once, so that recognition runs beside request handling and the CPU work is bounded by the pool size.

Processes rather than threads: kaldi-decoder's search (most of the work) holds the GIL, so threads in
one process would take turns instead of using the cores.
"""
from __future__ import annotations

import logging
import multiprocessing
import signal
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING, Callable, TypeVar

import numpy as np

if TYPE_CHECKING:
    from asrt.recognizer import Recognition, Recognizer

T = TypeVar("T")
log = logging.getLogger(__name__)

# The worker process's model, or why it could not be loaded (raised by every task, so the parent sees it).
_recognizer: Recognizer | None = None
_load_error: Exception | None = None


def _load(model_dir: str, torch_threads: int) -> None:
    """Initialise a worker process: load the model once."""
    global _recognizer, _load_error
    import torch

    from asrt.recognizer import Recognizer

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the server stops the pool
    torch.set_num_threads(torch_threads)
    try:
        _recognizer = Recognizer(model_dir)
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        _load_error = e


def _model() -> Recognizer:
    if _recognizer is None:
        raise _load_error
    return _recognizer


def _model_name() -> str:
    return str(_model().metadata.get("model", "unknown"))


def _recognize_samples(samples: np.ndarray) -> Recognition:
    return _model().recognize(samples)


def _recognize_pcm(data: bytes, sample_rate: int, channels: int, byte_width: int) -> Recognition:
    from asrt.audio import pcm_to_float

    return _model().recognize(pcm_to_float(data, sample_rate, channels, byte_width))


def _recognize_file(data: bytes, name: str) -> Recognition:
    from asrt.audio import decode_audio

    return _model().recognize(decode_audio(data, name))


def _pinyin_to_text(syllables: list[str]) -> str:
    return _model().pinyin_to_text(syllables)


class RecognitionService:
    """``workers`` processes that recognise requests, each with ``torch_threads`` torch threads.

    A worker that dies (killed, out of memory) fails the requests it held; the pool is then replaced,
    so later requests are served again.
    """

    def __init__(self, model_dir: str | Path, workers: int, torch_threads: int = 1) -> None:
        self._pool_args = dict(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_load, initargs=(str(model_dir), torch_threads))
        self._lock = threading.Lock()
        self._pool = ProcessPoolExecutor(**self._pool_args)
        # Start every worker now (one task each) and wait, so the first requests do not pay for loading.
        names = [self._pool.submit(_model_name) for _ in range(workers)]
        self.model_name = names[0].result()
        for name in names[1:]:
            name.result()
        log.info("Loaded %s (%s) in %d recognition worker(s)", model_dir, self.model_name, workers)

    def _submit(self, fn: Callable[..., T], *args) -> Future[T]:
        """Run ``fn(*args)`` (a module-level function) in a worker process."""
        with self._lock:
            try:
                return self._pool.submit(fn, *args)
            except BrokenProcessPool:
                log.error("A recognition worker died; starting new workers")
                self._pool.shutdown(wait=False)
                self._pool = ProcessPoolExecutor(**self._pool_args)
                return self._pool.submit(fn, *args)

    def recognize_samples(self, samples: np.ndarray) -> Future[Recognition]:
        """Recognise 16 kHz mono float samples."""
        return self._submit(_recognize_samples, samples)

    def recognize_pcm(self, data: bytes, sample_rate: int, channels: int, byte_width: int) -> Future[Recognition]:
        """Recognise raw little-endian PCM of any rate, channel count and supported byte width."""
        return self._submit(_recognize_pcm, data, sample_rate, channels, byte_width)

    def recognize_file(self, data: bytes, name: str) -> Future[Recognition]:
        """Recognise the bytes of a WAV or FLAC file."""
        return self._submit(_recognize_file, data, name)

    def pinyin_to_text(self, syllables: list[str]) -> Future[str]:
        """Characters for tonal pinyin syllables."""
        return self._submit(_pinyin_to_text, syllables)

    def close(self) -> None:
        """Finish the queued recognitions and stop the workers."""
        self._pool.shutdown(wait=True)
