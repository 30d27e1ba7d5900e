"""A miniature Primewords set 1 (SLR47) as stage 0 leaves it: ``set1_transcript.json`` (one JSON array
on one line, word-segmented text, string ids) and ``audio_files/<h>/<hh>/<uuid>.wav``; with the odd cases
of the real file: a record repeated with the same content, a file whose two records disagree, a record
without audio, an audio file without a record. Speakers (``user_id``) are chosen so that each split of the
corpus module's hash split gets speakers of its own.
"""
from __future__ import annotations

import json
import uuid
from pathlib import Path

from replica_audio import write_speech

from asrt.corpora import primewords
from asrt.text.normalize import normalize_transcript
from asrt.text.pinyin import text_to_pinyin

SENTENCES = [
    "今天 天气 很 好", "我们 去 吃饭 吧", "这个 问题 很 简单", "请 把 门 关上", "他 明天 要 出差",
    "我 想 喝 一 杯 茶", "晚上 一起 看 电影", "你 的 声音 很 好听", "火车 八点 出发", "孩子 们 在 唱歌",
    "这 条 路 很 远", "我 爱 我 的 家乡", "周末 去 爬山", "他 说 得 很 对",
]


def user_ids(split: str, count: int) -> list[str]:
    """The first ``count`` user ids that the module's hash split sends to ``split``."""
    out, i = [], 1
    while len(out) < count:
        if primewords.split_of(str(i)) == split:
            out.append(str(i))
        i += 1
    return out


def audio_path(top: Path, file_name: str) -> Path:
    """Where the corpus keeps ``file_name``: sharded by its first one and first two hex digits."""
    return top / "audio_files" / file_name[0] / file_name[:2] / file_name


def build(root: Path) -> Path:
    """Write the replica under ``root`` (the corpus directory, what ``--corpus-dir`` takes) and return ``root``."""
    corpus = Path(root)
    top = corpus / primewords.TOP_DIR
    speakers = [(u, 3) for u in user_ids("train", 2)] + [(u, 2) for u in user_ids("dev", 2)]
    speakers += [(u, 2) for u in user_ids("test", 2)]
    records, sentences, rec_id = [], iter(SENTENCES), 0
    for spk_index, (user, count) in enumerate(speakers):
        for _ in range(count):
            text = next(sentences)
            file_name = f"{uuid.UUID(int=(rec_id + 1) * 0x9E3779B97F4A7C15 % 2**128)}.wav"
            write_speech(audio_path(top, file_name), " ".join(text_to_pinyin(normalize_transcript(text))),
                         spk_index)
            rec_id += 1
            records.append({"id": str(rec_id), "text": text, "user_id": user, "file": file_name})
    # The odd cases. A record repeated with the same content (kept once):
    records.append(dict(records[0], id=str(rec_id + 1)))
    # A file whose two records disagree (left out):
    bad = f"{uuid.UUID(int=0xBAD)}.wav"
    write_speech(audio_path(top, bad), "hao3 de5", 0)
    records.append({"id": str(rec_id + 2), "text": "好 的", "user_id": speakers[0][0], "file": bad})
    records.append({"id": str(rec_id + 3), "text": "好 吗", "user_id": speakers[0][0], "file": bad})
    # A record without audio, and audio without a record:
    records.append({"id": str(rec_id + 4), "text": "没有 声音", "user_id": speakers[1][0],
                    "file": f"{uuid.UUID(int=0xDEAD)}.wav"})
    write_speech(audio_path(top, f"{uuid.UUID(int=0xBEEF)}.wav"), "mei2 you3", 1)
    (top / "set1_transcript.json").write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    return corpus
