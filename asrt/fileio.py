"""Atomic file writes and small text-table readers shared by every stage."""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

_UMASK = os.umask(0)
os.umask(_UMASK)


def _temporary_name(path: Path) -> re.Pattern:
    """The names :func:`scratch_path` gives ``path``'s temporaries: ``.{name}.{random}.tmp{suffixes}``."""
    return re.compile(rf"\.{re.escape(path.name)}\.[a-z0-9_]+\.tmp{re.escape(''.join(path.suffixes))}")


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete the temporaries (files or directories) of ``path`` that a killed writer left beside it;
    return them.

    Every stage has one writer per output at a time, so a temporary of ``path`` that is there before its
    next write begins is an orphan: a SIGKILL skips every ``finally``.
    """
    path = Path(path)
    if not path.parent.is_dir():
        return []
    name = _temporary_name(path)
    stale = [p for p in path.parent.iterdir() if name.fullmatch(p.name)]
    for p in stale:
        _remove(p)
    return stale


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def scratch_path(path: str | os.PathLike, directory: bool = False) -> Iterator[Path]:
    """Yield a new temporary file (or ``directory``) beside ``path``, removed after the block unless the
    block moved it away; the temporaries of ``path`` that a killed process left are removed first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    names = {"prefix": f".{path.name}.", "suffix": ".tmp" + "".join(path.suffixes), "dir": path.parent}
    if directory:
        tmp = Path(tempfile.mkdtemp(**names))
    else:
        fd, name = tempfile.mkstemp(**names)
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
    finally:
        _remove(tmp)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds (what a
    killed write left beside ``path`` is removed when the next one begins)."""
    with scratch_path(path) as tmp_path:
        yield tmp_path
        if tmp_path.exists():  # mkstemp makes 0600 files; give the result the usual umask permissions
            os.chmod(tmp_path, 0o666 & ~_UMASK)
        os.replace(tmp_path, path)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` so that readers never see a half-written file."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def read_symbol_table(path: str | os.PathLike) -> dict[str, int]:
    """Read a Kaldi-style ``symbol id`` table (tokens.txt, words.txt) into a dict."""
    table: dict[str, int] = {}
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 2:
                raise ValueError(f"{path}:{line_no}: expected 'symbol id', got {line.rstrip()!r}")
            table[fields[0]] = int(fields[1])
    return table


def write_symbol_table(path: str | os.PathLike, symbols: list[str]) -> None:
    """Write ``symbols`` as a ``symbol id`` table, ids being list positions."""
    write_text_atomic(path, "".join(f"{s} {i}\n" for i, s in enumerate(symbols)))
