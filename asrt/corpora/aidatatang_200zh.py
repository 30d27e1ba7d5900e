"""aidatatang_200zh (OpenSLR SLR62): 200 hours of read Mandarin from 600 speakers, recorded on Android
and iOS phones by Beijing DataTang, with an official speaker-disjoint train / dev / test split.

The archive ``aidatatang_200zh.tgz`` holds one inner tarball per speaker, ``corpus/<split>/G0002.tar.gz``;
stage 0 unpacks every inner tarball where it lies and deletes it (as Kaldi's recipe does), leaving::

    aidatatang_200zh/
        transcript/aidatatang_200_zh_transcript.txt   <utt> <word-segmented text>, all splits
        corpus/{train,dev,test}/G0002/T0055G0002S0001.wav   (+ .txt, .metadata per utterance)

A transcript line is ``T0055G0002S0001 以后 你 是 男孩 子``: the spaces are word segmentation and are
removed. The speaker is the directory (``G0002``), as in lhotse and Kaldi.
"""
from __future__ import annotations

import functools
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tqdm import tqdm

from asrt.corpora.archives import fetch_and_extract
from asrt.corpora.utterances import (Utterance, missing_paths, prepare_utterances, read_transcripts, warn_if_incomplete,
                                     warn_if_split_incomplete)
from asrt.text.normalize import TextRules, normalize_transcript

NAME = "aidatatang_200zh"
SPLITS = ("train", "dev", "test")
# The corpus's transcript conventions, applied before the shared rule of asrt.text.normalize.
TEXT_RULES = TextRules(note="words separated by spaces, no markers; the few with (full-width) Latin "
                            "letters are rejected")
OPENSLR_ID = 62
ARCHIVE = "aidatatang_200zh.tgz"
ARCHIVE_MD5 = "6e0f4f39cd5f667a7ee53c397c8d0949"  # as PaddleSpeech's dataset/aidatatang_200zh verifies it
ARCHIVE_BYTES = 18756983399
TOP_DIR = "aidatatang_200zh"
TRANSCRIPT = f"{TOP_DIR}/transcript/aidatatang_200_zh_transcript.txt"
EXTRACTED = [TRANSCRIPT, *(f"{TOP_DIR}/corpus/{s}" for s in SPLITS)]  # what the archive unpacks to
# The full corpus: 237,265 audio files (Kaldi's egs/multi_cn/s5/local/aidatatang_data_prep.sh checks the
# count); dev 24,216 and test 48,144 transcribed utterances (the Snt column of ESPnet's
# egs2/aidatatang_200zh/asr1/README.md), train 164,905 the difference (no anchor states it).
EXPECTED_AUDIO_FILES = 237265
EXPECTED_UTTERANCES = {"train": 164905, "dev": 24216, "test": 48144}


def check_layout(corpus_dir: Path) -> list[str]:
    """What is missing from an extracted aidatatang_200zh (inner tarballs still packed count as missing)."""
    corpus_dir = Path(corpus_dir)
    missing = missing_paths(corpus_dir, EXTRACTED)
    for split in SPLITS:
        split_dir = corpus_dir / TOP_DIR / "corpus" / split
        if split_dir.is_dir() and next(split_dir.glob("*.tar.gz"), None) is not None:
            missing.append(f"{TOP_DIR}/corpus/{split}/*/ (inner tarballs not unpacked)")
    return missing


def unpack_speaker_tarballs(corpus_dir: Path, num_jobs: int = 1) -> None:
    """Unpack each ``corpus/<split>/<speaker>.tar.gz`` in place, then delete it (its marker stays)."""
    from asrt.corpora.download import extract

    def unpack(tarball: Path) -> None:
        extract(tarball, tarball.parent)
        tarball.unlink()

    for split in SPLITS:
        tarballs = sorted((Path(corpus_dir) / TOP_DIR / "corpus" / split).glob("*.tar.gz"))
        if tarballs:
            logging.info("aidatatang_200zh: unpacking %d speaker tarballs of %s", len(tarballs), split)
            with ThreadPoolExecutor(max(1, num_jobs)) as pool:
                list(tqdm(pool.map(unpack, tarballs), total=len(tarballs), desc=f"{NAME} {split} speaker tarballs",
                          unit="tarball", disable=None, mininterval=2.0))


def download(corpus_dir: Path, config: dict, num_jobs: int = 1, resume: bool = False) -> None:
    """Stage 0: fetch SLR62 into ``corpus_dir``, unpack it and its per-speaker tarballs.

    An archive already unpacked (by an earlier run or by hand) only gets its speaker tarballs unpacked.
    """
    corpus_dir = Path(corpus_dir)
    if not missing_paths(corpus_dir, EXTRACTED):
        unpack_speaker_tarballs(corpus_dir, num_jobs)
    fetch_and_extract(NAME, corpus_dir, config, OPENSLR_ID, [(ARCHIVE, ARCHIVE_MD5, ARCHIVE_BYTES)],
                      check_layout, after_extract=functools.partial(unpack_speaker_tarballs, num_jobs=num_jobs))


def read_utterances(corpus_dir: Path) -> dict[str, list[Utterance]]:
    """Every utterance with audio and a usable transcript (normalised), by official split."""
    corpus_dir = Path(corpus_dir)
    texts = read_transcripts(corpus_dir / TRANSCRIPT)
    by_split: dict[str, list[Utterance]] = {}
    no_text = rejected = 0
    for split in SPLITS:
        by_split[split], split_rejected = [], 0
        for wav in sorted((corpus_dir / TOP_DIR / "corpus" / split).glob("*/*.wav")):
            if wav.stem not in texts:
                no_text += 1
                continue
            text = normalize_transcript(texts[wav.stem], TEXT_RULES)
            if text is None:
                split_rejected += 1
                continue
            by_split[split].append(Utterance(wav.stem, wav, wav.parent.name, text))
        warn_if_split_incomplete(NAME, split, len(by_split[split]), split_rejected, EXPECTED_UTTERANCES)
        rejected += split_rejected
    if no_text or rejected:
        logging.warning("aidatatang_200zh: skipped %d audio files without a transcript and %d transcripts "
                        "without a Mandarin reading", no_text, rejected)
    warn_if_incomplete(NAME, sum(len(v) for v in by_split.values()) + rejected + no_text, EXPECTED_AUDIO_FILES)
    return by_split


def prepare(corpus_dir: Path, manifest_dir: Path) -> None:
    """Stage 1: manifests for the official train / dev / test split."""
    prepare_utterances(NAME, corpus_dir, manifest_dir, check_layout, read_utterances)
