"""asrt.corpora.download against a local HTTP server: resume, checksum mismatch, no re-download, extraction."""
from __future__ import annotations

import hashlib
import io
import os
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from asrt.corpora.download import DownloadError, extract, fetch, md5sum, openslr_url

PAYLOAD = bytes(range(256)) * 400  # 102400 bytes
PAYLOAD_MD5 = hashlib.md5(PAYLOAD).hexdigest()


class FileServer:
    """Serves ``PAYLOAD`` at /<name>; can honour Range, ignore it, and cut a response after N bytes."""

    def __init__(self):
        self.requests: list[dict] = []  # path and Range header of every request
        self.cut_after: list[int] = []  # per response, in order: close the connection after this many bytes
        self.honour_range = True
        self.payload = PAYLOAD
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                rng = self.headers.get("Range")
                server.requests.append({"path": self.path, "range": rng})
                if self.path == "/missing":
                    self.send_error(404)
                    return
                data, start = server.payload, 0
                if rng and server.honour_range:
                    start = int(rng.removeprefix("bytes=").split("-")[0])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                if server.cut_after:
                    body = body[: server.cut_after.pop(0)]
                    self.wfile.write(body)
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, name: str = "corpus.tgz") -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"


@pytest.fixture
def server():
    s = FileServer()
    s.thread.start()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


def test_fetch_downloads_verifies_and_writes_sidecar(server, tmp_path):
    dest = fetch(server.url(), tmp_path / "corpus.tgz", PAYLOAD_MD5, chunk_size=4096)
    assert dest.read_bytes() == PAYLOAD
    assert (tmp_path / "corpus.tgz.md5").read_text().split() == [PAYLOAD_MD5, "corpus.tgz"]
    assert not (tmp_path / "corpus.tgz.part").exists()
    assert server.requests == [{"path": "/corpus.tgz", "range": None}]


def test_resume_after_interrupted_transfer_requests_only_the_remainder(server, tmp_path):
    server.cut_after = [30000]
    dest = tmp_path / "corpus.tgz"
    with pytest.raises(DownloadError, match="rerun to resume from byte 30000"):
        fetch(server.url(), dest, PAYLOAD_MD5, chunk_size=4096, retries=0)
    assert not dest.exists()
    assert (tmp_path / "corpus.tgz.part").stat().st_size == 30000

    fetch(server.url(), dest, PAYLOAD_MD5, chunk_size=4096, retries=0)
    assert dest.read_bytes() == PAYLOAD
    assert [r["range"] for r in server.requests] == [None, "bytes=30000-"]


def test_interruption_is_retried_within_one_call(server, tmp_path, monkeypatch):
    monkeypatch.setattr("asrt.corpora.download.time.sleep", lambda s: None)
    server.cut_after = [10000, 20000]
    dest = fetch(server.url(), tmp_path / "corpus.tgz", PAYLOAD_MD5, chunk_size=4096, retries=3)
    assert dest.read_bytes() == PAYLOAD
    assert [r["range"] for r in server.requests] == [None, "bytes=10000-", "bytes=30000-"]


def test_server_ignoring_range_restarts_from_zero(server, tmp_path):
    (tmp_path / "corpus.tgz.part").write_bytes(b"x" * 5000)  # wrong bytes: must not survive
    server.honour_range = False
    dest = fetch(server.url(), tmp_path / "corpus.tgz", PAYLOAD_MD5, chunk_size=4096)
    assert dest.read_bytes() == PAYLOAD
    assert [r["range"] for r in server.requests] == ["bytes=5000-"]


def test_a_whole_part_file_is_not_downloaded_again(server, tmp_path):
    (tmp_path / "corpus.tgz.part").write_bytes(PAYLOAD)  # a run that stopped before renaming it
    dest = fetch(server.url(), tmp_path / "corpus.tgz", PAYLOAD_MD5)
    assert dest.read_bytes() == PAYLOAD
    assert [r["range"] for r in server.requests] == [f"bytes={len(PAYLOAD)}-"]  # answered 416, no body


def test_a_part_longer_than_the_remote_file_starts_over(server, tmp_path):
    (tmp_path / "corpus.tgz.part").write_bytes(PAYLOAD + b"stale tail")
    dest = fetch(server.url(), tmp_path / "corpus.tgz", PAYLOAD_MD5)
    assert dest.read_bytes() == PAYLOAD
    assert [r["range"] for r in server.requests] == [f"bytes={len(PAYLOAD) + 10}-", None]


def test_checksum_mismatch_is_reported_and_leaves_no_file(server, tmp_path):
    dest = tmp_path / "corpus.tgz"
    wrong = "0" * 32
    with pytest.raises(DownloadError) as err:
        fetch(server.url(), dest, wrong)
    msg = str(err.value)
    assert "corpus.tgz" in msg and wrong in msg and PAYLOAD_MD5 in msg
    assert not dest.exists() and not (tmp_path / "corpus.tgz.part").exists()


def test_no_request_when_the_file_is_complete(server, tmp_path):
    dest = fetch(server.url(), tmp_path / "corpus.tgz", PAYLOAD_MD5)
    server.requests.clear()
    assert fetch(server.url(), dest, PAYLOAD_MD5) == dest
    assert server.requests == []


def test_sidecar_spares_rehashing_and_a_changed_file_is_rehashed(server, tmp_path, monkeypatch):
    dest = fetch(server.url(), tmp_path / "corpus.tgz", PAYLOAD_MD5)
    import asrt.corpora.download as dl

    calls = []
    monkeypatch.setattr(dl, "md5sum", lambda p, c=0: calls.append(p) or md5sum(p))
    fetch(server.url(), dest, PAYLOAD_MD5)
    assert calls == []  # the sidecar answered
    # A file without a sidecar (copied in by hand) is hashed once, then trusted.
    (tmp_path / "corpus.tgz.md5").unlink()
    fetch(server.url(), dest, PAYLOAD_MD5)
    fetch(server.url(), dest, PAYLOAD_MD5)
    assert len(calls) == 1 and server.requests == [{"path": "/corpus.tgz", "range": None}]
    # A corrupt file newer than its sidecar is hashed, found wrong, and downloaded again.
    dest.write_bytes(b"corrupt")
    st = (tmp_path / "corpus.tgz.md5").stat()
    os.utime(dest, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    fetch(server.url(), dest, PAYLOAD_MD5)
    assert dest.read_bytes() == PAYLOAD and len(server.requests) == 2


def test_network_errors_are_one_line_download_errors(server, tmp_path):
    with pytest.raises(DownloadError, match=r"HTTP 404") as err:
        fetch(server.url("missing"), tmp_path / "x.tgz")
    assert "\n" not in str(err.value)
    with pytest.raises(DownloadError, match="cannot download http://127.0.0.1:9/x.tgz: .*name a mirror"):
        fetch("http://127.0.0.1:9/x.tgz", tmp_path / "x.tgz", retries=0)


def test_openslr_url_and_mirror(monkeypatch):
    monkeypatch.delenv("ASRT_OPENSLR_MIRROR", raising=False)
    assert openslr_url(33, "data_aishell.tgz") == "https://www.openslr.org/resources/33/data_aishell.tgz"
    assert openslr_url(18, "x.tgz", "https://m.example/resources/") == "https://m.example/resources/18/x.tgz"
    monkeypatch.setenv("ASRT_OPENSLR_MIRROR", "http://env.example/r")
    assert openslr_url(18, "x.tgz", "https://m.example/resources") == "http://env.example/r/18/x.tgz"


def _tar(path: Path, files: dict[str, bytes], mode: str = "w:gz", links: dict[str, str] = {}) -> Path:
    with tarfile.open(path, mode) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in links.items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return path


@pytest.mark.parametrize("suffix,mode", [(".tar.gz", "w:gz"), (".tgz", "w:gz"), (".tar", "w")])
def test_extract_tar_once(tmp_path, suffix, mode):
    archive = _tar(tmp_path / f"a{suffix}", {"top/a.txt": b"a", "top/sub/b.txt": b"b"}, mode,
                   links={"top/link.txt": "sub/b.txt"})
    out = tmp_path / "out"
    extract(archive, out)
    assert (out / "top/a.txt").read_bytes() == b"a" and (out / "top/link.txt").read_bytes() == b"b"
    (out / "top/a.txt").write_bytes(b"edited")
    extract(archive, out)  # the marker says it is done: nothing is overwritten
    assert (out / "top/a.txt").read_bytes() == b"edited"


def test_extract_zip(tmp_path):
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("top/a.txt", "a")
    extract(archive, tmp_path / "out")
    assert (tmp_path / "out/top/a.txt").read_text() == "a"


@pytest.mark.parametrize("files,links", [({"../evil.txt": b"x"}, {}), ({"/tmp/evil.txt": b"x"}, {}),
                                         ({}, {"top/evil": "../../outside"}), ({}, {"top/evil": "/etc/passwd"})])
def test_extract_refuses_paths_escaping_dest(tmp_path, files, links):
    archive = _tar(tmp_path / "evil.tar.gz", files, links=links)
    with pytest.raises(DownloadError, match="outside"):
        extract(archive, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()


def test_extract_corrupt_and_missing_archives(tmp_path):
    bad = tmp_path / "bad.tgz"
    bad.write_bytes(b"not a tarball")
    with pytest.raises(DownloadError, match="corrupt"):
        extract(bad, tmp_path / "out")
    with pytest.raises(DownloadError, match="does not exist"):
        extract(tmp_path / "none.tgz", tmp_path / "out")
