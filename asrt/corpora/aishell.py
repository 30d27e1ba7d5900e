"""AISHELL-1 (OpenSLR SLR33): 178 hours of read Mandarin, 400 speakers, 16 kHz, official train/dev/test.

On-disk layout once ``data_aishell.tgz`` is extracted into ``corpus_dir`` (as lhotse and Kaldi expect)::

    data_aishell/transcript/aishell_transcript_v0.8.txt    <utt-id> <words separated by spaces>
    data_aishell/wav/S0002.tar.gz ... S0916.tar.gz          one tarball per speaker, each holding
                                                             <split>/<speaker>/<utt-id>.wav
    resource_aishell/{lexicon.txt,speaker.info}             from resource_aishell.tgz

Transcript line: ``BAC009S0002W0122 而 对 楼市 成交 抑制 作用 最 大 的 限 购``. The speaker is the
directory name (``S0002``); train has 340 speakers, dev 40, test 20, disjoint. Some wav files have no
transcript line (Kaldi and lhotse skip them too). Stage 0 unpacks the per-speaker tarballs, which lhotse's
``download_aishell`` does but a hand-extracted corpus lacks; text rules: ``TEXT_RULES``.
"""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tqdm import tqdm

from asrt.corpora.archives import fetch_and_extract
from asrt.corpora.download import extract
from asrt.corpora.utterances import (Utterance, read_transcripts, warn_if_incomplete, warn_if_split_incomplete,
                                     write_utterance_manifests)
from asrt.text.normalize import TextRules, normalize_transcript

SPLITS = ("train", "dev", "test")
# The corpus's transcript conventions, applied before the shared rule of asrt.text.normalize.
TEXT_RULES = TextRules(note="words separated by spaces, no markers; the few transcripts with spoken "
                            "letters (full-width ａ, ｂ, ｃ, ｋ, ｔ, which lhotse and WeNet map to A B C K T) are rejected")
# The full corpus: transcribed utterances per split (the corpus paper, Bu et al. 2017, Table 1; the
# published split sizes), and audio files (Kaldi's egs/aishell/s5/local/aishell_data_prep.sh checks for
# 141,925: 325 more than the 141,600 transcribed, the wavs without a transcript line).
EXPECTED_UTTERANCES = {"train": 120098, "dev": 14326, "test": 7176}
EXPECTED_AUDIO_FILES = 141925
OPENSLR_ID = 33
# md5 sums as published with PaddleSpeech's AISHELL-1 download script.
ARCHIVES = [("data_aishell.tgz", "2f494334227864a8a8fec932999db9d8", None),
            ("resource_aishell.tgz", "957d480a0fcac85fc18e550756f624e5", None)]
TRANSCRIPT = Path("data_aishell/transcript/aishell_transcript_v0.8.txt")
WAV_DIR = Path("data_aishell/wav")


def speaker_tarballs(corpus_dir: Path) -> list[Path]:
    """The per-speaker tarballs ``data_aishell/wav/S*.tar.gz`` (still there, unpacked or not)."""
    return sorted((Path(corpus_dir) / WAV_DIR).glob("*.tar.gz"))


def packed_speakers(corpus_dir: Path) -> list[Path]:
    """The per-speaker tarballs not unpacked yet: neither stage 0's marker nor lhotse's ``.completed``."""
    if (Path(corpus_dir) / "data_aishell" / ".completed").exists():  # lhotse's download_aishell unpacked them
        return []
    return [t for t in speaker_tarballs(corpus_dir) if not (t.parent / f".{t.name}.extracted").exists()]


def unpack_speakers(corpus_dir: Path, num_jobs: int = 1) -> int:
    """Unpack every per-speaker tarball not unpacked yet into ``data_aishell/wav``; return how many.

    The tarballs stay (a marker records each one done); delete them by hand to save 15 GB.
    """
    wav_dir = Path(corpus_dir) / WAV_DIR
    todo = packed_speakers(corpus_dir)
    if todo:
        logging.info("Unpacking %d per-speaker tarballs in %s", len(todo), wav_dir)
        for split in SPLITS:  # made once here: threads creating a shared parent at once would race
            (wav_dir / split).mkdir(exist_ok=True)
    with ThreadPoolExecutor(max(1, num_jobs)) as pool:
        list(tqdm(pool.map(lambda tarball: extract(tarball, wav_dir), todo), total=len(todo),
                  desc="AISHELL-1 speaker tarballs", unit="tarball", disable=None, mininterval=2.0))
    return len(todo)


def missing_layout(corpus_dir: Path) -> list[str]:
    """What of the extracted ``data_aishell.tgz`` is missing from ``corpus_dir`` (empty when complete)."""
    return [str(p) for p in (TRANSCRIPT, WAV_DIR) if not (Path(corpus_dir) / p).exists()]


def download(corpus_dir: Path, config: dict, num_jobs: int = 1, resume: bool = False) -> None:
    """Stage 0: download and extract AISHELL-1 unless ``corpus_dir`` holds it; unpack the speaker tarballs."""
    fetch_and_extract("AISHELL-1", corpus_dir, config, OPENSLR_ID, ARCHIVES, missing_layout)
    unpack_speakers(corpus_dir, num_jobs)


def prepare(corpus_dir: Path, manifest_dir: Path) -> None:
    """Stage 1: recordings and normalised supervisions per split (``aishell_{recordings,supervisions}_<split>``)."""
    corpus_dir = Path(corpus_dir)
    if not (corpus_dir / TRANSCRIPT).exists():
        raise FileNotFoundError(f"{corpus_dir / TRANSCRIPT} is missing: run stage 0, or point --corpus-dir at "
                                "the directory that holds data_aishell/.")
    packed = [t.name for t in packed_speakers(corpus_dir)]
    if packed:
        raise FileNotFoundError(f"{len(packed)} per-speaker tarballs in {corpus_dir / WAV_DIR} (e.g. {packed[0]}) "
                                "are not unpacked: run stage 0.")
    transcripts = read_transcripts(corpus_dir / TRANSCRIPT)
    audio_files = 0
    for split in SPLITS:
        wavs = sorted((corpus_dir / WAV_DIR / split).glob("*/*.wav"))
        if not wavs:
            raise FileNotFoundError(f"no audio in {corpus_dir / WAV_DIR / split}: run stage 0.")
        audio_files += len(wavs)
        utterances, rejected = read_split(wavs, transcripts)
        untranscribed = len(wavs) - len(utterances) - rejected
        if untranscribed or rejected:
            logging.info("aishell %s: left out %d wavs without a transcript line and %d transcripts the text "
                         "rules reject", split, untranscribed, rejected)
        warn_if_split_incomplete("aishell", split, len(utterances), rejected, EXPECTED_UTTERANCES)
        write_utterance_manifests(manifest_dir, "aishell", split, utterances)
    warn_if_incomplete("aishell", audio_files, EXPECTED_AUDIO_FILES)


def read_split(wavs: list[Path], transcripts: dict[str, str]) -> tuple[list[Utterance], int]:
    """The utterances of ``wavs`` that have a transcript line the text rules accept, and how many lines they
    reject; the speaker is the directory (``S0002``, as lhotse names it; Kaldi prefixes ``BAC009``)."""
    utterances, rejected = [], 0
    for wav in wavs:
        if wav.stem not in transcripts:
            continue
        text = normalize_transcript(transcripts[wav.stem], TEXT_RULES)
        if text is None:
            rejected += 1
            continue
        utterances.append(Utterance(id=wav.stem, audio=wav, speaker=wav.parent.name, text=text))
    return utterances, rejected


def extra_lm_text(corpus_dir: Path) -> list[Path]:
    """None: the LM trains on the training transcripts only (the transcript file also holds dev and test)."""
    return []
