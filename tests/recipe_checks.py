"""Checks every corpus recipe test makes on the outputs of stages 1-7 run on a corpus replica."""
from __future__ import annotations

import contextlib
import functools
import gzip
import json
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

from asrt.decode.results import RESULTS_HEADER
from asrt.names import cuts_path, manifest_path
from asrt.text.pinyin import is_cjk

SPLITS = ("train", "dev", "test")


def read_jsonl(path: Path) -> list[dict]:
    """The records of a gzip'd JSONL manifest, as plain dicts."""
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def supervisions(work: Path, corpus: str, split: str, labelled: bool = False) -> list:
    """The supervisions stage 1 (or, ``labelled``, stage 2) wrote for ``split``."""
    from lhotse import load_manifest

    kind = "supervisions_labelled" if labelled else "supervisions"
    return list(load_manifest(manifest_path(work / "data" / "manifests", corpus, kind, split)))


def check_recipe_outputs(work: Path, corpus: str) -> dict[str, list]:
    """Assert what stages 1-7 must leave; return the labelled supervisions by split."""
    from lhotse import load_manifest

    labelled = {}
    for split in SPLITS:
        recordings = load_manifest(manifest_path(work / "data" / "manifests", corpus, "recordings", split))
        sups = supervisions(work, corpus, split)
        assert sups and {s.recording_id for s in sups} == set(recordings.ids), split
        labelled[split] = supervisions(work, corpus, split, labelled=True)
        for sup in labelled[split]:
            assert sup.text and all(is_cjk(ch) for ch in sup.text), (split, sup.id, sup.text)
            assert len(sup.custom["pinyin"].split()) == len(sup.text), sup
        assert cuts_path(work / "data" / "fbank", corpus, split).exists()
    speakers = {split: {s.speaker for s in sups} for split, sups in labelled.items()}
    assert all(speakers.values()), speakers
    assert not speakers["train"] & speakers["dev"] and not speakers["train"] & speakers["test"], speakers
    assert not speakers["dev"] & speakers["test"], speakers
    summary = json.loads((work / "exp" / "decode" / "summary.json").read_text())
    for split in ("dev", "test"):
        assert summary[split]["per"] >= 0 and summary[split]["cer"] >= 0, summary  # insertions can pass 100
        assert (work / "exp" / "decode" / split / "hlg_char.errs.txt").exists()
    row = (work / "RESULTS.md").read_text().split(RESULTS_HEADER)[-1].splitlines()[0]
    assert row.startswith("| ") and "| replica.yaml |" in row, row
    return labelled


@contextlib.contextmanager
def http_server(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on a free loopback port (like an OpenSLR mirror); yield its base URL."""
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(directory))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.RequestHandlerClass.log_message = lambda *args: None
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def refuse_downloads(*args, **kwargs):
    """Stand-in for asrt.corpora.download.fetch in tests where stage 0 must not download anything."""
    raise AssertionError(f"stage 0 tried to download: {args}")
