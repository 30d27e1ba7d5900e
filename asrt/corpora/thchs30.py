"""THCHS-30 (OpenSLR SLR18): about 30 hours of read Mandarin from Tsinghua University (CSLT), 16 kHz,
official train (10,000 utterances) / dev (893) / test (2,495).

On-disk layout once ``data_thchs30.tgz`` is extracted into ``corpus_dir``::

    data_thchs30/data/A11_0.wav, A11_0.wav.trn      every utterance's audio and transcript
    data_thchs30/{train,dev,test}/A11_0.wav          the split's audio
    data_thchs30/{train,dev,test}/A11_0.wav.trn      ``../data/A11_0.wav.trn``: a pointer to the transcript
    data_thchs30/lm_word/{word.3gram.lm,lexicon.txt}, data_thchs30/lm_phone/{phone.3gram.lm,lexicon.txt}
    data_thchs30/README.TXT

The corpus's README calls the split directories' files symlinks into ``data``; the ``.wav.trn`` files
in them are one-line text files naming their target relative to the split directory (PaddleSpeech
resolves them that way, Kaldi's ``thchs-30_data_prep.sh`` reads ``data/<utt>.wav.trn`` directly). Both
a real symlink and such a pointer are followed here. A transcript has three lines::

    绿 是 阳春 烟 景 大块 文章 的 底色 四月 的 林 峦 更是 绿 得 鲜活 秀媚 诗意 盎然
    lv4 shi4 yang2 chun1 yan1 jing3 da4 kuai4 wen2 zhang1 de5 di3 se4 si4 yue4 de5 lin2 luan2 geng4 shi4 lv4 de5 xian1 huo2 xiu4 mei4 shi1 yi4 ang4 ran2
    l v4 sh ix4 ii iang2 ch un1 ii ian1 j ing3 d a4 k uai4 uu un2 zh ang1 d e5 d i3 s e4 ...

words, their tonal pinyin (one syllable per character), phones. Line 2 is the reference pinyin
(``custom["pinyin"]``): it is what the speaker was asked to read, where pypinyin's reading may differ
(context readings such as ``ge5`` in 这个, 一's tone sandhi ``yi2`` in 一个, polyphones). lhotse's
``prepare_thchs_30`` keeps line 1 only. The speaker is the id's prefix (``A11``). Text rules:
``TEXT_RULES`` (a stray ``l =`` annotation in some line 1s is removed).
"""
from __future__ import annotations

import logging
from pathlib import Path

from asrt.corpora.archives import fetch_and_extract
from asrt.corpora.manifests import write_manifests
from asrt.corpora.utterances import warn_if_split_incomplete
from asrt.text.normalize import TextRules, normalize_transcript

SPLITS = ("train", "dev", "test")
# The corpus's transcript conventions, applied before the shared rule of asrt.text.normalize.
TEXT_RULES = TextRules(remove=(r"(?<![A-Za-z])l\s*=",),
                       note="line 1 words separated by spaces; a stray 'l =' annotation in some lines is "
                            "removed (lhotse removes it too); labels come from the pinyin line")
# Utterances per split of the full corpus (the corpus paper, Wang and Zhang 2015, arXiv:1512.01882, and its
# README.TXT): every wav has a transcript.
EXPECTED_UTTERANCES = {"train": 10000, "dev": 893, "test": 2495}
OPENSLR_ID = 18
# md5 as published with PaddleSpeech's THCHS-30 download script. test-noise.tgz (noisy test sets) and
# resource.tgz (dictionary, noise) are not needed for clean-speech recognition.
ARCHIVES = [("data_thchs30.tgz", "2d2252bde5c8429929e1841d4cb95e90", None)]
ROOT = Path("data_thchs30")


def missing_layout(corpus_dir: Path) -> list[str]:
    """What of the extracted ``data_thchs30.tgz`` is missing from ``corpus_dir`` (empty when complete)."""
    return [str(ROOT / d) for d in ("data", *SPLITS) if not (Path(corpus_dir) / ROOT / d).is_dir()]


def download(corpus_dir: Path, config: dict, num_jobs: int = 1, resume: bool = False) -> None:
    """Stage 0: download and extract THCHS-30 unless ``corpus_dir`` holds it."""
    fetch_and_extract("THCHS-30", corpus_dir, config, OPENSLR_ID, ARCHIVES, missing_layout)


def transcript_path(split_dir: Path, utt: str) -> Path:
    """The file holding ``utt``'s three transcript lines, following the split directory's pointer."""
    trn = Path(split_dir) / f"{utt}.wav.trn"
    if trn.is_file():  # a real symlink is followed by open(); a pointer holds one relative path
        first = trn.read_text(encoding="utf-8").strip()
        if "\n" not in first and first.endswith(".wav.trn"):
            return Path(split_dir) / first
        return trn
    return Path(split_dir).parent / "data" / f"{utt}.wav.trn"


def read_transcript(path: Path) -> tuple[str, str]:
    """(word line, pinyin line) of a ``.wav.trn`` file."""
    lines = [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    if len(lines) < 2:
        raise ValueError(f"{path}: expected word, pinyin and phone lines, got {len(lines)} line(s)")
    return lines[0], " ".join(lines[1].split())


def prepare(corpus_dir: Path, manifest_dir: Path) -> None:
    """Stage 1: recordings and supervisions (text from line 1, ``custom["pinyin"]`` from line 2) per split."""
    from lhotse import Recording, RecordingSet, SupervisionSegment, SupervisionSet

    corpus_dir = Path(corpus_dir)
    missing = missing_layout(corpus_dir)
    if missing:
        raise FileNotFoundError(f"{corpus_dir} does not hold THCHS-30 (missing {', '.join(missing)}): run stage 0, "
                                "or point --corpus-dir at the directory that holds data_thchs30/.")
    for split in SPLITS:
        split_dir = corpus_dir / ROOT / split
        wavs = sorted(split_dir.glob("*.wav"))
        if not wavs:
            raise FileNotFoundError(f"no audio in {split_dir}: the corpus is incomplete; rerun stage 0.")
        recordings, supervisions, rejected = [], [], 0
        for wav in wavs:
            utt = wav.name[: -len(".wav")]
            trn = transcript_path(split_dir, utt)
            if not trn.is_file():
                raise FileNotFoundError(f"{trn}, the transcript of {wav}, is missing: the corpus is incomplete.")
            words, pinyin = read_transcript(trn)
            text = normalize_transcript(words, TEXT_RULES)
            if text is None:
                rejected += 1
                continue
            rec = Recording.from_file(wav, recording_id=utt)
            recordings.append(rec)
            supervisions.append(SupervisionSegment(
                id=utt, recording_id=utt, start=0.0, duration=rec.duration, channel=0, text=text,
                language="Chinese", speaker=utt.split("_")[0], custom={"pinyin": pinyin}))
        write_manifests(manifest_dir, "thchs30", split, RecordingSet.from_recordings(recordings),
                        SupervisionSet.from_segments(supervisions))
        logging.info("thchs30 %s: %d utterances of %d speakers, %.1f h; %d rejected by the text rules", split,
                     len(recordings), len({s.speaker for s in supervisions}),
                     sum(r.duration for r in recordings) / 3600, rejected)
        warn_if_split_incomplete("thchs30", split, len(recordings), rejected, EXPECTED_UTTERANCES)


def extra_lm_text(corpus_dir: Path) -> list[Path]:
    """None: the LM trains on the training transcripts (dev and test sentences stay unseen).

    THCHS-30's own ``lm_word/word.3gram.lm`` is a word ARPA model, not text; it is not used.
    """
    return []
