"""A miniature MAGICDATA (SLR68) as stage 0 leaves it: ``{train,dev,test}/TRANS.txt`` (tab-separated,
header line) and ``<split>/<speaker>/<speaker>_<timestamp>.wav``, with the corpus's markers and odd cases:
``[FIL]`` and ``[SPK]`` inside transcripts (removed), ``[*]`` (the utterance is left out), English words
(left out), one of the utterances lhotse lists as broken, and audio without a transcript line.
"""
from __future__ import annotations

from pathlib import Path

from replica_audio import write_speech

from asrt.corpora import magicdata
from asrt.text.normalize import normalize_transcript
from asrt.text.pinyin import text_to_pinyin

# (split, speaker, transcripts as TRANS.txt holds them): each speaker in one split.
PLAN = [
    ("train", "5_1812", ["我要听[FIL]周杰伦的歌", "今天天气怎么样", "[SPK]打开导航"]),
    ("train", "14_3466", ["明天早上叫我起床", "我想去看电影[FIL]", "播放新闻"]),
    ("train", "38_5716", ["你在干什么", "我听不清[*]你说", "我喜欢听 Taylor Swift"]),
    ("dev", "16_4013", ["附近有什么好吃的", "[FIL]帮我订一张票"]),
    ("dev", "19_1090", ["今天是几号", "给我讲个笑话"]),
    ("test", "18_1565", ["关掉客厅的灯", "现在几点了"]),
    ("test", "29_2071", ["外面下雪了吗", "[SPK]我饿了"]),
]
# One of the two utterances lhotse leaves out as broken (asrt.corpora.magicdata.BAD_UTTERANCES).
BROKEN = ("dev", "16_4013", "16_4013_20170819121429", "你好")


def build(root: Path) -> Path:
    """Write the replica under ``root`` (the corpus directory, what ``--corpus-dir`` takes) and return ``root``."""
    corpus = Path(root)
    rows: dict[str, list[str]] = {"train": [], "dev": [], "test": []}
    for spk_index, (split, speaker, transcripts) in enumerate(PLAN):
        for k, raw in enumerate(transcripts, 1):
            utt = f"{speaker}_201707{10 + spk_index:02d}12{k:02d}{30 + k:02d}"  # speaker, recording time
            spoken = normalize_transcript(raw.replace("[*]", "").replace("Taylor Swift", ""), magicdata.TEXT_RULES)
            write_speech(corpus / split / speaker / f"{utt}.wav", " ".join(text_to_pinyin(spoken)), spk_index)
            rows[split].append(f"{utt}.wav\t{speaker}\t{raw}")
    split, speaker, utt, raw = BROKEN
    write_speech(corpus / split / speaker / f"{utt}.wav", "ni3 hao3", 3)
    rows[split].append(f"{utt}.wav\t{speaker}\t{raw}")
    write_speech(corpus / "train" / "5_1812" / "5_1812_20170628135834.wav", "hao3", 0)  # no transcript line
    for split, lines in rows.items():
        (corpus / split / "TRANS.txt").write_text(
            "UtteranceID\tSpeakerID\tTranscription\n" + "".join(f"{line}\n" for line in lines), encoding="utf-8")
    return corpus
