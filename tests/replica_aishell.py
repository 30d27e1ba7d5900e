"""A miniature AISHELL-1 in the real corpus's on-disk layout, as ``data_aishell.tgz`` and
``resource_aishell.tgz`` extract (OpenSLR SLR33; lhotse's ``recipes/aishell.py``, Kaldi's
``egs/aishell/s5/local/aishell_data_prep.sh``)::

    data_aishell/transcript/aishell_transcript_v0.8.txt   BAC009S0002W0122 而 对 楼市 成交 ...
    data_aishell/wav/S0002.tar.gz                         members train/S0002/BAC009S0002W0122.wav ...
    resource_aishell/lexicon.txt, resource_aishell/speaker.info

The per-speaker tarballs are left packed, as in the real archive: stage 0 must unpack them. Audio is
16 kHz 16-bit mono WAV (espeak-ng), 17 utterances of 7 speakers, speaker-disjoint splits. Quirks of the
real corpus kept: one wav without a transcript line, one transcript with a full-width Latin letter
(rejected by the text rules), transcript lines of utterances whose audio is not in the corpus.
"""
from __future__ import annotations

import tarfile
from pathlib import Path

from replica_audio import write_speech

from asrt.text.pinyin import text_to_pinyin

# split -> speaker -> [(utterance number, transcript as the corpus writes it: words separated by spaces)]
UTTERANCES = {
    "train": {
        "S0002": [(122, "楼市 成交 量 下降"), (123, "北京 天气 很 好"), (124, "我们 今天 开会")],
        "S0003": [(301, "房价 上涨"), (302, "人民 银行 利率"), (303, "这个 城市 很 大")],
        "S0004": [(88, "经济 增长"), (89, "我们 去 银行"), (90, "今天 下雨")],
    },
    "dev": {"S0724": [(1, "楼市 成交"), (2, "天气 很 好")], "S0725": [(5, "我们 开会")]},
    "test": {"S0764": [(11, "房价 下降"), (12, "银行 利率")],
             "S0765": [(7, "这个 城市"), (8, "经济 增长 很 大")]},
}
NO_TRANSCRIPT = "BAC009S0003W0304"  # audio in the tarball, no line in the transcript file
LATIN = ("BAC009S0004W0091", "做 Ｂ 超 检查")  # rejected: a spoken Latin letter
TRANSCRIPT_ONLY = ("BAC009S0005W0001", "没有 音频 的 句子")  # a line whose speaker is not in this replica


def utt_id(speaker: str, number: int) -> str:
    """AISHELL-1's utterance id: ``BAC009`` + speaker + ``W`` + four digits."""
    return f"BAC009{speaker}W{number:04d}"


def _speaker_number(speaker: str) -> int:
    return int(speaker[1:])


def build(root: Path) -> Path:
    """Write the replica under ``root`` (the corpus directory) and return ``root``."""
    root = Path(root)
    wav_dir = root / "data_aishell" / "wav"
    staging = root / "staging"
    lines = []
    for split, speakers in UTTERANCES.items():
        for speaker, utts in speakers.items():
            members = []
            for number, words in utts:
                uid = utt_id(speaker, number)
                members.append((uid, "".join(words.split())))
                lines.append(f"{uid} {words}")
            if speaker == "S0003":
                members.append((NO_TRANSCRIPT, "银行"))
            if speaker == "S0004":
                members.append((LATIN[0], "zuo4 bi4 chao1 jian3 cha2"))
                lines.append(f"{LATIN[0]} {LATIN[1]}")
            tarball = wav_dir / f"{speaker}.tar.gz"
            tarball.parent.mkdir(parents=True, exist_ok=True)
            with tarfile.open(tarball, "w:gz") as tar:
                for uid, spoken in members:
                    pinyin = spoken if spoken.isascii() else " ".join(text_to_pinyin(spoken))
                    wav = write_speech(staging / f"{uid}.wav", pinyin, _speaker_number(speaker))
                    tar.add(wav, arcname=f"{split}/{speaker}/{uid}.wav")
                    wav.unlink()
    staging.rmdir()
    lines.append(f"{TRANSCRIPT_ONLY[0]} {TRANSCRIPT_ONLY[1]}")
    transcript = root / "data_aishell" / "transcript" / "aishell_transcript_v0.8.txt"
    transcript.parent.mkdir(parents=True)
    transcript.write_text("".join(f"{line}\n" for line in sorted(lines)), encoding="utf-8")
    resource = root / "resource_aishell"
    resource.mkdir()
    (resource / "lexicon.txt").write_text("SIL sil\n<SPOKEN_NOISE> sil\n楼市 l ou2 sh ix4\n成交 ch eng2 j iao1\n",
                                          encoding="utf-8")
    (resource / "speaker.info").write_text(
        "".join(f"{_speaker_number(s):04d} {'F' if i % 2 else 'M'}\n"
                for i, s in enumerate(s for sp in UTTERANCES.values() for s in sp)), encoding="utf-8")
    return root


def build_archives(root: Path, out_dir: Path) -> dict[str, Path]:
    """The replica packed as OpenSLR serves it: ``data_aishell.tgz`` and ``resource_aishell.tgz`` in ``out_dir``."""
    build(root)
    out = {}
    for name in ("data_aishell", "resource_aishell"):
        out[f"{name}.tgz"] = Path(out_dir) / f"{name}.tgz"
        out[f"{name}.tgz"].parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(out[f"{name}.tgz"], "w:gz") as tar:
            tar.add(Path(root) / name, arcname=name)
    return out

