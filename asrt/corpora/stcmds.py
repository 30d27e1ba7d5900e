"""ST-CMDS (Free ST Chinese Mandarin Corpus, OpenSLR SLR38): 102,600 read utterances, 855 speakers,
about 100 hours of 16 kHz mobile-phone speech by Surfingtech, released without a dev or test set.

Layout after stage 0 (``corpus_dir``), one flat directory of three files per utterance::

    ST-CMDS-20170001_1-OS/
        20170001P00001A0001.wav        16 kHz, 16-bit mono
        20170001P00001A0001.txt        the transcript, one line of characters (often no final newline)
        20170001P00001A0001.metadata   recording and speaker metadata (not needed here)

A file name is the session ``20170001``, the speaker number ``P00001``, a letter (``A`` or ``I``,
the recording phone's system as far as anyone can tell) and the utterance number ``0001``. lhotse and
ESPnet take ``P00001A`` as the speaker, Kaldi's multi_cn takes ``P00001``; the manifests keep lhotse's
``P00001A`` while the held-out split below groups by the number ``P00001``, so that the two letters of
one number never straddle train and test whichever reading is right.

The split (no official one exists): a speaker number goes to dev when the sha1 of ``stcmds:<number>``,
read as a fraction of 2^64, is below ``DEV_FRACTION``, to test when below ``DEV_FRACTION +
TEST_FRACTION``, and to train otherwise. It depends on the number alone, so it is the same on every
machine and run, whatever order the files are listed in and whichever files are missing.
"""
from __future__ import annotations

import logging
import re
from collections import Counter
from pathlib import Path

from asrt.corpora.archives import fetch_and_extract
from asrt.corpora.utterances import Utterance, heldout_split, missing_paths, prepare_utterances, warn_if_incomplete
from asrt.text.normalize import TextRules, normalize_transcript

NAME = "stcmds"
SPLITS = ("train", "dev", "test")
# The corpus's transcript conventions, applied before the shared rule of asrt.text.normalize.
TEXT_RULES = TextRules(note="one line of characters per .txt file, some with commas, no markers; the few "
                            "with Latin letters are rejected")
OPENSLR_ID = 38
ARCHIVE = "ST-CMDS-20170001_1-OS.tar.gz"
# OpenSLR publishes no md5 for this archive; its size in bytes (as Kaldi's multi_cn checks it) is verified instead.
ARCHIVE_MD5 = None
ARCHIVE_BYTES = 8231662593
TOP_DIR = "ST-CMDS-20170001_1-OS"
# The full corpus: 102,600 audio files, each with its transcript (lhotse's recipes/stcmds.py docstring,
# Kaldi's egs/multi_cn/s5/local/stcmds_data_prep.sh checks the count). The split is asrt's own, so no
# anchor gives per-split counts.
EXPECTED_AUDIO_FILES = 102600
EXPECTED_UTTERANCES: dict[str, int] = {}
DEV_FRACTION = 0.05
TEST_FRACTION = 0.05

_NAME_RE = re.compile(r"^(?P<session>\d{8})(?P<number>P\d{5})(?P<letter>[A-Z])(?P<utt>\d{4})$")


def speaker_of(utt_id: str) -> tuple[str, str] | None:
    """``(speaker, split key)`` of an utterance id, e.g. ``("P00001A", "P00001")``; None if it is not one."""
    m = _NAME_RE.match(utt_id)
    if m is None:
        return None
    return m["number"] + m["letter"], m["number"]


def split_of(number: str) -> str:
    """The split of speaker number ``number`` (``P00001``): see the module docstring."""
    return heldout_split(number, DEV_FRACTION, TEST_FRACTION, salt=NAME)


def check_layout(corpus_dir: Path) -> list[str]:
    """What is missing from an extracted ST-CMDS under ``corpus_dir`` (empty when it looks complete)."""
    root = Path(corpus_dir) / TOP_DIR
    missing = missing_paths(Path(corpus_dir), [TOP_DIR])
    if not missing and next(root.glob("*.wav"), None) is None:
        missing.append(f"{TOP_DIR}/*.wav")
    return missing


def download(corpus_dir: Path, config: dict, num_jobs: int = 1, resume: bool = False) -> None:
    """Stage 0: fetch and unpack SLR38 into ``corpus_dir``, unless it already holds the corpus."""
    fetch_and_extract(NAME, Path(corpus_dir), config, OPENSLR_ID, [(ARCHIVE, ARCHIVE_MD5, ARCHIVE_BYTES)],
                      check_layout)


def read_utterances(corpus_dir: Path) -> dict[str, list[Utterance]]:
    """Every ST-CMDS utterance with a usable transcript (normalised), by split."""
    root = Path(corpus_dir) / TOP_DIR
    by_split: dict[str, list[Utterance]] = {s: [] for s in SPLITS}
    skipped = Counter()
    for wav in sorted(root.glob("*.wav")):
        ids = speaker_of(wav.stem)
        txt = wav.with_suffix(".txt")
        if ids is None:
            skipped["an unexpected file name"] += 1  # its speaker cannot be told
            continue
        if not txt.is_file():
            skipped["no transcript"] += 1
            continue
        speaker, number = ids
        text = normalize_transcript(txt.read_text(encoding="utf-8-sig"), TEXT_RULES)
        if text is None:
            skipped["a transcript without a Mandarin reading"] += 1
            continue
        by_split[split_of(number)].append(Utterance(wav.stem, wav, speaker, text))
    for why, n in skipped.items():
        logging.warning("ST-CMDS: skipped %d audio files with %s", n, why)
    warn_if_incomplete("ST-CMDS", sum(len(v) for v in by_split.values()) + sum(skipped.values()), EXPECTED_AUDIO_FILES)
    return by_split


def prepare(corpus_dir: Path, manifest_dir: Path) -> None:
    """Stage 1: manifests for the speaker-disjoint train / dev / test split."""
    prepare_utterances(NAME, corpus_dir, manifest_dir, check_layout, read_utterances)
