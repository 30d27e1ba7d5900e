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
from typing import Callable, Mapping

from tqdm import tqdm

from asrt.corpora.manifests import write_manifests

# Reading 100k WAV headers is I/O-bound; threads overlap the waits.
HEADER_THREADS = 8


@dataclass(frozen=True)
class Utterance:
    """One utterance of a corpus: its audio file, speaker and transcript (markers already removed)."""

    id: str
    audio: Path
    speaker: str
    text: str


def hash_fraction(key: str, salt: str = "") -> float:
    """A number in [0, 1) fixed by ``salt`` and ``key`` alone, the same on every machine and run: the first
    8 bytes of the sha1 of ``<salt>:<key>`` (of ``key`` alone without a salt, as mini_cmn's speakers) over 2^64."""
    digest = hashlib.sha1((f"{salt}:{key}" if salt else key).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def heldout_split(key: str, dev_fraction: float, test_fraction: float, salt: str = "") -> str:
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
        headers = pool.map(lambda u: Recording.from_file(u.audio, recording_id=u.id), utterances)
        recordings = list(tqdm(headers, total=len(utterances), desc=f"{corpus} {split}: audio headers",
                               unit="file", disable=None, mininterval=2.0))
    supervisions = [
        SupervisionSegment(id=u.id, recording_id=u.id, start=0.0, duration=rec.duration, channel=0, text=u.text,
                           language="Chinese", speaker=u.speaker)
        for u, rec in zip(utterances, recordings)]
    write_manifests(manifest_dir, corpus, split, RecordingSet.from_recordings(recordings),
                    SupervisionSet.from_segments(supervisions))
    logging.info("%s %s: %d utterances, %d speakers, %.1f hours", corpus, split, len(utterances),
                 len({u.speaker for u in utterances}), sum(r.duration for r in recordings) / 3600)


def prepare_utterances(name: str, corpus_dir: Path, manifest_dir: Path, check_layout: Callable[[Path], list[str]],
                       read_utterances: Callable[[Path], dict[str, list[Utterance]]]) -> None:
    """Stage 1 of a read-speech corpus: stop in one sentence unless ``corpus_dir`` holds the corpus, then
    write the manifests of every split that ``read_utterances`` returns."""
    from asrt.corpora.archives import require_layout

    require_layout(name, Path(corpus_dir), check_layout)
    for split, utterances in read_utterances(Path(corpus_dir)).items():
        write_utterance_manifests(manifest_dir, name, split, utterances)


def read_transcripts(path: Path) -> dict[str, str]:
    """``utterance id -> raw transcript`` from a file of ``<id> <transcript>`` lines (AISHELL-1's and
    aidatatang_200zh's, words still separated by spaces); lines without a transcript are skipped."""
    out = {}
    for line in Path(path).read_text(encoding="utf-8-sig").splitlines():
        fields = line.split(maxsplit=1)
        if len(fields) == 2:
            out[fields[0]] = fields[1]
    return out


def warn_if_incomplete(corpus: str, found: int, expected: int | None, what: str = "audio files",
                       detail: str = "") -> bool:
    """Warn when a corpus holds ``found`` ``what`` where the full corpus has ``expected`` (a partial copy
    is prepared all the same; None: no anchor gives the number). True when it warned."""
    if expected is None or found == expected:
        return False
    logging.warning("%s: found %d %s%s, the full corpus has %d", corpus, found, what, detail, expected)
    return True


def warn_if_split_incomplete(corpus: str, split: str, written: int, left_out: int,
                             expected: Mapping[str, int]) -> bool:
    """Warn when the ``written`` utterances of ``split`` plus the ``left_out`` ones (transcripts the text
    rules reject) differ from the full corpus's count of transcribed utterances, ``expected[split]`` (the
    corpus module's ``EXPECTED_UTTERANCES``, from its anchors; a split missing there is not checked)."""
    return warn_if_incomplete(corpus, written + left_out, expected.get(split), f"transcribed {split} utterances",
                              f" ({written} written, {left_out} left out by the text rules)")


def missing_paths(root: Path, required: list[str]) -> list[str]:
    """Those of ``required`` (paths relative to ``root``) that do not exist."""
    return [rel for rel in required if not (Path(root) / rel).exists()]
