"""asrt/fileio.py: atomic writes, and the temporaries a SIGKILL leaves behind removed by the next write."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from asrt.fileio import atomic_path, remove_stale_temporaries, scratch_path, write_text_atomic


def killed_inside(opener: str, target: Path) -> Path:
    """Start a process that is in the middle of ``opener`` (``atomic_path(target)``, ``scratch_path(target,
    ...)``), SIGKILL it, and return the temporary it left."""
    code = ("import sys, time; from pathlib import Path; from asrt.fileio import atomic_path, scratch_path\n"
            f"target = Path(sys.argv[1])\nwith {opener} as tmp:\n"
            "    tmp.write_bytes(b'half a file') if tmp.is_file() else None\n"
            "    print(tmp, flush=True)\n"
            "    time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(target)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().strip()
    assert line, "the writer died before it was killed"
    tmp = Path(line)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    return tmp


def test_an_atomic_write_leaves_the_file_only(tmp_path: Path) -> None:
    target = tmp_path / "lang" / "HLG.fst"
    write_text_atomic(target, "graph")
    assert target.read_text() == "graph" and os.listdir(target.parent) == ["HLG.fst"]
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("the writer failed")
    assert target.read_text() == "graph" and os.listdir(target.parent) == ["HLG.fst"]


def test_the_next_write_removes_what_a_killed_one_left(tmp_path: Path) -> None:
    target = tmp_path / "HLG.fst"
    orphan = killed_inside("atomic_path(target)", target)
    assert orphan.parent == tmp_path and orphan.name.startswith(".HLG.fst.") and orphan.name.endswith(".tmp.fst")
    assert orphan.read_bytes() == b"half a file" and not target.exists()
    others = [tmp_path / n for n in (".G.fst.abc123.tmp.fst", ".HLG.fst.abc123.tmp.fst.gz", "HLG.fst.bak",
                                     ".xHLG.fst.abc123.tmp.fst", ".HLG.fst.tmp.fst")]
    for p in others:  # another target's temporaries and files of other names stay
        p.write_text("keep")
    write_text_atomic(target, "graph")
    assert not orphan.exists() and target.read_text() == "graph"
    assert all(p.exists() for p in others)
    assert sorted(os.listdir(tmp_path)) == sorted(["HLG.fst", *(p.name for p in others)])


def test_scratch_directories_are_removed_after_use_and_after_a_kill(tmp_path: Path) -> None:
    target = tmp_path / "manifests" / "aishell"
    with scratch_path(target, directory=True) as tmp:
        (tmp / "a.jsonl.gz").write_text("x")
        assert tmp.is_dir() and tmp.parent == target.parent
    assert os.listdir(target.parent) == []
    orphan = killed_inside("scratch_path(target, directory=True)", target)
    (orphan / "big.bin").write_bytes(b"0" * 1000)
    assert orphan.is_dir()
    assert remove_stale_temporaries(target) == [orphan]
    assert os.listdir(target.parent) == []
