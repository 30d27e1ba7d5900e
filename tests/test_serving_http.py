"""The HTTP server (``asrt serve``) with the CI model: ASRT's routes byte for byte, audio formats beyond
ASRT's, bad input answered in ASRT's form, the /v1 routes and concurrent requests."""
from __future__ import annotations

import base64
import io
import json
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import Server, Utterance

from asrt.decode.search import PinyinDecoder


def post(server: Server, path: str, body: bytes, content_type: str = "application/json") -> tuple[int, dict, bytes]:
    """POST ``body``; return the HTTP status, the headers and the raw response body."""
    request = urllib.request.Request(server.url + path, data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=120) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def get(server: Server, path: str) -> tuple[int, dict, bytes]:
    with urllib.request.urlopen(server.url + path, timeout=60) as r:
        return r.status, dict(r.headers), r.read()


def pcm_body(pcm: bytes, rate: int = 16000, channels: int = 1, width: int = 2, encode=base64.urlsafe_b64encode) -> bytes:
    return json.dumps({"samples": encode(pcm).decode(), "sample_rate": rate, "channels": channels,
                       "byte_width": width}).encode()


def asrt_answer(result, status_code: int, message: str) -> bytes:
    """ASRT's serialisation (Python json.dumps with sorted keys), written out."""
    return ('{"result": ' + json.dumps(result) + f', "status_code": {status_code}, "status_message": '
            + json.dumps(message) + "}").encode()


def assert_failed(response: tuple[int, dict, bytes], *words: str) -> None:
    """HTTP 200 + status_code 500000, an empty result and a message that names ``words``."""
    status, headers, body = response
    assert status == 200 and headers["content-type"] == "application/json", response
    answer = json.loads(body)
    assert answer["status_code"] == 500000 and answer["result"] == "", answer
    for word in words:
        assert word in answer["status_message"], answer


def test_get_root_is_an_html_page(server: Server) -> None:
    status, headers, body = get(server, "/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert b"<html" in body and b"/speech" in body


def test_post_root_is_ok(server: Server) -> None:
    status, headers, body = post(server, "/", b"")
    assert status == 200 and headers["content-type"] == "application/json"
    assert body == b'{"result": "", "status_code": 200000, "status_message": "ok"}'


@pytest.mark.parametrize("encode", [base64.urlsafe_b64encode, base64.standard_b64encode,
                                    lambda b: base64.standard_b64encode(b).rstrip(b"=")],
                         ids=["url-safe", "standard", "standard-unpadded"])
def test_speech_and_all_answer_what_the_recognizer_does(server: Server, utterances: list[Utterance],
                                                         reference: list[dict], encode) -> None:
    for utt, ref in zip(utterances[:2], reference):
        body = pcm_body(utt.pcm, encode=encode)
        status, headers, answer = post(server, "/speech", body)
        assert (status, headers["content-type"]) == (200, "application/json")
        assert answer == asrt_answer(ref["pinyin"], 200000, "speech level")
        status, _, answer = post(server, "/all", body)
        assert status == 200 and answer == asrt_answer(ref["text"], 200000, "all level")
    # The encodings differ where the alphabets do, so each really was decoded.
    assert b"-" in base64.urlsafe_b64encode(utterances[0].pcm) and b"+" in base64.standard_b64encode(utterances[0].pcm)


def test_formats_beyond_asrt(server: Server, utterances: list[Utterance], reference: list[dict]) -> None:
    mono = np.frombuffer(utterances[0].pcm, dtype="<i2")
    expected = asrt_answer(reference[0]["pinyin"], 200000, "speech level")
    # Two identical channels down-mix to the mono signal; int32 holds the same values exactly.
    stereo = np.repeat(mono, 2).astype("<i2").tobytes()
    assert post(server, "/speech", pcm_body(stereo, channels=2))[2] == expected
    int32 = (mono.astype("<i4") << 16).tobytes()
    assert post(server, "/speech", pcm_body(int32, width=4))[2] == expected
    # Other rates and 8-bit are resampled or requantised: they must be recognised, not equal.
    uint8 = ((mono.astype(np.int32) >> 8) + 128).astype("u1").tobytes()
    at_8k = mono[::2].astype("<i2").tobytes()
    for body in (pcm_body(uint8, width=1), pcm_body(at_8k, rate=8000)):
        answer = json.loads(post(server, "/speech", body)[2])
        assert answer["status_code"] == 200000 and len(answer["result"]) > 0, answer


def test_long_audio_is_recognised_throughout(server: Server, utterances: list[Utterance], reference: list[dict]) -> None:
    # About 35 s at 8 kHz: longer than ASRT's 16 s limit and than one 20 s recognition piece.
    pause = np.zeros(4000, dtype="<i2")
    pieces = [np.frombuffer(u.pcm, dtype="<i2")[::2] for u in utterances] * 2
    pcm = np.concatenate([x for p in pieces for x in (p, pause)]).astype("<i2")
    assert len(pcm) / 8000 > 30
    answer = json.loads(post(server, "/speech", pcm_body(pcm.tobytes(), rate=8000))[2])
    assert answer["status_code"] == 200000, answer
    assert len(answer["result"]) > 0.5 * 2 * sum(len(r["pinyin"]) for r in reference)


def test_language(server: Server) -> None:
    body = json.dumps({"sequence_pinyin": ["zhong1", "guo2", "ren2", "min2"]}).encode()
    status, headers, answer = post(server, "/language", body)
    assert (status, headers["content-type"]) == (200, "application/json")
    assert answer == b'{"result": "\\u4e2d\\u56fd\\u4eba\\u6c11", "status_code": 200000, "status_message": "language level"}'
    assert json.loads(answer)["result"] == "中国人民"
    assert post(server, "/language", b'{"sequence_pinyin": []}')[2] == asrt_answer("", 200000, "language level")


def test_language_is_the_word_lm_pinyin_graph(server: Server, model_dir: Path, reference: list[dict]) -> None:
    """/language answers what the packaged model's LG_pinyin.fst search (asrt p2h) answers."""
    p2h = PinyinDecoder.from_dir(model_dir, json.loads((model_dir / "metadata.json").read_text())["decode"])
    assert (model_dir / "LG_pinyin.fst").is_file() and (model_dir / "lexiconp.txt").is_file()
    for ref in reference:
        body = json.dumps({"sequence_pinyin": ref["pinyin"]}).encode()
        assert json.loads(post(server, "/language", body)[2])["result"] == p2h.pinyin_to_text(ref["pinyin"])


@pytest.mark.parametrize("method,path", [("POST", "/foo"), ("POST", "/speech/extra"), ("GET", "/nothing/here"),
                                         ("GET", "/speech")])
def test_unknown_route(server: Server, method: str, path: str) -> None:
    request = urllib.request.Request(server.url + path, data=b"{}" if method == "POST" else None, method=method)
    with urllib.request.urlopen(request, timeout=60) as r:
        status, content_type, answer = r.status, r.headers["content-type"], json.loads(r.read())
    assert (status, content_type) == (200, "application/json")
    assert answer["status_code"] == 400000 and answer["result"] == "" and path in answer["status_message"]


GOOD = {"samples": base64.urlsafe_b64encode(b"\x01\x00" * 8000).decode(), "sample_rate": 16000, "channels": 1,
        "byte_width": 2}
BAD_PCM_BODIES = {
    "malformed JSON": (b'{"samples": "AAAA", "sample_rate": 16000', ["JSON"]),
    "not an object": (b'[1, 2, 3]', ["object"]),
    **{f"missing {field}": (json.dumps({k: v for k, v in GOOD.items() if k != field}).encode(), [field])
       for field in GOOD},
    "sample_rate not a number": (json.dumps({**GOOD, "sample_rate": "fast"}).encode(), ["sample_rate"]),
    "invalid base64": (json.dumps({**GOOD, "samples": "AAA*AAAA"}).encode(), ["base64"]),
    "base64 of impossible length": (json.dumps({**GOOD, "samples": "AAAAA"}).encode(), ["base64"]),
    "odd byte count": (json.dumps({**GOOD, "samples": base64.urlsafe_b64encode(b"\x00" * 3).decode()}).encode(),
                       ["multiple", "whole frames"]),
    "byte_width 3": (json.dumps({**GOOD, "byte_width": 3}).encode(), ["byte_width 3", "not supported"]),
    "byte_width 0": (json.dumps({**GOOD, "byte_width": 0}).encode(), ["byte_width 0"]),
    "empty audio": (json.dumps({**GOOD, "samples": ""}).encode(), ["empty"]),
    "zero channels": (json.dumps({**GOOD, "channels": 0}).encode(), ["channels"]),
    "sample_rate 0": (json.dumps({**GOOD, "sample_rate": 0}).encode(), ["sample_rate 0", "out of range"]),
    "negative sample_rate": (json.dumps({**GOOD, "sample_rate": -16000}).encode(), ["out of range"]),
    "absurd sample_rate": (json.dumps({**GOOD, "sample_rate": 10**12}).encode(), ["out of range"]),
}


@pytest.mark.parametrize("route", ["/speech", "/all"])
@pytest.mark.parametrize("case", list(BAD_PCM_BODIES))
def test_bad_audio_requests_get_asrt_errors(server: Server, route: str, case: str) -> None:
    body, words = BAD_PCM_BODIES[case]
    assert_failed(post(server, route, body), *words)


@pytest.mark.parametrize("body,words", [
    (b"not json", ["JSON"]),
    (b"{}", ["sequence_pinyin"]),
    (b'{"sequence_pinyin": "ni3 hao3"}', ["sequence_pinyin"]),
    (b'{"sequence_pinyin": ["ni3", "xx9"]}', ["xx9"]),
], ids=["malformed", "missing", "not-a-list", "unknown-syllable"])
def test_bad_language_requests_get_asrt_errors(server: Server, body: bytes, words: list[str]) -> None:
    assert_failed(post(server, "/language", body), *words)


def test_body_over_the_limit(server: Server, utterances: list[Utterance], reference: list[dict]) -> None:
    big = json.dumps({**GOOD, "samples": "A" * (2 << 20)}).encode()  # the server's limit is 2 MiB
    assert_failed(post(server, "/all", big), "limit")
    status, _, answer = post(server, "/v1/recognize", *multipart("big.wav", b"\0" * (2 << 20)))
    assert status == 413 and "limit" in json.loads(answer)["detail"]
    # Nothing above harmed the server.
    assert post(server, "/all", pcm_body(utterances[0].pcm))[2] == asrt_answer(reference[0]["text"], 200000, "all level")


def multipart(name: str, data: bytes) -> tuple[bytes, str]:
    """A multipart/form-data body with one file field ``file``; returns (body, content type)."""
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def test_v1_recognize(server: Server, utterances: list[Utterance], reference: list[dict]) -> None:
    status, headers, answer = post(server, "/v1/recognize", *multipart("a.flac", utterances[0].path.read_bytes()))
    assert (status, headers["content-type"]) == (200, "application/json")
    ref = reference[0]
    assert json.loads(answer) == {"text": ref["text"], "pinyin": ref["pinyin"], "duration": ref["duration"]}
    # A 44.1 kHz stereo 24-bit WAV: recognised.
    mono, _ = sf.read(utterances[1].path, dtype="float32")
    wav = io.BytesIO()
    sf.write(wav, np.stack([mono, mono], axis=1)[np.arange(int(len(mono) * 44100 / 16000)) * 16000 // 44100],
             44100, subtype="PCM_24", format="WAV")
    status, _, answer = post(server, "/v1/recognize", *multipart("b.wav", wav.getvalue()))
    assert status == 200 and json.loads(answer)["pinyin"], answer


@pytest.mark.parametrize("data,words", [(b"not audio at all", ["junk.wav", "Cannot decode"]),
                                        (b"", ["empty"])], ids=["garbage", "empty"])
def test_v1_recognize_bad_upload(server: Server, data: bytes, words: list[str]) -> None:
    status, _, answer = post(server, "/v1/recognize", *multipart("junk.wav", data))
    assert status == 400, answer
    assert all(w in json.loads(answer)["detail"] for w in words), answer


def test_v1_recognize_without_a_file(server: Server) -> None:
    status, _, answer = post(server, "/v1/recognize", b"", "multipart/form-data; boundary=x")
    assert status in (400, 422), answer


def test_health_and_openapi(server: Server) -> None:
    status, _, body = get(server, "/health")
    assert status == 200 and json.loads(body) == {"status": "ok", "model": "tdnn", "streaming": True, "streams": 0}
    spec = json.loads(get(server, "/openapi.json")[2])
    assert {"/", "/speech", "/all", "/language", "/v1/recognize", "/health"} <= set(spec["paths"])
    speech_body = spec["paths"]["/speech"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert set(speech_body["required"]) == {"samples", "sample_rate", "channels", "byte_width"}


def test_concurrent_requests(server: Server, utterances: list[Utterance], reference: list[dict]) -> None:
    jobs = [i % len(utterances) for i in range(16)]
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda i: post(server, "/all", pcm_body(utterances[i].pcm))[2], jobs))
    assert answers == [asrt_answer(reference[i]["text"], 200000, "all level") for i in jobs]
