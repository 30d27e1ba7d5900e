"""Recognition worker processes whose work can be withdrawn: a job that nobody waits for any more (its
client left, cancelled or passed its deadline) is dropped from the queue, or stopped while it runs.

Each worker is a process with the packaged model loaded once, fed one job at a time over a pipe by a
thread of the server. A running job is stopped cooperatively: the worker reads a shared flag between the
pieces of its work (:class:`asrt.packaged.recognizer.Recognizer` recognises long audio in pieces) and gives up
with :class:`Stopped`; a worker that does not answer within ``KILL_AFTER_SECONDS`` of the request to stop
(a piece that takes too long, a hung library call) is killed and replaced by a fresh one.

Processes rather than threads: kaldi-decoder's search (most of the work) holds the GIL, so threads in one
process would take turns instead of using the cores.

Jobs submitted with a ``batch`` function (a stream's chunks) that wait in one worker's queue run together:
the worker takes, with the first, the earliest waiting job of every other key (stream) that has nothing
before it, and runs them as one call of ``batch`` (:class:`_Batch`); one key's jobs keep their order.
"""
from __future__ import annotations

import ctypes
import heapq
import itertools
import logging
import math
import multiprocessing
import pickle
import signal
import threading
import time
import traceback
from concurrent.futures import Future
from multiprocessing.connection import Connection
from typing import Any, Callable, Hashable

log = logging.getLogger(__name__)

KILL_AFTER_SECONDS = 3.0  # a worker asked to stop that has not answered by then is killed and replaced
_POLL_SECONDS = 0.02  # how often a waiting feeder thread looks whether its job should stop

_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
_MMAP_BYTES = 128 << 10  # glibc's own starting threshold
try:
    _LIBC = ctypes.CDLL("libc.so.6")
except OSError:  # not glibc: nothing to tune
    _LIBC = None

# In a worker process: the model (or why it could not be loaded), and whether the running job should stop.
_state: dict[str, Any] = {}


def bound_heap() -> None:
    """With glibc, serve every allocation of ``_MMAP_BYTES`` or more from its own mapping, returned to the
    system when freed. glibc raises that threshold each time such a block is freed, so a server that once
    handled large requests (25 MB bodies, 600 s of audio) would keep their memory for ever."""
    if _LIBC is not None:
        _LIBC.mallopt(_M_MMAP_THRESHOLD, _MMAP_BYTES)


def release_freed_memory() -> None:
    """With glibc, give the heap's free memory back to the system (after a job: its peak is not kept)."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


class Stopped(Exception):
    """The job was stopped before it finished; ``reason`` says why (``cancelled`` or ``deadline``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def should_stop() -> bool:
    """In a worker: whether the running job has been asked to stop (call between pieces of work)."""
    flag, job_id = _state.get("flag"), _state.get("job_id")
    return flag is not None and flag.value == job_id


def worker_streams() -> dict:
    """In a worker: the streams it holds, by stream id (:class:`asrt.packaged.streaming.RecognitionStream`)."""
    return _state.setdefault("streams", {})


def worker_model():
    """In a worker: the loaded :class:`asrt.packaged.recognizer.Recognizer` (or the error that loading raised)."""
    if "error" in _state:
        raise _state["error"]
    return _state["model"]


def _worker_main(conn: Connection, flag, model_dir: str, torch_threads: int) -> None:
    """A worker process: load the model, then run jobs from ``conn`` until it closes."""
    import torch

    from asrt.packaged.recognizer import Recognizer

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the server stops the pool
    bound_heap()
    torch.set_num_threads(torch_threads)
    _state["flag"] = flag
    _state["streams"] = {}
    try:
        _state["model"] = Recognizer(model_dir)
        _state["model"].prepare_streams()
        conn.send((True, str(_state["model"].metadata["model"])))
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        _state["error"] = e
        conn.send((False, e))
    while True:
        try:
            job_id, fn, args = conn.recv()
        except (EOFError, OSError):
            return
        _state["job_id"] = job_id
        try:
            answer = (True, fn(*args))
        except Exception as e:  # noqa: BLE001 - every failure goes back to the server, which decides
            e.add_note("".join(traceback.format_exception(e)))  # the worker's traceback, for the server's log
            answer = (False, e)
        release_freed_memory()
        try:
            conn.send(answer)
        except (pickle.PicklingError, TypeError, AttributeError):  # an answer that cannot travel
            conn.send((False, RuntimeError(f"the worker's answer cannot be sent: {answer[1]!r}"[:500])))


class Job:
    """One piece of work for a worker; ``future`` holds its result. ``cancel()`` withdraws it (the client
    is gone); a job still queued or running at ``deadline`` (``time.monotonic()``) fails with
    :class:`Stopped` ``deadline``."""

    _ids = itertools.count(1)

    def __init__(self, fn: Callable, args: tuple, deadline: float | None, key: Hashable | None = None,
                 batch: Callable | None = None) -> None:
        self.id = next(self._ids)
        self.fn, self.args, self.deadline = fn, args, deadline
        self.key, self.batch = key, batch
        self.future: Future = Future()
        self._cancelled = threading.Event()

    def cancel(self) -> None:
        """Withdraw the job (safe from any thread, at any time, more than once); a queued job lets go of its
        arguments at once (audio, say), though it leaves the queue only when its turn comes."""
        self._cancelled.set()
        self.args = ()

    def seconds_left(self) -> float | None:
        """Seconds until the deadline (None: no deadline)."""
        return None if self.deadline is None else max(0.0, self.deadline - time.monotonic())

    def stop_reason(self) -> str | None:
        """``cancelled``, ``deadline`` or None while the job is still wanted."""
        if self._cancelled.is_set():
            return "cancelled"
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return "deadline"
        return None

    def finish(self, ok: bool, value: Any) -> None:
        """Set the outcome (once)."""
        if self.future.done():
            return
        if ok:
            self.future.set_result(value)
        else:
            self.future.set_exception(value)


class _Batch(Job):
    """Batchable jobs run as one: ``batch(list of their args)`` returns an ``(ok, value)`` for each. It is
    withdrawn only when all of them are; the jobs withdrawn before it starts are left out."""

    def __init__(self, jobs: list[Job]) -> None:
        self.jobs = [j for j in jobs if not j.stop_reason() and j.future.set_running_or_notify_cancel()]
        for j in jobs:
            if j not in self.jobs and j.stop_reason():
                j.finish(False, Stopped(j.stop_reason()))
        super().__init__(jobs[0].batch, ([j.args for j in self.jobs],), None)
        self.future.set_running_or_notify_cancel()

    def stop_reason(self) -> str | None:
        reasons = [j.stop_reason() for j in self.jobs]
        return reasons[0] if reasons and all(reasons) else None

    def finish(self, ok: bool, value: Any) -> None:
        for i, job in enumerate(self.jobs):
            if ok:
                job.finish(*value[i])
            elif isinstance(value, Stopped):
                job.finish(False, Stopped(job.stop_reason() or value.reason))
            else:
                job.finish(False, value)
        super().finish(ok, value)


class _JobQueue:
    """Jobs in order of ``(when it may start, job id)``: one queue any worker takes from, and one per worker
    for the jobs that must run where their state is (a stream's chunks); a worker takes the earliest job of
    the two. ``None`` as a job is a worker's end marker."""

    def __init__(self, workers: int) -> None:
        self._ready = threading.Condition()
        self._shared: list = []
        self._own: list[list] = [[] for _ in range(workers)]

    def put(self, entry: tuple, worker: int | None = None) -> None:
        with self._ready:
            heapq.heappush(self._shared if worker is None else self._own[worker], entry)
            self._ready.notify_all()

    def get(self, worker: int):
        """The next job for ``worker`` (waits for one), with the jobs of its queue that can run in one
        batch with it (:class:`_Batch`)."""
        with self._ready:
            while not (self._shared or self._own[worker]):
                self._ready.wait()
            heads = [q for q in (self._own[worker], self._shared) if q]
            job = heapq.heappop(min(heads, key=lambda q: q[0][:2]))[2]
            if job is None or job.batch is None:
                return job
            mates = self._batch_mates(worker, job)
            return _Batch([job, *mates]) if mates else job

    def _batch_mates(self, worker: int, first: Job) -> list[Job]:
        """Take from ``worker``'s queue the jobs that may run with ``first``: the same ``batch``, another
        key, nothing of their key waiting before them, and their start time come."""
        own, now = self._own[worker], time.monotonic()
        seen, taken = {first.key}, []
        for entry in sorted(own, key=lambda e: e[:2]):
            job = entry[2]
            if job is None or entry[0] > now:
                break
            if job.batch is first.batch and job.key not in seen:
                taken.append(entry)
            seen.add(job.key)
        if taken:
            ids = {e[1] for e in taken}
            own[:] = [e for e in own if e[1] not in ids]
            heapq.heapify(own)
        return [e[2] for e in taken]


class _Worker:
    """A worker process and the server thread that feeds it jobs from the job queue, replacing the
    process when it dies or must be killed."""

    def __init__(self, index: int, jobs: _JobQueue, start: Callable[[Connection, Any], multiprocessing.Process]) -> None:
        self.index = index
        self._jobs = jobs
        self._start = start
        self._flag = multiprocessing.get_context("spawn").Value("q", 0, lock=False)
        self._conn, self._process = self._spawn()
        self.model_name: str | None = None
        self._thread = threading.Thread(target=self._serve, name=f"asrt-worker-{index}", daemon=True)

    def _spawn(self) -> tuple[Connection, multiprocessing.Process]:
        parent, child = multiprocessing.get_context("spawn").Pipe()
        process = self._start(child, self._flag)
        child.close()
        return parent, process

    def wait_ready(self) -> None:
        """Wait until the process has loaded the model; raise what loading raised."""
        try:
            ok, value = self._conn.recv()
        except (EOFError, OSError):
            raise RuntimeError(f"recognition worker {self.index} exited while loading the model") from None
        if not ok:
            raise value
        self.model_name = value

    def run(self, job: Job) -> None:
        """Run ``job`` in the process and set its outcome; stop it if it stops being wanted."""
        if not self._process.is_alive():  # died while idle (killed, out of memory): replace it first
            self._restart()
        self._flag.value = 0
        args = job.args
        if job.stop_reason():  # withdrawn just now
            return job.finish(False, Stopped(job.stop_reason()))
        try:
            self._conn.send((job.id, job.fn, args))
        except (BrokenPipeError, OSError):
            return self._replace(job, RuntimeError("a recognition worker died"))
        asked_at = None
        while True:
            try:
                if self._conn.poll(_POLL_SECONDS):
                    ok, value = self._conn.recv()
                    if isinstance(value, Stopped):  # it stopped as asked; the job knows why it was asked
                        value = Stopped(job.stop_reason() or value.reason)
                    job.finish(ok, value)
                    return
            except (EOFError, OSError):
                return self._replace(job, RuntimeError("a recognition worker died"))
            reason = job.stop_reason()
            if reason and asked_at is None:
                self._flag.value = job.id
                asked_at = time.monotonic()
            elif asked_at is not None and time.monotonic() - asked_at > KILL_AFTER_SECONDS:
                log.warning("Recognition worker %d did not stop within %.0f s; replacing it", self.index,
                            KILL_AFTER_SECONDS)
                return self._replace(job, Stopped(reason))

    def _replace(self, job: Job, error: Exception) -> None:
        """Fail ``job`` with ``error``, then kill the process (if alive) and start a fresh one."""
        job.finish(False, error)
        self._restart()

    def _restart(self) -> None:
        if self._process.is_alive():
            self._process.kill()
        else:
            log.error("A recognition worker died (worker %d, exit status %s); starting a new one", self.index,
                      self._process.exitcode)
        self._process.join()
        self._conn.close()
        self._conn, self._process = self._spawn()
        try:
            self.wait_ready()
        except (FileNotFoundError, ValueError, RuntimeError) as e:  # jobs will answer it; keep serving
            log.error("Recognition worker %d could not load the model again: %s", self.index, e)

    def _serve(self) -> None:
        while (job := self._jobs.get(self.index)) is not None:
            if isinstance(job, _Batch):
                if job.jobs:
                    self.run(job)
                continue
            reason = job.stop_reason()
            if reason:  # withdrawn or expired while it waited: nothing to run
                job.finish(False, Stopped(reason))
            elif job.future.set_running_or_notify_cancel():
                self.run(job)

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        """Wait for the feeder thread (after the queue's end marker), then stop the process."""
        if self._thread.is_alive():
            self._thread.join()
        self._conn.close()
        self._process.join(KILL_AFTER_SECONDS)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()


class WorkerPool:
    """``workers`` model-holding processes, each with ``torch_threads`` torch threads, that run
    :class:`Job`s in order (see :meth:`submit`)."""

    def __init__(self, model_dir: str, workers: int, torch_threads: int) -> None:
        def start(conn: Connection, flag) -> multiprocessing.Process:
            process = multiprocessing.get_context("spawn").Process(
                target=_worker_main, args=(conn, flag, model_dir, torch_threads), daemon=True)
            process.start()
            return process

        self._jobs = _JobQueue(workers)
        self._workers = [_Worker(i, self._jobs, start) for i in range(workers)]
        try:
            for worker in self._workers:  # the processes load the model at the same time
                worker.wait_ready()
        except BaseException:
            self.close()
            raise
        for worker in self._workers:
            worker.start()
        self.model_name = self._workers[0].model_name

    @property
    def size(self) -> int:
        """The number of worker processes."""
        return len(self._workers)

    def submit(self, fn: Callable, *args, deadline: float | None = None, delay: float = 0.0,
               worker: int | None = None, key: Hashable | None = None, batch: Callable | None = None) -> Job:
        """Queue ``fn(*args)`` (a module-level function, run in a worker: worker number ``worker`` when
        given) and return its job. Jobs start in the order of their submission time plus ``delay`` seconds
        (so that costly work can yield to cheap work submitted up to ``delay`` later). A worker's jobs
        with a ``batch`` function and different ``key``s may run together as ``batch([args, ...])``, which
        returns an ``(ok, value)`` for each (see the module's doc)."""
        job = Job(fn, args, deadline, key, batch)
        self._jobs.put((time.monotonic() + delay, job.id, job), worker)
        return job

    def close(self) -> None:
        """Finish the queued jobs, then stop the workers."""
        for worker in self._workers:
            self._jobs.put((math.inf, 0, None), worker.index)  # each feeder thread's end marker, after every job
        for worker in self._workers:
            worker.join()
