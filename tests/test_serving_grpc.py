"""The gRPC server (``asrt serve``) with the CI model: ASRT's four methods, Stream's 206000/200000
sequence, and bad input answered with status 500000."""
from __future__ import annotations

import json
from pathlib import Path

import grpc
import numpy as np
import pytest
from conftest import Server, Utterance

from asrt.decode.search import PinyinDecoder
from asrt.serving.proto import Stub, messages


@pytest.fixture(scope="module")
def stub(server: Server):
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        yield Stub(channel)


def wav(pcm: bytes, rate: int = 16000, channels: int = 1, width: int = 2):
    return messages.SpeechRequest(wav_data=messages.WavData(samples=pcm, sample_rate=rate, channels=channels,
                                                            byte_width=width))


def chunks(pcm: bytes, seconds: float) -> list:
    """SpeechRequests of ``pcm`` in about ``seconds`` each (none shorter)."""
    samples = np.frombuffer(pcm, dtype="<i2")
    return [wav(c.tobytes()) for c in np.array_split(samples, max(1, int(len(samples) / 16000 / seconds)))]


def test_speech_all_language(stub, utterances: list[Utterance], reference: list[dict]) -> None:
    for utt, ref in zip(utterances[:2], reference):
        r = stub.Speech(wav(utt.pcm), timeout=60)
        assert (r.status_code, r.status_message, list(r.result_data)) == (200000, "", ref["pinyin"])
        r = stub.All(wav(utt.pcm), timeout=60)
        assert (r.status_code, r.status_message, r.text_result) == (200000, "", ref["text"])
    r = stub.Language(messages.LanguageRequest(pinyins=["zhong1", "guo2", "ren2", "min2"]), timeout=60)
    assert (r.status_code, r.text_result) == (200000, "中国人民")


def test_language_is_the_word_lm_pinyin_graph(stub, model_dir: Path, reference: list[dict]) -> None:
    """Language answers what the packaged model's LG_pinyin.fst search (asrt p2h) answers."""
    p2h = PinyinDecoder.from_dir(model_dir, json.loads((model_dir / "metadata.json").read_text())["decode"])
    for ref in reference:
        r = stub.Language(messages.LanguageRequest(pinyins=ref["pinyin"]), timeout=60)
        assert (r.status_code, r.text_result) == (200000, p2h.pinyin_to_text(ref["pinyin"]))


def test_stream_of_one_utterance(stub, utterances: list[Utterance], streaming_reference: list[dict]) -> None:
    """The CI model streams: partial results as chunks arrive, then the committed text, which is what
    ``asrt recognize --streaming`` gives (the stream's results do not depend on the chunk size)."""
    sent = chunks(utterances[0].pcm, 0.5)
    answers = [(r.status_code, r.text_result) for r in stub.Stream(iter(sent), timeout=60)]
    codes = [code for code, _ in answers]
    assert codes[-1] == 200000 and set(codes[:-1]) == {206000} and len(codes) >= len(sent) - 1, answers
    assert answers[-1][1] == streaming_reference[0]["text"]
    assert answers[-2][1] and streaming_reference[0]["text"].startswith(answers[-2][1][:1])


def test_stream_commits_segments_at_endpoints(stub, utterances: list[Utterance], streaming_reference) -> None:
    """Pauses of 2 s end segments (endpoint rule 2: 1.2 s of silence after speech): each utterance is
    committed (200000) as the stream goes on, and their texts are the utterances' own."""
    pause = bytes(64000)  # 2 s
    pcm = b"".join(u.pcm + pause for u in utterances)
    answers = [(r.status_code, r.text_result) for r in stub.Stream(iter(chunks(pcm, 0.4)), timeout=120)]
    committed = [text for code, text in answers if code == 200000 and text]
    first_commit = [code for code, _ in answers].index(200000)
    assert 206000 in [code for code, _ in answers[first_commit:]], answers  # the stream went on after it
    assert answers[-1][0] == 200000 and len(committed) == len(utterances), answers
    # The first utterance starts the stream as it starts alone (later ones hear the one before).
    assert committed[0] == streaming_reference[0]["text"], answers


def test_stream_without_audio(stub) -> None:
    answers = [(r.status_code, r.text_result) for r in stub.Stream(iter([]), timeout=60)]
    assert answers == [(200000, "")]


def test_stream_bad_chunk_ends_it_with_an_error(stub, utterances: list[Utterance]) -> None:
    sent = [*chunks(utterances[0].pcm[:64000], 1.0), wav(b"\x00" * 3)]
    answers = list(stub.Stream(iter(sent), timeout=60))
    assert [r.status_code for r in answers] == [206000, 206000, 500000]
    assert "multiple" in answers[-1].status_message


BAD_REQUESTS = {
    "no wav_data": (messages.SpeechRequest(), "wav_data"),
    "odd byte count": (wav(b"\x00" * 3), "multiple"),
    "byte_width 3": (wav(b"\x00" * 6, width=3), "byte_width 3"),
    "byte_width 0": (wav(b"\x00" * 6, width=0), "byte_width 0"),
    "empty audio": (wav(b""), "empty"),
    "zero channels": (wav(b"\x00" * 4, channels=0), "channels"),
    "sample_rate 0": (wav(b"\x00" * 4, rate=0), "out of range"),
    "negative sample_rate": (wav(b"\x00" * 4, rate=-8000), "out of range"),
    "absurd sample_rate": (wav(b"\x00" * 4, rate=2**31 - 1), "out of range"),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
@pytest.mark.parametrize("method", ["Speech", "All"])
def test_bad_requests_get_status_500000(stub, method: str, case: str) -> None:
    request, word = BAD_REQUESTS[case]
    r = getattr(stub, method)(request, timeout=60)
    assert r.status_code == 500000 and word in r.status_message, r
    assert not (r.result_data if method == "Speech" else r.text_result)


def test_unknown_pinyin(stub) -> None:
    r = stub.Language(messages.LanguageRequest(pinyins=["ni3", "xx9"]), timeout=60)
    assert r.status_code == 500000 and "xx9" in r.status_message


def test_message_over_the_limit_then_a_good_request(stub, utterances: list[Utterance], reference: list[dict]) -> None:
    with pytest.raises(grpc.RpcError) as info:
        stub.All(wav(bytes(3 << 20)), timeout=60)  # the server's limit is 2 MiB
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    r = stub.All(wav(utterances[0].pcm), timeout=60)
    assert (r.status_code, r.text_result) == (200000, reference[0]["text"])


def test_concurrent_requests(stub, utterances: list[Utterance], reference: list[dict]) -> None:
    jobs = [i % len(utterances) for i in range(16)]
    futures = [stub.All.future(wav(utterances[i].pcm), timeout=120) for i in jobs]
    assert [f.result().text_result for f in futures] == [reference[i]["text"] for i in jobs]


def test_any_rate_and_channels(stub, utterances: list[Utterance], reference: list[dict]) -> None:
    mono = np.frombuffer(utterances[1].pcm, dtype="<i2")
    r = stub.Speech(wav(np.repeat(mono, 3).astype("<i2").tobytes(), channels=3), timeout=60)
    assert (r.status_code, list(r.result_data)) == (200000, reference[1]["pinyin"])
    r = stub.Speech(wav(np.repeat(mono, 3).astype("<i2").tobytes(), rate=48000), timeout=60)
    assert r.status_code == 200000 and len(r.result_data) > 0
