"""The recognition page (``GET /``) and ``/docs`` in a real headless Chromium (Debian's ``chromium``, driven by
Playwright): the microphone fed a test utterance by Chromium's fake capture device, a file upload, the pinyin
box, a refused microphone, and the OpenAPI page, with every request that is not to the loopback server
refused and failing the test.

``ASRT_BROWSER_MODEL=DIR`` serves that packaged model instead of the session's CI model (how the latencies in
docs/serving.md are measured); ``ASRT_SCREENSHOTS=DIR`` saves the page's screenshots there (docs/img).
"""
from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
import soundfile as sf
from conftest import Server, Utterance, start_server

playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the test extra)")
CHROMIUM = os.environ.get("ASRT_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (apt-get install chromium, as "
                                                         "utils/setup_env.sh does; or set ASRT_CHROMIUM)")

LEAD_SECONDS, TAIL_SECONDS = 1.0, 3.0  # silence around the utterance the fake microphone plays
SPEECH_FLOOR_DB, SPEECH_RANGE_DB = -50.0, 35.0  # as asrt/serving/stream.py decides what is speech
LOOPBACK = {"127.0.0.1", "localhost", "[::1]", "::1"}


@pytest.fixture(scope="module")
def page_server(request, tmp_path_factory) -> Server:
    """The session's server (the CI model), or one serving ``ASRT_BROWSER_MODEL``."""
    model = os.environ.get("ASRT_BROWSER_MODEL")
    if not model:
        yield request.getfixturevalue("server")
        return
    server = start_server(Path(model), tmp_path_factory.mktemp("browser") / "serve.log", "--protocol", "http")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def spoken(utterances: list[Utterance], tmp_path_factory) -> Path:
    """A test utterance between stretches of silence, as a 16 kHz 16-bit WAV (what Chromium's fake device reads)."""
    samples = np.frombuffer(utterances[0].pcm, dtype="<i2")
    pad = lambda seconds: np.zeros(int(seconds * 16000), dtype=np.int16)  # noqa: E731
    path = tmp_path_factory.mktemp("browser") / "spoken.wav"
    sf.write(path, np.concatenate([pad(LEAD_SECONDS), samples, pad(TAIL_SECONDS)]), 16000, subtype="PCM_16")
    return path


def recognized(model_dir: Path, paths: list[Path], streaming: bool) -> list[str]:
    """The text ``asrt recognize`` (``--streaming`` for a model that streams) gives for each of ``paths``."""
    cmd = [sys.executable, "-m", "asrt.cli", "recognize", *(["--streaming"] if streaming else []), "--model-dir",
           str(model_dir), *map(str, paths)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line)["text"] for line in proc.stdout.splitlines()]


def expected_text(request, server: Server, samples: np.ndarray, segments: list[dict], work: Path) -> str:
    """What ``asrt recognize`` gives for the audio the page sent: all of it for a model that streams (the
    stream's endpoints are the model's); for one that does not, each committed segment's span of it (the
    server cuts those at pauses, by level), joined."""
    streams = server_streams(server)
    spans = [(0, len(samples))] if streams else [(round(s["start"] * 16000), round(s["end"] * 16000)) for s in segments]
    paths = []
    for k, (start, end) in enumerate(spans):
        paths.append(work / f"sent-{k}.wav")
        sf.write(paths[-1], samples[start:end], 16000, subtype="PCM_16")
    return "".join(recognized(model_of(request), paths, streams))


def model_of(request) -> Path:
    return Path(os.environ.get("ASRT_BROWSER_MODEL") or request.getfixturevalue("model_dir"))


def server_streams(server: Server) -> bool:
    import urllib.request

    with urllib.request.urlopen(server.url + "/health", timeout=30) as r:
        return json.loads(r.read())["streaming"]


class Browser:
    """A headless Chromium with one page; requests beyond the loopback server are refused and listed in
    ``outside``."""

    def __init__(self, pw, *args: str, permissions: tuple[str, ...] = ()) -> None:
        self.browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", *args])
        self.context = self.browser.new_context(viewport={"width": 820, "height": 900}, permissions=list(permissions))
        self.outside: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("websocket", lambda ws: self._check(ws.url))
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _check(self, url: str) -> bool:
        if urlsplit(url).hostname in LOOPBACK or url.startswith(("data:", "blob:")):
            return True
        self.outside.append(url)
        return False

    def _route(self, route) -> None:
        if self._check(route.request.url):
            route.continue_()
        else:
            route.abort("blockedbyclient")

    def events(self, kind: str | None = None) -> list[dict]:
        events = self.page.evaluate("window.asrtDebug.events")
        return [e for e in events if kind is None or e["kind"] == kind]

    def close(self) -> None:
        assert not self.errors, f"the page raised: {self.errors}"
        assert not self.outside, f"the page asked for something beyond the machine: {self.outside}"
        self.browser.close()


@pytest.fixture(scope="module")
def pw():
    with playwright.sync_playwright() as p:
        yield p


def screenshot(page, name: str) -> None:
    """Save a screenshot to ``ASRT_SCREENSHOTS`` (docs/img), if set."""
    out = os.environ.get("ASRT_SCREENSHOTS")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(out) / name), full_page=True)


def speech_span(levels: list[float]) -> tuple[float, float]:
    """Seconds (of the captured audio) where speech starts and ends, from the page's 10 ms levels."""
    levels = np.asarray(levels)
    speech = np.flatnonzero(levels > max(SPEECH_FLOOR_DB, levels.max() - SPEECH_RANGE_DB))
    return speech[0] / 100, (speech[-1] + 1) / 100


def spoken_at(frame_times: list[float], second: float) -> float:
    """When (page clock, ms) the audio at ``second`` of the capture was spoken: its 100 ms frame was sent
    when the frame's last sample had arrived."""
    k = min(int(second * 10), len(frame_times) - 1)
    return frame_times[k] - ((k + 1) / 10 - second) * 1000


def test_microphone_partials_then_the_recognized_text(pw, page_server: Server, spoken: Path, tmp_path: Path,
                                                      request) -> None:
    b = Browser(pw, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={spoken}%noloop")
    page = b.page
    page.goto(page_server.url + "/#record")
    page.get_by_role("button", name="Start the microphone").click()
    page.wait_for_function("window.asrtDebug.events.some(e => e.kind === 'partial' && e.text)", timeout=60000)
    if os.environ.get("ASRT_SCREENSHOTS"):  # mid-sentence, once a few characters are there
        page.wait_for_function("window.asrtDebug.events.some(e => e.kind === 'final' || e.text?.length >= 6)")
        screenshot(page, "page-partial.png")
    page.wait_for_function("window.asrtDebug.events.some(e => e.kind === 'final' && e.text)", timeout=60000)
    page.wait_for_timeout(1000)
    screenshot(page, "page-committed.png")
    page.get_by_role("button", name="Stop the microphone").click()
    debug = page.evaluate("window.asrtDebug")
    finals = [e for e in debug["events"] if e["kind"] == "final" and e["text"]]
    partials = [e for e in debug["events"] if e["kind"] == "partial" and e["text"]]
    onset, offset = speech_span(debug["levels"])
    assert partials and partials[0]["t"] < spoken_at(debug["frameTimes"], offset), "no partial before the speech ended"
    # What `asrt recognize` (--streaming for a model that streams) gives for the audio the page sent: the
    # fake device's file, resampled to 48 kHz and back and shifted by when the capture started, which moves
    # the 10 ms feature frames (the upload test checks the file's own samples, bit for bit).
    page.wait_for_function("window.asrtDebug.events.some(e => e.kind === 'mic-stop')")
    sent = np.frombuffer(base64.b64decode(page.evaluate("window.asrtDebug.recorded()")), "<i2")
    text = "".join(e["text"] for e in finals)
    assert text == expected_text(request, page_server, sent, finals, tmp_path)
    print(f"\nthe microphone's text {text}; asrt recognize of the file it played: "
          f"{recognized(model_of(request), [spoken], server_streams(page_server))[0]}")
    assert page.locator("#mic-results rt").count() > 0 and page.locator("#mic-results .endpoint").count() == len(finals)
    first_partial = (partials[0]["t"] - spoken_at(debug["frameTimes"], onset)) / 1000
    committed = (finals[0]["t"] - spoken_at(debug["frameTimes"], offset)) / 1000
    print(f"\nbrowser latencies: first partial {first_partial:.3f} s after speech began, committed "
          f"{committed:.3f} s after it ended (speech {onset:.2f}-{offset:.2f} s of the capture)")
    b.close()


def test_file_upload_lists_segments_with_times(pw, page_server: Server, spoken: Path, tmp_path: Path,
                                               request) -> None:
    # A 44.1 kHz stereo FLAC: decoded, mixed down and resampled by the page.
    samples, rate = sf.read(spoken, dtype="float32")
    stereo = tmp_path / "stereo-44k.flac"
    resampled = np.interp(np.arange(0, len(samples), rate / 44100), np.arange(len(samples)), samples)
    sf.write(stereo, np.stack([resampled, resampled], axis=1), 44100)
    b = Browser(pw)
    page = b.page
    page.goto(page_server.url + "/")
    for path in (spoken, stereo):
        page.set_input_files("#file-input", str(path))
        page.wait_for_function("window.asrtDebug.events.some(e => e.kind === 'file-done')", timeout=120000)
        segments = page.locator("#file-results li")
        assert segments.count() >= 1, page.locator("#file-status").inner_text()
        assert "–" in segments.first.locator(".time").inner_text()
        text = "".join(segments.nth(k).locator("ruby").evaluate_all(
            "rs => rs.map(r => r.firstChild.textContent).join('')") for k in range(segments.count()))
        if path == spoken:  # bit-exact at 16 kHz: the server's answer for the file's own samples
            samples = sf.read(spoken, dtype="int16")[0]
            assert text == expected_text(request, page_server, samples, b.events("file-segment"), tmp_path)
        else:
            assert text, "the resampled stereo file gave no text"
        assert path.name in page.locator("#file-status").inner_text()
        page.evaluate("window.asrtDebug.events = []")
    screenshot(page, "page-file.png")
    b.close()


def test_pinyin_box_and_the_tone_toggle(pw, page_server: Server) -> None:
    b = Browser(pw)
    page = b.page
    page.goto(page_server.url + "/")
    page.get_by_label("Tonal pinyin").fill("ni3 hao3")
    page.get_by_label("Tonal pinyin").press("Enter")
    page.wait_for_function("window.asrtDebug.events.some(e => e.kind === 'language')", timeout=60000)
    answer = b.events("language")[0]["text"]
    assert answer
    assert page.locator("#pinyin-result rt").all_inner_texts() == ["nǐ", "hǎo"]
    page.get_by_role("checkbox", name="Tone marks").uncheck()
    assert page.locator("#pinyin-result rt").all_inner_texts() == ["ni3", "hao3"]
    page.get_by_label("Tonal pinyin").fill("nǐ hǎo")  # tone marks are converted to the server's numbers
    page.get_by_role("button", name="Convert").click()
    page.wait_for_function("window.asrtDebug.events.filter(e => e.kind === 'language').length === 2", timeout=60000)
    assert b.events("language")[1]["text"] == answer
    page.get_by_label("Tonal pinyin").fill("xx9")
    page.get_by_role("button", name="Convert").click()
    page.wait_for_function("window.asrtDebug.events.some(e => e.kind === 'error')", timeout=60000)
    assert page.get_by_role("alert").inner_text().startswith("The server could not convert it")
    b.close()


def test_a_refused_microphone_says_what_to_do(pw, page_server: Server) -> None:
    b = Browser(pw, "--use-fake-device-for-media-stream", "--deny-permission-prompts")
    page = b.page
    page.goto(page_server.url + "/")
    page.get_by_role("button", name="Start the microphone").focus()
    page.keyboard.press("Space")  # the keyboard works the page
    alert = page.get_by_role("alert")
    alert.wait_for(timeout=30000)
    assert "Microphone permission was denied" in alert.inner_text()
    assert page.get_by_role("button", name="Start the microphone").get_attribute("aria-pressed") == "false"
    b.close()


def test_the_server_s_stream_limit_is_said(pw, page_server: Server) -> None:
    import urllib.request

    from websockets.sync.client import connect

    with urllib.request.urlopen(page_server.url + "/health", timeout=30) as r:
        open_now = json.loads(r.read())["streams"]
    url = page_server.url.replace("http", "ws", 1) + "/v1/stream"
    with contextlib.ExitStack() as held:
        for _ in range(32 - open_now):  # up to the server's --max-streams (default 32)
            held.enter_context(connect(url, open_timeout=30))
        b = Browser(pw, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream")
        page = b.page
        page.goto(page_server.url + "/")
        page.get_by_role("button", name="Start the microphone").click()
        alert = page.get_by_role("alert")
        alert.wait_for(timeout=30000)
        assert "The server ended the stream" in alert.inner_text() and "32 streams open" in alert.inner_text()
        assert page.get_by_role("button", name="Start the microphone").get_attribute("aria-pressed") == "false"
        b.close()


def test_a_lost_connection_is_retried(pw, page_server: Server, spoken: Path) -> None:
    b = Browser(pw, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={spoken}")
    page = b.page
    attempts = []

    def route(ws) -> None:  # the first connection is dropped by "the network", the next ones reach the server
        attempts.append(ws.url)
        if len(attempts) == 1:
            ws.close(code=1001, reason="gone")
        else:
            ws.connect_to_server()

    page.route_web_socket("**/v1/stream*", route)
    page.goto(page_server.url + "/")
    page.get_by_role("button", name="Start the microphone").click()
    alert = page.get_by_role("alert")
    alert.wait_for(timeout=30000)
    assert "connection to the server was lost" in alert.inner_text() and "attempt 1 of 5" in alert.inner_text()
    page.wait_for_function("window.asrtDebug.events.some(e => e.kind === 'reconnected')", timeout=30000)
    page.wait_for_function("window.asrtDebug.events.some(e => e.kind === 'partial' && e.text)", timeout=60000)
    assert alert.is_hidden() and len(attempts) == 2
    page.get_by_role("button", name="Stop the microphone").click()
    b.close()


def test_the_page_fits_a_phone(pw, page_server: Server) -> None:
    b = Browser(pw)
    page = b.page
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(page_server.url + "/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    assert page.get_by_role("button", name="Start the microphone").bounding_box()["height"] >= 40  # a finger's size
    b.close()


def test_docs_render_without_the_network(pw, page_server: Server) -> None:
    b = Browser(pw)
    page = b.page
    page.goto(page_server.url + "/docs")
    page.locator(".opblock-summary-path", has_text="/v1/recognize").first.wait_for(timeout=60000)
    assert page.locator(".opblock").count() >= 6
    b.close()
