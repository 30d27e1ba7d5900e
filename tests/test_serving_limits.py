"""``asrt serve`` against a hostile client, over HTTP and gRPC: requests over the limits are refused before
any work, work nobody waits for is stopped, idle and slow connections are closed, very short audio is an
ordinary request, and errors are hygienic. After each abuse, a good request must answer quickly."""
from __future__ import annotations

import base64
import io
import json
import logging
import queue
import re
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import grpc
import numpy as np
import pytest
import soundfile as sf
from conftest import Server, Utterance, start_server

from asrt.config import load_config
from asrt.serving.grpc_server import AsrtServicer
from asrt.serving.limits import ServeLimits
from asrt.serving.proto import Stub, messages

MAX_SYLLABLES = 300
MAX_AUDIO_SECONDS = 400
REQUEST_SECONDS = 30
MAX_STREAMS = 4
IDLE_SECONDS = 3
HEADER_SECONDS = BODY_SECONDS = 2
QUICK = 5.0  # seconds within which a good request must answer after any abuse (it takes well under 1 s)


@pytest.fixture(scope="module")
def limited(model_dir: Path, tmp_path_factory) -> Server:
    """A server with small limits, started for this module."""
    server = start_server(model_dir, tmp_path_factory.mktemp("limits") / "serve.log",
                          "--max-syllables", str(MAX_SYLLABLES), "--max-audio-seconds", str(MAX_AUDIO_SECONDS),
                          "--request-seconds", str(REQUEST_SECONDS), "--max-streams", str(MAX_STREAMS),
                          "--stream-idle-seconds", str(IDLE_SECONDS), "--header-seconds", str(HEADER_SECONDS),
                          "--body-seconds", str(BODY_SECONDS))
    yield server
    if server.proc.poll() is None:
        server.stop()


@pytest.fixture(scope="module")
def stub(limited: Server):
    with grpc.insecure_channel(f"127.0.0.1:{limited.grpc_port}") as channel:
        yield Stub(channel)


def post(server: Server, path: str, body: bytes, timeout: float = 120) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(server.url + path, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def pcm_body(pcm: bytes, rate: int = 16000, channels: int = 1, width: int = 2) -> bytes:
    return json.dumps({"samples": base64.b64encode(pcm).decode(), "sample_rate": rate, "channels": channels,
                       "byte_width": width}).encode()


def wav(pcm: bytes, rate: int = 16000, channels: int = 1, width: int = 2):
    return messages.SpeechRequest(wav_data=messages.WavData(samples=pcm, sample_rate=rate, channels=channels,
                                                            byte_width=width))


def noise(seconds: float) -> bytes:
    """Loud noise as int16 PCM: the slowest audio to recognise (every frame has many candidates)."""
    return (np.random.default_rng(0).standard_normal(int(seconds * 16000)) * 4000).astype("<i2").tobytes()


def answer(response: tuple[int, dict, bytes]) -> dict:
    status, headers, body = response
    assert status == 200 and headers["content-type"] == "application/json", response
    return json.loads(body)


def assert_good_requests_are_quick(server: Server, stub, utterance: Utterance, reference: dict) -> None:
    """A good request over each protocol answers correctly within ``QUICK`` seconds."""
    start = time.monotonic()
    assert answer(post(server, "/all", pcm_body(utterance.pcm), timeout=QUICK))["result"] == reference["text"]
    r = stub.All(wav(utterance.pcm), timeout=QUICK)
    assert (r.status_code, r.text_result) == (200000, reference["text"])
    assert time.monotonic() - start < QUICK


def test_limits_come_from_the_config_then_the_options() -> None:
    section = load_config()["serve"]
    limits = ServeLimits.from_config(section, max_syllables=5, request_seconds=None)
    assert limits.max_syllables == 5 and limits.request_seconds == section["request_seconds"]
    assert limits.max_body_bytes == section["max_body_mb"] << 20
    for name, bad in [("max_syllables", 0), ("max_streams", True), ("header_seconds", "10")]:
        with pytest.raises(ValueError, match=f"{name} must be a positive number"):
            ServeLimits.from_config({**section, name: bad})
    with pytest.raises(ValueError, match="unknown serve limit.*max_speed"):
        ServeLimits.from_config({**section, "max_speed": 1})


def test_too_many_syllables_are_refused_at_once(limited: Server, stub, utterances: list[Utterance],
                                                reference: list[dict]) -> None:
    pinyin = ["ni3", "hao3"] * 5000
    start = time.monotonic()
    message = answer(post(limited, "/language", json.dumps({"sequence_pinyin": pinyin}).encode()))
    assert message["status_code"] == 500000 and f"limit of {MAX_SYLLABLES}" in message["status_message"]
    r = stub.Language(messages.LanguageRequest(pinyins=pinyin), timeout=60)
    assert r.status_code == 500000 and f"limit of {MAX_SYLLABLES}" in r.status_message
    assert time.monotonic() - start < QUICK
    r = stub.Language(messages.LanguageRequest(pinyins=["ni3", "hao3"] * (MAX_SYLLABLES // 2)), timeout=QUICK)
    assert r.status_code == 200000 and r.text_result
    assert_good_requests_are_quick(limited, stub, utterances[0], reference[0])


def test_too_long_audio_is_refused_at_once(limited: Server, stub, utterances: list[Utterance],
                                           reference: list[dict]) -> None:
    pcm = bytes(2 * 16000 * (MAX_AUDIO_SECONDS + 1))
    start = time.monotonic()
    message = answer(post(limited, "/all", pcm_body(pcm)))
    assert message["status_code"] == 500000 and f"limit of {MAX_AUDIO_SECONDS} s" in message["status_message"]
    r = stub.All(wav(pcm), timeout=60)
    assert r.status_code == 500000 and f"limit of {MAX_AUDIO_SECONDS} s" in r.status_message
    upload = io.BytesIO()
    sf.write(upload, np.zeros(16000 * (MAX_AUDIO_SECONDS + 1), np.int16), 16000, format="WAV")
    status, _, body = upload_file(limited, upload.getvalue())
    assert status == 413 and f"limit of {MAX_AUDIO_SECONDS} s" in json.loads(body)["detail"]
    assert time.monotonic() - start < 3 * QUICK  # the time to send 3 x 13 MB, not to recognise them
    assert_good_requests_are_quick(limited, stub, utterances[0], reference[0])


def upload_file(server: Server, data: bytes) -> tuple[int, dict, bytes]:
    boundary = "asrt-test-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n"
            f"Content-Type: audio/wav\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(server.url + "/v1/recognize", data=body,
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(request, timeout=120) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_abandoned_work_is_stopped(limited: Server, stub, utterances: list[Utterance], reference: list[dict]) -> None:
    """Four long recognitions whose clients leave after 0.5 s (HTTP: the connection closed; gRPC: the
    call's deadline) must not delay the next good request."""
    pcm = noise(MAX_AUDIO_SECONDS - 10)
    body = pcm_body(pcm)
    head = b"POST /all HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
    for _ in range(4):
        with socket.create_connection(("127.0.0.1", limited.http_port)) as s:
            s.sendall(head % len(body) + body)
            time.sleep(0.5)
    assert_good_requests_are_quick(limited, stub, utterances[0], reference[0])
    for _ in range(4):
        with pytest.raises(grpc.RpcError) as info:
            stub.All(wav(pcm), timeout=0.5)
        assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert_good_requests_are_quick(limited, stub, utterances[0], reference[0])
    for line in ("POST /all: the client left", "gRPC All: the client left"):
        wait_for_log(limited, line, 4)


def wait_for_log(server: Server, pattern: str, count: int) -> None:
    """Wait (up to ``QUICK`` s) until the server's log matches ``pattern`` (a regular expression) ``count``
    times."""
    deadline = time.monotonic() + QUICK
    while len(re.findall(pattern, log := server.log.read_text())) < count:
        assert time.monotonic() < deadline, f"{pattern!r} not {count} times in the log:\n{log[-3000:]}"
        time.sleep(0.1)
    assert len(re.findall(pattern, log)) == count, log[-3000:]


def idle_stream(stub) -> tuple[queue.Queue, object]:
    """A Stream call whose client sends only what is put in the returned queue (None ends it)."""
    requests: queue.Queue = queue.Queue()
    return requests, stub.Stream(iter(requests.get, None), timeout=120)


def test_idle_streams_are_bounded_and_closed(limited: Server, stub, utterances: list[Utterance],
                                             reference: list[dict], streaming_reference: list[dict]) -> None:
    calls = [idle_stream(stub) for _ in range(MAX_STREAMS + 2)]
    start = time.monotonic()
    refused = 0
    for _, call in calls:  # the calls over the limit are answered at once; the others after the idle time
        r = next(call)
        assert r.status_code == 500000, r
        refused += "streams open" in r.status_message
        if "streams open" not in r.status_message:
            assert f"Nothing was received for {IDLE_SECONDS} s" in r.status_message
            assert IDLE_SECONDS - 0.5 < time.monotonic() - start < IDLE_SECONDS + QUICK
    assert refused == 2
    # While streams are open, unary calls still have threads; after they closed, streams work again.
    assert_good_requests_are_quick(limited, stub, utterances[0], reference[0])
    answers = list(stub.Stream(iter([wav(utterances[0].pcm)]), timeout=60))
    assert answers[-1].status_code == 200000 and answers[-1].text_result == streaming_reference[0]["text"]


def test_cancelled_stream_is_an_ordinary_end(limited: Server, stub, utterances: list[Utterance]) -> None:
    requests, call = idle_stream(stub)
    requests.put(wav(utterances[0].pcm))
    assert next(call).status_code == 206000
    call.cancel()
    # Whichever the server notices first: the ended call's withdrawn work, or the request stream's end.
    wait_for_log(limited, r"gRPC Stream: the client (left; its work was withdrawn|cancelled it)", 1)
    log = limited.log.read_text()
    assert "Traceback" not in log and "ERROR" not in log, log[-3000:]


def test_a_stream_grpc_gave_up_on_is_an_ordinary_end(caplog) -> None:
    """gRPC stops asking a Stream for answers once one could not be sent (the client left between two
    answers) and drops it; that end is logged as the client's, like the other two."""
    class Cancelled:  # the context of a call the client cancelled
        def is_active(self) -> bool:
            return False

    servicer = AsrtServicer(SimpleNamespace(limits=None))  # only a failing stream reads its limits
    answers = servicer._answered(iter(["partial", "final"]), Cancelled())
    assert next(answers) == "partial"
    with caplog.at_level(logging.INFO, logger="asrt.serving.grpc_server"):
        answers.close()
    assert "gRPC Stream: the client cancelled it" in caplog.text


def test_slow_http_clients_are_closed(limited: Server, stub, utterances: list[Utterance],
                                      reference: list[dict]) -> None:
    silent = socket.create_connection(("127.0.0.1", limited.http_port))  # sends nothing at all
    half = socket.create_connection(("127.0.0.1", limited.http_port))  # headers, then a trickle of body
    half.sendall(b"POST /all HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
    modern = socket.create_connection(("127.0.0.1", limited.http_port))
    modern.sendall(b"POST /v1/recognize HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n--")
    start = time.monotonic()
    assert_good_requests_are_quick(limited, stub, utterances[0], reference[0])
    for s in (silent, half, modern):
        s.settimeout(HEADER_SECONDS + QUICK)
    assert silent.recv(100) == b""  # closed without an answer
    assert HEADER_SECONDS - 0.5 < time.monotonic() - start < HEADER_SECONDS + QUICK
    response = b"".join(iter(lambda: half.recv(65536), b""))
    assert response.startswith(b"HTTP/1.1 200") and b"500000" in response and b"did not arrive" in response
    response = b"".join(iter(lambda: modern.recv(65536), b""))
    assert response.startswith(b"HTTP/1.1 408") and b"did not arrive" in response
    for s in (silent, half, modern):
        s.close()


def test_very_short_audio_recognises_to_nothing(limited: Server, stub) -> None:
    for pcm, channels in [(b"\x01\x00", 1), (bytes(2 * 120), 1), (bytes(136000), 1000)]:
        for route, empty in [("/speech", []), ("/all", "")]:
            assert answer(post(limited, route, pcm_body(pcm, channels=channels))) == {
                "result": empty, "status_code": 200000, "status_message": route[1:] + " level"}
        r = stub.Speech(wav(pcm, channels=channels), timeout=QUICK)
        assert (r.status_code, list(r.result_data)) == (200000, [])
        r = stub.All(wav(pcm, channels=channels), timeout=QUICK)
        assert (r.status_code, r.text_result) == (200000, "")
    upload = io.BytesIO()
    sf.write(upload, np.ones(8, np.int16), 16000, format="WAV")
    status, _, body = upload_file(limited, upload.getvalue())
    assert status == 200 and json.loads(body) == {"text": "", "pinyin": [], "duration": 0.001}


def test_unknown_syllables_message_is_short_and_hides_paths(limited: Server, stub, model_dir: Path) -> None:
    bad = ["ni3", "x" * 10000, "\x00", "a\nb", "qq7", "zz9"]
    message = answer(post(limited, "/language", json.dumps({"sequence_pinyin": bad}).encode()))["status_message"]
    r = stub.Language(messages.LanguageRequest(pinyins=bad), timeout=QUICK)
    assert r.status_code == 500000 and r.status_message == message
    assert str(model_dir) not in message and "tokens.txt" not in message
    assert len(message) < 200 and "\x00" not in message and "\n" not in message
    assert "'xxxxxxxxxxxx...'" in message and "and 2 more" in message, message


@pytest.mark.parametrize("value", ['"16000"', "16000.0", "true"])
def test_integers_must_be_integers(limited: Server, value: str) -> None:
    body = b'{"samples": "AAAA", "sample_rate": %s, "channels": 1, "byte_width": 2}' % value.encode()
    message = answer(post(limited, "/all", body))
    assert message["status_code"] == 500000 and "sample_rate" in message["status_message"], message


@pytest.mark.parametrize("path", ["/", "/health", "/openapi.json", "/docs"])
def test_head_on_every_get_route(limited: Server, path: str) -> None:
    with urllib.request.urlopen(urllib.request.Request(limited.url + path, method="HEAD"), timeout=QUICK) as r:
        assert r.status == 200 and r.read() == b""
        assert int(r.headers["content-length"]) > 0


@pytest.mark.parametrize("method", ["OPTIONS", "TRACE"])
def test_other_methods_get_asrt_answers(limited: Server, method: str) -> None:
    with urllib.request.urlopen(urllib.request.Request(limited.url + "/all", method=method), timeout=QUICK) as r:
        assert r.headers["content-type"] == "application/json"
        assert json.loads(r.read())["status_code"] == 400000


def test_server_deadline(model_dir: Path, tmp_path: Path, utterances: list[Utterance],
                         reference: list[dict]) -> None:
    """A request still unfinished at --request-seconds fails with a message saying so (503 on /v1/), and the
    work is stopped."""
    server = start_server(model_dir, tmp_path / "serve.log", "--request-seconds", "1")
    try:
        pcm = noise(590)
        start = time.monotonic()
        message = answer(post(server, "/all", pcm_body(pcm)))
        assert message["status_code"] == 500000 and "limit of 1 s" in message["status_message"], message
        upload = io.BytesIO()
        sf.write(upload, np.frombuffer(pcm, np.int16), 16000, format="WAV")
        status, _, body = upload_file(server, upload.getvalue())
        assert status == 503 and "limit of 1 s" in json.loads(body)["detail"]
        assert time.monotonic() - start < 2 * QUICK
        with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
            r = Stub(channel).All(wav(pcm), timeout=60)
        assert r.status_code == 500000 and "limit of 1 s" in r.status_message
        wait_until_answering(server)  # the stopped jobs gave their workers back (on a busy machine: seconds)
        assert answer(post(server, "/all", pcm_body(utterances[0].pcm), timeout=QUICK))["result"] == reference[0]["text"]
    finally:
        server.stop()


def wait_until_answering(server: Server, within: float = 30.0) -> None:
    """Wait until a request for 0.5 s of silence answers within the server's deadline: every worker that
    was stopping (or being replaced) is back. Fails after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        message = answer(post(server, "/all", pcm_body(bytes(16000)), timeout=within))
        if message["status_code"] == 200000:
            return
        assert time.monotonic() < deadline, f"the server still fails requests after {within:g} s: {message}"
        time.sleep(0.2)


def test_a_websocket_stream_outlives_the_header_limit(limited: Server, utterances: list[Utterance]) -> None:
    """--header-seconds bounds HTTP requests' headers, not a WebSocket that lasts longer (it once closed it)."""
    from websockets.sync.client import connect

    pcm = utterances[0].pcm
    with connect(limited.url.replace("http", "ws", 1) + "/v1/stream", open_timeout=30) as ws:
        for k in range(0, 6400 * 8, 6400):  # 1.6 s of audio over 2.4 s, past HEADER_SECONDS
            ws.send(pcm[k:k + 6400])
            time.sleep(HEADER_SECONDS * 1.2 / 8)
        ws.send(json.dumps({"type": "end"}))
        answers = [json.loads(m) for m in ws]
    assert answers[-1] == {"type": "done"} and answers[-2]["type"] == "final", answers
