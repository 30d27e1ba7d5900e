"""A miniature ST-CMDS (SLR38) as stage 0 leaves it: one flat directory with ``.wav``, ``.txt`` and
``.metadata`` per utterance named ``20170001P<number><A|I><utt>`` (the metadata content is
illustrative: no recipe reads it), transcripts on one line without a final newline, one with a comma;
plus the odd cases (audio without transcript, a transcript with Latin letters). Speaker numbers are
chosen so that each split of the corpus module's hash split gets speakers of its own.
"""
from __future__ import annotations

from pathlib import Path

from replica_audio import write_speech

from asrt.corpora import stcmds
from asrt.text.normalize import normalize_transcript
from asrt.text.pinyin import text_to_pinyin

SENTENCES = [
    "我们今天去北京", "明天天气很好", "他在学校读书", "你想吃什么", "请打开电视", "这本书很有意思",
    "我喜欢听音乐", "妈妈在做饭", "我们一起去公园", "电脑又卡住了", "今天下午开会", "你什么时候回来",
    "外面下雨了，带上伞", "我的手机没电了", "周末去看电影", "他跑得很快",
]
METADATA = """LHD Surfingtech
DBN ST-CMDS-20170001_1-OS
SES {session}
SCD {utt}
SPK {speaker}
SAM 16000
SNB 2
SBF lohi
SSB 16
QNT PCM
NCH 1
"""


def speaker_numbers(split: str, count: int) -> list[str]:
    """The first ``count`` speaker numbers that the module's hash split sends to ``split``."""
    out, i = [], 1
    while len(out) < count:
        number = f"P{i:05d}"
        if stcmds.split_of(number) == split:
            out.append(number)
        i += 1
    return out


def build(root: Path) -> Path:
    """Write the replica under ``root`` (the corpus directory, what ``--corpus-dir`` takes) and return ``root``."""
    corpus = Path(root)
    top = corpus / stcmds.TOP_DIR
    top.mkdir(parents=True, exist_ok=True)
    # (speaker number, letter, utterances): a number may occur with both letters.
    train = speaker_numbers("train", 2)
    plan = [(n, "A", 3) for n in train] + [(train[0], "I", 2)]
    plan += [(n, "A", 2) for n in speaker_numbers("dev", 2)] + [(n, "I", 2) for n in speaker_numbers("test", 2)]
    sentences = iter(SENTENCES)
    for spk_index, (number, letter, count) in enumerate(plan):
        for k in range(1, count + 1):
            utt = f"20170001{number}{letter}{k:04d}"
            text = next(sentences)
            write_speech(top / f"{utt}.wav", " ".join(text_to_pinyin(normalize_transcript(text))), spk_index)
            (top / f"{utt}.txt").write_text(text, encoding="utf-8")
            (top / f"{utt}.metadata").write_text(
                METADATA.format(session="20170001", utt=utt, speaker=number + letter), encoding="utf-8")
    # Odd cases: an audio file whose transcript is missing, and a transcript with Latin letters.
    write_speech(top / f"20170001{train[0]}A0100.wav", "ni3 hao3", 0)
    odd = f"20170001{plan[0][0]}A0099"
    write_speech(top / f"{odd}.wav", "da3 kai1 wei1 xin4", 0)
    (top / f"{odd}.txt").write_text("打开WiFi", encoding="utf-8")
    return corpus
