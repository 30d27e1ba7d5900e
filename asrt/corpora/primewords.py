"""Primewords Chinese Corpus Set 1 (OpenSLR SLR47): about 100 hours of read Mandarin recorded on smart
phones by 296 speakers, 50,384 audio files, released by Shanghai Primewords without a dev or test set.

Layout after stage 0 (``corpus_dir``)::

    primewords_md_2018_set1/
        set1_transcript.json            one JSON array, one record per utterance
        audio_files/<h>/<hh>/<uuid>.wav the file's first one and first two hex digits shard the files

A record of ``set1_transcript.json`` (word-segmented text, string ids; further fields are ignored)::

    {"id": "1", "text": "今天 天气 很 好", "user_id": "257", "file": "0a1b2c3d-....wav"}

Odd cases of the real file: 50,902 records for 50,384 audio files, because 518 records repeat a file.
A repeated file whose records agree is kept once; one whose records disagree on text or speaker cannot
be trusted and is dropped. Records without audio and audio without a record are skipped with a warning.

The split (no official one exists): a speaker (``user_id``) goes to dev when the sha1 of
``primewords:<user_id>``, read as a fraction of 2^64, is below ``DEV_FRACTION``, to test when below
``DEV_FRACTION + TEST_FRACTION``, and to train otherwise: the same on every machine and run, whatever
the order of the records or files, and never moved by other speakers being added or missing.
"""
from __future__ import annotations

import json
import logging
from collections import defaultdict
from pathlib import Path

from asrt.corpora.archives import fetch_and_extract
from asrt.corpora.utterances import Utterance, heldout_split, missing_paths, prepare_utterances, warn_if_incomplete
from asrt.text.normalize import TextRules, normalize_transcript

NAME = "primewords"
SPLITS = ("train", "dev", "test")
# The corpus's transcript conventions, applied before the shared rule of asrt.text.normalize.
TEXT_RULES = TextRules(note="words separated by spaces, no markers; the few with Latin letters are "
                            "rejected")
OPENSLR_ID = 47
ARCHIVE = "primewords_md_2018_set1.tar.gz"
# OpenSLR publishes no md5 for this archive; its size in bytes (as Kaldi's multi_cn checks it) is verified instead.
ARCHIVE_MD5 = None
ARCHIVE_BYTES = 9057625192
TOP_DIR = "primewords_md_2018_set1"
TRANSCRIPT = f"{TOP_DIR}/set1_transcript.json"
AUDIO_DIR = f"{TOP_DIR}/audio_files"
# The full corpus: 50,384 audio files (Kaldi's egs/multi_cn/s5/local/primewords_data_prep.sh checks the
# count). The split is asrt's own, so no anchor gives per-split counts.
EXPECTED_AUDIO_FILES = 50384
EXPECTED_UTTERANCES: dict[str, int] = {}
DEV_FRACTION = 0.05
TEST_FRACTION = 0.05


def split_of(user_id: str) -> str:
    """The split of speaker ``user_id``: see the module docstring."""
    return heldout_split(user_id, DEV_FRACTION, TEST_FRACTION, salt=NAME)


def check_layout(corpus_dir: Path) -> list[str]:
    """What is missing from an extracted Primewords set 1 under ``corpus_dir``."""
    return missing_paths(Path(corpus_dir), [TRANSCRIPT, AUDIO_DIR])


def download(corpus_dir: Path, config: dict, num_jobs: int = 1, resume: bool = False) -> None:
    """Stage 0: fetch and unpack SLR47 into ``corpus_dir``, unless it already holds the corpus."""
    fetch_and_extract(NAME, Path(corpus_dir), config, OPENSLR_ID, [(ARCHIVE, ARCHIVE_MD5, ARCHIVE_BYTES)],
                      check_layout)


def read_records(transcript: Path) -> dict[str, tuple[str, str] | None]:
    """``file -> (user_id, text)`` from ``set1_transcript.json``; None for a file whose repeated records
    disagree (see the module docstring)."""
    records: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for rec in json.loads(Path(transcript).read_text(encoding="utf-8-sig")):
        records[rec["file"]].add((str(rec["user_id"]), str(rec["text"])))
    out = {f: next(iter(values)) if len(values) == 1 else None for f, values in records.items()}
    conflicting = sum(v is None for v in out.values())
    if conflicting:
        logging.warning("Primewords: left out %d audio files whose repeated records disagree", conflicting)
    return out


def read_utterances(corpus_dir: Path) -> dict[str, list[Utterance]]:
    """Every Primewords utterance with audio and a usable record (text normalised), by split."""
    corpus_dir = Path(corpus_dir)
    records = read_records(corpus_dir / TRANSCRIPT)
    audio = {p.name: p for p in sorted((corpus_dir / AUDIO_DIR).rglob("*.wav"))}
    warn_if_incomplete("Primewords", len(audio), EXPECTED_AUDIO_FILES)
    by_split: dict[str, list[Utterance]] = {s: [] for s in SPLITS}
    rejected = 0
    for file_name, path in audio.items():
        if records.get(file_name) is None:
            continue
        user_id, raw = records[file_name]
        text = normalize_transcript(raw, TEXT_RULES)  # also drops the word segmentation
        if text is None:
            rejected += 1
            continue
        by_split[split_of(user_id)].append(Utterance(path.stem, path, user_id, text))
    if rejected:
        logging.warning("Primewords: left out %d transcripts without a Mandarin reading", rejected)
    no_audio, no_record = len(records.keys() - audio.keys()), len(audio.keys() - records.keys())
    if no_audio or no_record:
        logging.warning("Primewords: skipped %d records without audio and %d audio files without a record",
                        no_audio, no_record)
    return by_split


def prepare(corpus_dir: Path, manifest_dir: Path) -> None:
    """Stage 1: manifests for the speaker-disjoint train / dev / test split."""
    prepare_utterances(NAME, corpus_dir, manifest_dir, check_layout, read_utterances)
