"""``asrt`` itself: a verb whose optional dependencies are missing says which extra to install."""
from __future__ import annotations

import sys

from asrt.cli import main


def test_a_missing_extra_is_named(monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # `import uvicorn` now fails as if it were not installed
    assert main(["serve", "--model-dir", "."]) == 1
    err = capsys.readouterr().err
    assert "uvicorn is not installed" in err and "pip install 'asrt-toolkit[serve]'" in err
    assert "Traceback" not in err
