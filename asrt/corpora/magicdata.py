"""MAGICDATA Mandarin Chinese Read Speech Corpus (OpenSLR SLR68): 755 hours of read Mandarin, mostly
recorded on mobile phones, by 1,080 speakers, with an official speaker-disjoint train / dev / test split.

Layout after stage 0 (``corpus_dir``; one archive per split, ``{train,dev,test}_set.tar.gz``)::

    {train,dev,test}/
        TRANS.txt                      tab-separated, a header line, then one line per utterance
        <speaker>/<utterance>.wav      e.g. 38_5716/38_5716_20170914202211.wav

``TRANS.txt``::

    UtteranceID<TAB>SpeakerID<TAB>Transcription
    38_5716_20170914202211.wav<TAB>38_5716<TAB>我要听[FIL]周杰伦的歌

Transcripts carry bracketed markers for what is not a word of the prompt: ``[FIL]`` (a filled pause),
``[SPK]`` (speaker noise) and the like are removed, as lhotse does (Kaldi and WeNet keep them as
tokens); ``[*]`` marks speech the
transcriber could not make out, so the reference is incomplete and the utterance is left out. Two
utterances known to be broken (listed by lhotse) are left out too. Transcripts with Latin letters are
rejected by the shared rule. The rules are this module's ``TEXT_RULES``.
"""
from __future__ import annotations

import logging
from pathlib import Path

from asrt.corpora.archives import fetch_and_extract
from asrt.corpora.utterances import (Utterance, missing_paths, prepare_utterances, warn_if_incomplete,
                                     warn_if_split_incomplete)
from asrt.text.normalize import TextRules, normalize_transcript

NAME = "magicdata"
SPLITS = ("train", "dev", "test")
# The corpus's transcript conventions, applied before the shared rule of asrt.text.normalize.
TEXT_RULES = TextRules(remove=(r"\[\s*[A-Za-z]+\s*\]",), reject=(r"\[\s*\*\s*\]",),
                       note="bracketed markers of non-speech: [FIL] filled pause and [SPK] speaker noise "
                            "are removed (as lhotse does; Kaldi keeps them as tokens), as is any other [WORD] "
                            "tag; [*] marks "
                            "speech the transcriber could not make out, so the transcript is rejected")
OPENSLR_ID = 68
# OpenSLR publishes no md5 for these archives; their sizes in bytes (as Kaldi's multi_cn checks them) are verified.
ARCHIVES = [(f"{s}_set.tar.gz", None, size)
            for s, size in (("train", 52627842921), ("dev", 1035537823), ("test", 2201936013))]
# The full corpus: 609,552 audio files (Kaldi's egs/multi_cn/s5/local/magicdata_data_prep.sh checks the
# count); test 24,279 transcribed utterances (the Snt column of ESPnet's egs2/magicdata/asr1/README.md).
# No anchor read here states the train and dev counts.
EXPECTED_AUDIO_FILES = 609552
EXPECTED_UTTERANCES = {"test": 24279}
BAD_UTTERANCES = frozenset({"16_4013_20170819121429", "18_1565_20170712000170"})


def check_layout(corpus_dir: Path) -> list[str]:
    """What is missing from an extracted MAGICDATA under ``corpus_dir``."""
    return missing_paths(Path(corpus_dir), [f"{s}/TRANS.txt" for s in SPLITS])


def download(corpus_dir: Path, config: dict, num_jobs: int = 1, resume: bool = False) -> None:
    """Stage 0: fetch and unpack the three SLR68 archives into ``corpus_dir``, unless it already holds them."""
    fetch_and_extract(NAME, Path(corpus_dir), config, OPENSLR_ID, ARCHIVES, check_layout)


def read_trans(path: Path) -> dict[str, tuple[str, str]]:
    """``utterance id -> (speaker, raw transcript)`` from one ``TRANS.txt``."""
    out = {}
    for line in Path(path).read_text(encoding="utf-8-sig").splitlines():
        fields = line.split("\t") if "\t" in line else line.split(maxsplit=2)
        if len(fields) < 3 or fields[0] == "UtteranceID" or not fields[0].endswith(".wav"):
            continue
        out[fields[0][: -len(".wav")]] = (fields[1].strip(), fields[2].strip())
    return out


def read_utterances(corpus_dir: Path) -> dict[str, list[Utterance]]:
    """Every utterance with audio and a usable transcript (markers removed, normalised), by official split."""
    corpus_dir = Path(corpus_dir)
    by_split: dict[str, list[Utterance]] = {}
    dropped = no_text = 0
    for split in SPLITS:
        trans = read_trans(corpus_dir / split / "TRANS.txt")
        by_split[split], split_dropped = [], 0
        for wav in sorted((corpus_dir / split).glob("*/*.wav")):
            if wav.stem not in trans:
                no_text += 1
                continue
            speaker, raw = trans[wav.stem]
            text = None if wav.stem in BAD_UTTERANCES else normalize_transcript(raw, TEXT_RULES)
            if text is None:
                split_dropped += 1
                continue
            by_split[split].append(Utterance(wav.stem, wav, speaker, text))
        warn_if_split_incomplete("MAGICDATA", split, len(by_split[split]), split_dropped, EXPECTED_UTTERANCES)
        dropped += split_dropped
    if dropped or no_text:
        logging.warning("MAGICDATA: left out %d utterances (unintelligible, not Mandarin, or known broken) "
                        "and %d audio files without a transcript", dropped, no_text)
    warn_if_incomplete("MAGICDATA", sum(len(v) for v in by_split.values()) + dropped + no_text, EXPECTED_AUDIO_FILES)
    return by_split


def prepare(corpus_dir: Path, manifest_dir: Path) -> None:
    """Stage 1: manifests for the official train / dev / test split."""
    prepare_utterances(NAME, corpus_dir, manifest_dir, check_layout, read_utterances)
