"""Naming and atomic writing of lhotse manifests: ``<corpus>_{recordings,supervisions}_<split>.jsonl.gz``."""
from __future__ import annotations

from pathlib import Path

from asrt.fileio import atomic_path


def manifest_path(manifest_dir: Path, corpus: str, kind: str, split: str) -> Path:
    """Path of one manifest; ``kind`` is ``recordings``, ``supervisions`` or ``cuts``."""
    return Path(manifest_dir) / f"{corpus}_{kind}_{split}.jsonl.gz"


def write_manifests(manifest_dir: Path, corpus: str, split: str, recordings, supervisions) -> None:
    """Validate a split's recordings and supervisions together and write both atomically."""
    from lhotse import validate_recordings_and_supervisions

    validate_recordings_and_supervisions(recordings, supervisions)
    for kind, manifest in (("recordings", recordings), ("supervisions", supervisions)):
        with atomic_path(manifest_path(manifest_dir, corpus, kind, split)) as tmp:
            manifest.to_file(tmp)
