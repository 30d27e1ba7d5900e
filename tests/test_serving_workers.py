"""The worker pool's job queue: jobs with a batch function (a stream's chunks) that wait in one worker's
queue run together, one per key, without passing an earlier job of their key; a batch answers each job."""
from __future__ import annotations

import time

import pytest

from asrt.serving.workers import Job, Stopped, _Batch, _JobQueue


def chunk(*args):  # a stream's chunk alone (never called here)
    raise AssertionError


def chunks(items):  # several streams' chunks at once
    return [(True, ("done", *args)) for args in items]


def other(*args):
    raise AssertionError


def _queue(*jobs: Job) -> _JobQueue:
    q = _JobQueue(2)
    for job in jobs:
        q.put((time.monotonic(), job.id, job), worker=0)
    return q


def _stream_job(key: int, fn=chunk, batch=chunks) -> Job:
    return Job(fn, (key,), None, key=key, batch=batch)


def test_chunks_of_different_streams_run_together_and_keep_their_order():
    a1, b_open, b1, a2, c1 = (_stream_job(1), _stream_job(2, other, None), _stream_job(2), _stream_job(1),
                              _stream_job(3))
    q = _queue(a1, b_open, b1, a2, c1)
    first = q.get(0)
    assert isinstance(first, _Batch) and first.jobs == [a1, c1]  # b1 waits for b_open, a2 for a1
    assert first.fn is chunks and first.args == ([(1,), (3,)],)
    assert q.get(0) is b_open
    second = q.get(0)
    assert isinstance(second, _Batch) and second.jobs == [b1, a2]
    first.finish(True, chunks(*first.args))
    assert a1.future.result() == ("done", 1) and c1.future.result() == ("done", 3)


def test_a_chunk_alone_runs_as_itself_and_other_workers_queues_are_left_alone():
    a1, b1 = _stream_job(1), _stream_job(2)
    q = _queue(a1)
    q.put((time.monotonic(), b1.id, b1), worker=1)
    assert q.get(0) is a1
    assert q.get(1) is b1


def test_a_batch_leaves_out_withdrawn_chunks_and_stops_only_when_all_are_withdrawn():
    a1, b1, c1 = _stream_job(1), _stream_job(2), _stream_job(3)
    b1.cancel()
    batch = _queue(a1, b1, c1).get(0)
    assert batch.jobs == [a1, c1]
    with pytest.raises(Stopped):
        b1.future.result(timeout=0)
    a1.cancel()
    assert batch.stop_reason() is None
    c1.cancel()
    assert batch.stop_reason() == "cancelled"
    batch.finish(False, Stopped("cancelled"))
    for job in (a1, c1):
        with pytest.raises(Stopped):
            job.future.result(timeout=0)


def test_a_failed_batch_fails_each_chunk():
    a1, b1 = _stream_job(1), _stream_job(2)
    batch = _queue(a1, b1).get(0)
    batch.finish(False, RuntimeError("a recognition worker died"))
    for job in (a1, b1):
        with pytest.raises(RuntimeError, match="died"):
            job.future.result(timeout=0)
