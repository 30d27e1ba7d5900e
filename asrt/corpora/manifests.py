"""Atomic writing of lhotse manifests, named as :func:`asrt.names.manifest_path` says."""
from __future__ import annotations

from pathlib import Path

from asrt.fileio import atomic_path
from asrt.names import manifest_path


def write_manifests(manifest_dir: Path, corpus: str, split: str, recordings, supervisions) -> None:
    """Validate a split's recordings and supervisions together and write both atomically."""
    from lhotse import validate_recordings_and_supervisions

    validate_recordings_and_supervisions(recordings, supervisions)
    for kind, manifest in (("recordings", recordings), ("supervisions", supervisions)):
        with atomic_path(manifest_path(manifest_dir, corpus, kind, split)) as tmp:
            manifest.to_file(tmp)
