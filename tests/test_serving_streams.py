"""Streams of the servers with the CI model (a streaming tdnn): the WebSocket route /v1/stream, and the
state a stream holds in its recognition worker, freed when it ends or its client leaves."""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import Server, Utterance
from websockets.exceptions import ConnectionClosedError
from websockets.sync.client import connect

from asrt.config import default_section
from asrt.serving.limits import ServeLimits
from asrt.serving.service import RecognitionService


def ws_url(server: Server) -> str:
    return server.url.replace("http", "ws", 1) + "/v1/stream"


def health(server: Server) -> dict:
    import urllib.request

    with urllib.request.urlopen(server.url + "/health", timeout=30) as r:
        return json.loads(r.read())


def stream(server: Server, pcm: bytes, chunk_bytes: int = 6400) -> list[dict]:
    """Send ``pcm`` in chunks (0.2 s by default) and the end message; every answer."""
    with connect(ws_url(server), open_timeout=30) as ws:
        for i in range(0, len(pcm), chunk_bytes):
            ws.send(pcm[i:i + chunk_bytes])
        ws.send(json.dumps({"type": "end"}))
        return [json.loads(m) for m in ws]


def test_websocket_stream(server: Server, utterances: list[Utterance], streaming_reference: list[dict]) -> None:
    for utt, ref in zip(utterances[:2], streaming_reference):
        answers = stream(server, utt.pcm)
        kinds = [a["type"] for a in answers]
        assert kinds[-2:] == ["final", "done"] and set(kinds[:-2]) == {"partial"} and len(kinds) > 5, kinds
        final = answers[-2]
        assert (final["text"], final["pinyin"]) == (ref["text"], ref["pinyin"])
        assert final["start"] == 0.0 and abs(final["end"] - len(utt.pcm) / 32000) < 0.1
    assert health(server)["streaming"] is True


def test_websocket_stream_without_audio(server: Server) -> None:
    assert stream(server, b"") == [{"type": "final", "text": "", "pinyin": [], "start": 0.0, "end": 0.0},
                                   {"type": "done"}]


@pytest.mark.parametrize("frame, reason", [("hello", "binary frames"), (b"\x00\x01\x02", "multiple")])
def test_websocket_bad_frame_is_an_error(server: Server, frame, reason: str) -> None:
    with connect(ws_url(server), open_timeout=30) as ws:
        ws.send(frame)
        answers = [json.loads(ws.recv())]
        with pytest.raises(ConnectionClosedError):
            ws.recv()
        assert ws.close_code == 1008
    assert len(answers) == 1 and answers[0]["type"] == "error" and reason in answers[0]["message"], answers


def test_websocket_client_that_leaves_frees_its_stream(server: Server, utterances: list[Utterance]) -> None:
    with connect(ws_url(server), open_timeout=30) as ws:
        ws.send(utterances[0].pcm[:32000])
        assert json.loads(ws.recv())["type"] == "partial"
        assert health(server)["streams"] == 1
    deadline = time.monotonic() + 10
    while health(server)["streams"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert health(server)["streams"] == 0


def test_a_closed_stream_frees_its_worker_state(model_dir: Path, utterances: list[Utterance]) -> None:
    limits = ServeLimits.from_config(default_section("serve"), max_streams=2)
    service = RecognitionService(model_dir, workers=1, limits=limits)
    try:
        samples = np.frombuffer(utterances[0].pcm, dtype="<i2").astype(np.float32) / 32768
        handles = [service.open_stream(), service.open_stream()]
        with pytest.raises(ValueError, match="2 streams open"):
            service.open_stream()
        for h in handles:
            assert h.accept(samples[:16000]).future.result(timeout=60)
        assert service.open_streams_in_workers() == [2]
        handles[0].close()  # a client that left mid-way
        results = handles[1].finish().future.result(timeout=60)  # one that finished
        handles[1].close()
        assert results[-1].final and service.open_streams_in_workers() == [0] and service.streams_open == 0
    finally:
        service.close()


def test_segmenter_of_a_model_that_does_not_stream_commits_at_each_pause() -> None:
    """The WebSocket's segments for a model that does not stream: committed 0.5 s into each pause (with the
    silence before speech dropped), partials only while there is speech, the rest at the end."""
    from asrt.serving.stream import StreamSegmenter

    rate = 16000
    t = np.arange(rate) / rate
    speech = lambda seconds: 0.3 * np.sin(2 * np.pi * 220 * t[: int(seconds * rate)])  # noqa: E731
    silence = lambda seconds: np.zeros(int(seconds * rate))  # noqa: E731
    audio = np.concatenate([silence(2.0), speech(1.0), silence(1.0), speech(0.6), silence(0.2)]).astype(np.float32)
    heard = []
    segmenter = StreamSegmenter(lambda s: heard.append(len(s)) or len(s) / rate, partial_every_seconds=0.25,
                                endpoint_silence_seconds=0.5)
    results = [r for k in range(0, len(audio), 1600) for r in segmenter.feed(audio[k:k + 1600])]
    results.append(segmenter.finish())
    finals = [(round(r.start, 2), round(r.end, 2)) for r in results if r.final]
    # Each starts 0.3-0.6 s before its speech (what is kept of the silence before it) and ends 0.25 s after it.
    assert finals == [(1.6, 3.25), (3.6, 4.8)], finals
    partials = [r for r in results if not r.final]
    assert partials and {r.start for r in partials} == {1.6, 3.6}
    assert max(heard) <= 2.0 * rate  # the 2 s of silence before speech was never recognised
