"""What the read-speech corpora (AISHELL-1, ST-CMDS, Primewords, aidatatang_200zh, MAGICDATA) share: one
audio file per utterance, a speaker-disjoint held-out split where the corpus has none (ST-CMDS,
Primewords), and manifests written in utterance-id order so that they never depend on the order a file
system lists the files in.
"""
from __future__ import annotations

import hashlib
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from asrt.manifests import write_manifests

# Reading 100k WAV headers is I/O-bound; threads overlap the waits.
HEADER_THREADS = 8


@dataclass(frozen=True)
class Utterance:
    """One utterance of a corpus: its audio file, speaker and transcript (markers already removed)."""

    id: str
    audio: Path
    speaker: str
    text: str


def hash_fraction(key: str, salt: str) -> float:
    """A number in [0, 1) fixed by ``salt`` and ``key`` alone (sha1), the same on every machine and run."""
    digest = hashlib.sha1(f"{salt}:{key}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def heldout_split(key: str, dev_fraction: float, test_fraction: float, salt: str) -> str:
    """Assign a speaker (``key``) to ``dev``, ``test`` or ``train`` by :func:`hash_fraction`.

    A speaker's split depends on its own id only: adding, removing or reordering other speakers or
    files never moves it, and all of a speaker's utterances land in one split.
    """
    h = hash_fraction(key, salt)
    if h < dev_fraction:
        return "dev"
    if h < dev_fraction + test_fraction:
        return "test"
    return "train"


def write_utterance_manifests(manifest_dir: Path, corpus: str, split: str, utterances: list[Utterance]) -> None:
    """Write the recordings and supervisions of ``utterances`` (sorted by id) for one split."""
    from lhotse import Recording, RecordingSet, SupervisionSegment, SupervisionSet

    if not utterances:
        raise ValueError(f"{corpus}: the {split} split has no utterances; check the corpus directory.")
    utterances = sorted(utterances, key=lambda u: u.id)
    ids = [u.id for u in utterances]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{corpus}: duplicate utterance ids in the {split} split")
    with ThreadPoolExecutor(HEADER_THREADS) as pool:
        recordings = list(pool.map(lambda u: Recording.from_file(u.audio, recording_id=u.id), utterances))
    supervisions = [
        SupervisionSegment(id=u.id, recording_id=u.id, start=0.0, duration=rec.duration, channel=0, text=u.text,
                           language="Chinese", speaker=u.speaker)
        for u, rec in zip(utterances, recordings)]
    write_manifests(manifest_dir, corpus, split, RecordingSet.from_recordings(recordings),
                    SupervisionSet.from_segments(supervisions))
    logging.info("%s %s: %d utterances, %d speakers, %.1f hours", corpus, split, len(utterances),
                 len({u.speaker for u in utterances}), sum(r.duration for r in recordings) / 3600)


def missing_paths(root: Path, required: list[str]) -> list[str]:
    """Those of ``required`` (paths relative to ``root``) that do not exist."""
    return [rel for rel in required if not (Path(root) / rel).exists()]
