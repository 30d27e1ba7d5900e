"""A miniature aidatatang_200zh (SLR62), either as stage 0 leaves it (per-speaker tarballs unpacked:
``corpus/<split>/G0002/T0055G0002S0001.{wav,txt,metadata}``) or, with :func:`build_archive`, as OpenSLR
serves it (``aidatatang_200zh.tgz`` holding ``corpus/<split>/G0002.tar.gz``). The transcript file holds
every split, word-segmented, with the odd cases: a line for an utterance without audio, a full-width
Latin letter, and audio without a transcript line. The ``.metadata`` content is illustrative (no recipe
reads it).
"""
from __future__ import annotations

import tarfile
from pathlib import Path

from replica_audio import write_speech

from asrt.corpora import aidatatang_200zh as aidatatang
from asrt.text.normalize import normalize_transcript
from asrt.text.pinyin import text_to_pinyin

# (split, speaker, sentences) as in the official split: each speaker in one split.
PLAN = [
    ("train", "G0002", ["以后 你 是 男孩 子", "帮 我 打开 空调", "今天 是 星期五"]),
    ("train", "G0003", ["我 要 去 上班 了", "外面 风 很 大", "给 妈妈 打 电话"]),
    ("train", "G0004", ["明天 早上 七点 叫 我", "放 一 首 歌"]),
    ("dev", "G0101", ["现在 几点 了", "附近 有 银行 吗"]),
    ("dev", "G0102", ["我 想 去 海边", "晚饭 吃 什么"]),
    ("test", "G0201", ["路上 注意 安全", "天气 越来越 冷 了"]),
    ("test", "G0202", ["这 家 店 很 好吃", "谢谢 你 的 帮助"]),
]
METADATA = "SES {speaker}\nSCD {utt}\nSAM 16000\nSNB 2\nSBF lohi\nSSB 16\nQNT PCM\nNCH 1\n"


def build(root: Path) -> Path:
    """Write the unpacked replica under ``root`` (the corpus directory, ``--corpus-dir``) and return ``root``."""
    corpus = Path(root)
    top = corpus / aidatatang.TOP_DIR
    lines = []
    for spk_index, (split, speaker, sentences) in enumerate(PLAN):
        for k, text in enumerate(sentences, 1):
            utt = f"T0055{speaker}S{k:04d}"
            d = top / "corpus" / split / speaker
            write_speech(d / f"{utt}.wav", " ".join(text_to_pinyin(normalize_transcript(text))), spk_index)
            (d / f"{utt}.txt").write_text(text.replace(" ", "") + "\n", encoding="utf-8")
            (d / f"{utt}.metadata").write_text(METADATA.format(speaker=speaker, utt=utt), encoding="utf-8")
            lines.append(f"{utt} {text}")
    # Odd cases: a transcript line without audio, a full-width letter, audio without a line.
    lines.append("T0055G0002S0099 没有 这 段 录音")
    write_speech(top / "corpus" / "train" / "G0003" / "T0055G0003S0004.wav", "a1 ji2", 1)
    lines.append("T0055G0003S0004 Ａ 级")
    write_speech(top / "corpus" / "train" / "G0004" / "T0055G0004S0009.wav", "hao3", 2)
    transcript = corpus / aidatatang.TRANSCRIPT
    transcript.parent.mkdir(parents=True, exist_ok=True)
    transcript.write_text("".join(f"{line}\n" for line in sorted(lines)), encoding="utf-8")
    return corpus


def build_archive(root: Path) -> Path:
    """``aidatatang_200zh.tgz`` as OpenSLR serves it, with per-speaker inner tarballs; return its path."""
    unpacked = build(Path(root) / "unpacked")
    top = unpacked / aidatatang.TOP_DIR
    for split in aidatatang.SPLITS:
        for speaker_dir in sorted((top / "corpus" / split).iterdir()):
            with tarfile.open(speaker_dir.parent / f"{speaker_dir.name}.tar.gz", "w:gz") as tar:
                tar.add(speaker_dir, arcname=speaker_dir.name)
            for f in speaker_dir.iterdir():
                f.unlink()
            speaker_dir.rmdir()
    archive = Path(root) / aidatatang.ARCHIVE
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(top, arcname=aidatatang.TOP_DIR)
    return archive
