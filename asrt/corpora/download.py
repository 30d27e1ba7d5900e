"""Stage 0 downloads: resumable HTTP fetches with md5 verification, and safe, idempotent extraction.

``fetch`` writes to ``<dest>.part`` and renames it to ``dest`` only once the bytes are complete and
their md5 matches, so a file named ``dest`` is always whole. An interrupted transfer leaves the
``.part`` file; the next call (or the next of ``retries`` attempts) asks the server for the rest with an
HTTP Range request and starts over only when the server ignores it. A verified file gets a
``<dest>.md5`` sidecar in ``md5sum`` format, so a 15 GB archive is not hashed again on every run.

OpenSLR resources live at ``https://www.openslr.org/resources/<N>/<file>``; a mirror (the
``openslr_mirror`` key of the ``download`` config section, or the ``ASRT_OPENSLR_MIRROR`` environment
variable, which wins) replaces that base URL, e.g. ``https://openslr.magicdatatech.com/resources``.
"""
from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from tqdm import tqdm

from asrt.config import Section
from asrt.fileio import write_text_atomic

OPENSLR_BASE = "https://www.openslr.org/resources"
MIRROR_ENV = "ASRT_OPENSLR_MIRROR"
USER_AGENT = "asrt-download/1.0"
TIMEOUT_S = 60.0
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class DownloadError(RuntimeError):
    """A download or an archive could not be completed or verified; the message says what to do."""


def openslr_url(resource: int, name: str, mirror: str | None = None) -> str:
    """URL of file ``name`` of OpenSLR resource ``resource`` (SLR<N>), on ``mirror`` if given."""
    base = (os.environ.get(MIRROR_ENV) or mirror or OPENSLR_BASE).rstrip("/")
    return f"{base}/{resource}/{name}"


def mirror_from_config(config: dict) -> str | None:
    """The OpenSLR mirror a recipe config names (``download: {openslr_mirror: URL}``), if any."""
    return Section("download", config["download"])["openslr_mirror"] or None


def md5sum(path: Path, chunk_size: int = 1 << 20) -> str:
    """Hex md5 of a file's bytes."""
    h = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            h.update(chunk)
    return h.hexdigest()


def _sidecar(dest: Path) -> Path:
    return dest.with_name(dest.name + ".md5")


def _cached_md5(dest: Path) -> str | None:
    """The md5 recorded in ``dest``'s sidecar, if the sidecar is newer than ``dest`` itself."""
    side = _sidecar(dest)
    try:
        if side.stat().st_mtime_ns < dest.stat().st_mtime_ns:
            return None
        return side.read_text(encoding="utf-8").split()[0].lower()
    except (OSError, IndexError):
        return None


def _write_sidecar(dest: Path, digest: str) -> None:
    write_text_atomic(_sidecar(dest), f"{digest}  {dest.name}\n")


def verify(dest: Path, md5: str | None, chunk_size: int = 1 << 20) -> bool:
    """True if ``dest`` exists and (when ``md5`` is given) has that md5; the sidecar caches the answer."""
    dest = Path(dest)
    if not dest.is_file():
        return False
    if md5 is None:
        return True
    md5 = md5.lower()
    if _cached_md5(dest) == md5:
        return True
    logging.info("Verifying the md5 of %s", dest)
    digest = md5sum(dest, chunk_size)
    if digest != md5:
        return False
    _write_sidecar(dest, digest)
    return True


def _open(url: str, offset: int):
    """Open ``url`` (asking for bytes from ``offset`` on when > 0); return the response."""
    headers = {"User-Agent": USER_AGENT}
    if offset > 0:
        headers["Range"] = f"bytes={offset}-"
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT_S)


def _transfer(url: str, part: Path, chunk_size: int) -> str:
    """Fill ``part`` with the whole body of ``url``, resuming what it holds; return the md5 of all of it."""
    offset = part.stat().st_size if part.exists() else 0
    try:
        resp = _open(url, offset)
    except urllib.error.HTTPError as e:
        if e.code != 416 or offset == 0:
            raise
        # Range not satisfiable: the part is whole already (a run stopped before renaming it), or the
        # remote file is shorter than the part; only the latter needs a new download.
        total = e.headers.get("Content-Range", "").rpartition("/")[2]
        e.close()
        if total == str(offset):
            return md5sum(part, chunk_size)
        offset = 0
        resp = _open(url, 0)
    with resp:
        status = resp.status
        if offset and status == 206:
            match = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
            if match is None or int(match.group(1)) != offset:
                raise DownloadError(f"{url}: the server answered the resume request with the wrong range "
                                    f"({resp.headers.get('Content-Range')}); delete {part} and rerun.")
        elif offset:
            logging.info("%s ignored the Range request; downloading %s from the start", url, part.name)
            offset = 0
        length = resp.headers.get("Content-Length")
        total = offset + int(length) if length is not None else None
        h = hashlib.md5()
        if offset:
            with open(part, "rb") as f:
                while chunk := f.read(chunk_size):
                    h.update(chunk)
        received = offset
        with open(part, "ab" if offset else "wb") as f, tqdm(
                total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024, desc=part.name[:-5],
                disable=None, mininterval=2.0) as bar:
            while chunk := resp.read(chunk_size):
                f.write(chunk)
                h.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    if total is not None and received != total:
        raise ConnectionError(f"connection closed after {received} of {total} bytes")
    return h.hexdigest()


def fetch(url: str, dest: Path, md5: str | None = None, *, chunk_size: int = 1 << 20, retries: int = 3) -> Path:
    """Download ``url`` to ``dest`` (resumable, md5-verified) unless ``dest`` is already there and verifies.

    Network failures are retried ``retries`` times, each resuming where the last stopped; then
    DownloadError says what failed, and the partial ``<dest>.part`` stays for the next run to resume.
    A checksum mismatch raises DownloadError naming the file and both checksums, and leaves no ``dest``.
    """
    dest = Path(dest)
    if verify(dest, md5, chunk_size):
        logging.info("%s is already downloaded%s", dest, " and verified" if md5 else "")
        return dest
    if dest.exists():
        logging.warning("%s does not match md5 %s; downloading it again", dest, md5)
        dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    logging.info("Downloading %s to %s", url, dest)
    for attempt in range(retries + 1):
        try:
            digest = _transfer(url, part, chunk_size)
            break
        except urllib.error.HTTPError as e:
            # The server answered: retrying will not change its mind.
            raise DownloadError(f"cannot download {url}: HTTP {e.code} {e.reason}; "
                                "check the URL or the mirror.") from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
            reason = getattr(e, "reason", None) or e
            have = part.stat().st_size if part.exists() else 0
            if attempt == retries:
                hint = (f"rerun to resume from byte {have}" if have else
                        f"check the network, or name a mirror (download.openslr_mirror or {MIRROR_ENV})")
                raise DownloadError(f"cannot download {url}: {reason}; {hint}.") from None
            logging.warning("Download of %s failed at byte %d (%s); retrying (attempt %d of %d)", url, have,
                            reason, attempt + 2, retries + 1)
            time.sleep(min(2 ** attempt, 30) if attempt else 0)
    if md5 is not None and digest != md5.lower():
        part.unlink()
        raise DownloadError(f"checksum mismatch for {dest.name} from {url}: expected md5 {md5.lower()}, "
                            f"got {digest}; the download was deleted, rerun to fetch it again.")
    os.replace(part, dest)
    if md5 is not None:
        _write_sidecar(dest, digest)
    logging.info("Downloaded %s", dest)
    return dest


def _done_marker(archive: Path, dest_dir: Path) -> Path:
    return Path(dest_dir) / f".{Path(archive).name}.extracted"


def _check_member(name: str, dest_dir: Path) -> None:
    target = (dest_dir / name).resolve()
    if target != dest_dir and dest_dir not in target.parents:
        raise DownloadError(f"archive member {name!r} would be written outside {dest_dir}; the archive is unsafe.")


def extract(archive: Path, dest_dir: Path, progress: bool = False) -> None:
    """Unpack a .tar.gz/.tgz/.tar/.zip into ``dest_dir`` once (a done marker records it), refusing any
    member that would land outside ``dest_dir`` (absolute paths, ``..``, links pointing out). ``progress``
    shows bars (files read, files written) on a terminal: for one big archive, not for many at once."""
    archive, dest_dir = Path(archive), Path(dest_dir)

    def bar(members, verb: str, total: int | None = None):
        return tqdm(members, total=total, desc=f"{verb} {archive.name}", unit="file",
                    disable=None if progress else True, mininterval=2.0)

    marker = _done_marker(archive, dest_dir)
    if marker.exists():
        logging.info("%s was extracted before (%s), skipping", archive.name, marker)
        return
    if not archive.is_file():
        raise DownloadError(f"archive {archive} does not exist; run stage 0 to download it.")
    dest_dir.mkdir(parents=True, exist_ok=True)
    root = dest_dir.resolve()
    logging.info("Extracting %s into %s", archive, dest_dir)
    name = archive.name.lower()
    try:
        if name.endswith(".zip"):
            with zipfile.ZipFile(archive) as zf:
                for member in zf.namelist():
                    _check_member(member, root)
                names = zf.namelist()
                zf.extractall(dest_dir, members=bar(names, "extracting", len(names)))
        elif name.endswith((".tar.gz", ".tgz", ".tar")):
            with tarfile.open(archive) as tar:
                members = list(bar(tar, "reading"))  # tar.getmembers(), counted: a .tar.gz is read once for it
                for m in members:
                    _check_member(m.name, root)
                    if m.issym() or m.islnk():
                        link_base = (root / m.name).parent if m.issym() else root
                        _check_member(str(link_base.relative_to(root) / m.linkname), root)
                    if m.isdev():
                        raise DownloadError(f"archive {archive} holds a device file {m.name!r}; it is unsafe.")
                # Python's own "data" filter (3.11.4+) repeats these checks and drops odd permissions.
                safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                tar.extractall(dest_dir, members=bar(members, "extracting", len(members)), **safe)
        else:
            raise DownloadError(f"cannot extract {archive}: expected .tar.gz, .tgz, .tar or .zip.")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as e:
        raise DownloadError(f"{archive} is corrupt ({e}); delete it and rerun stage 0.") from None
    marker.touch()

