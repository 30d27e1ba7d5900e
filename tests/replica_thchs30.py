"""A miniature THCHS-30 in the real corpus's on-disk layout, as ``data_thchs30.tgz`` extracts (OpenSLR
SLR18; the corpus's README.TXT, Kaldi's ``egs/thchs30/s5/local/thchs-30_data_prep.sh``, lhotse's
``recipes/thchs_30.py``, PaddleSpeech's ``dataset/thchs30/thchs30.py``)::

    data_thchs30/data/A11_0.wav, data_thchs30/data/A11_0.wav.trn   (word line, pinyin line, phone line)
    data_thchs30/train/A11_0.wav                                   the audio again
    data_thchs30/train/A11_0.wav.trn                               one line: ../data/A11_0.wav.trn
    data_thchs30/{dev,test}/...                                    likewise
    data_thchs30/lm_word/{word.3gram.lm,lexicon.txt}, data_thchs30/lm_phone/{phone.3gram.lm,lexicon.txt}
    data_thchs30/README.TXT

16 utterances of 7 speakers (16 kHz 16-bit mono WAV, espeak-ng speaking the pinyin line). Planted:
utterances whose pinyin line differs from pypinyin's reading of the words (``PYPINYIN_DIFFERS``), so a
test can tell that labels come from line 2; and a word line with the stray ``l =`` annotation that the
real corpus has in some transcripts.
"""
from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

from replica_audio import write_speech

# split -> [(utterance id, word line, pinyin line)]
UTTERANCES = {
    "train": [
        ("A11_0", "更是 绿 得 鲜活", "geng4 shi4 lv4 de5 xian1 huo2"),
        ("A11_1", "一个 人", "yi1 ge4 ren2"),
        ("A11_2", "天气 很 好", "tian1 qi4 hen3 hao3"),
        ("B15_100", "这个 问题", "zhe4 ge4 wen4 ti2"),
        ("B15_101", "春天 来 了", "chun1 tian1 lai2 le5"),
        ("B15_102", "判处 l = 六年", "pan4 chu3 liu4 nian2"),
        ("C12_200", "文章 写 得 好", "wen2 zhang1 xie3 de5 hao3"),
        ("C12_201", "我们 一起", "wo3 men5 yi4 qi3"),
        ("C12_202", "四月 的 林 峦", "si4 yue4 de5 lin2 luan2"),
    ],
    "dev": [("A2_10", "天气 好", "tian1 qi4 hao3"), ("A2_11", "一个 问题", "yi1 ge4 wen4 ti2"),
            ("B2_12", "文章 很 好", "wen2 zhang1 hen3 hao3")],
    "test": [("D4_750", "春天 的 文章", "chun1 tian1 de5 wen2 zhang1"),
             ("D4_751", "我们 来 了", "wo3 men5 lai2 le5"),
             ("D6_752", "这个 人", "zhe4 ge4 ren2"), ("D6_753", "绿 得 好", "lv4 de5 hao3")],
}
# utterance id -> the syllables where the pinyin line and pypinyin disagree (pinyin line first)
PYPINYIN_DIFFERS = {"A11_0": ("de5", "de2"), "A11_1": ("yi1", "yi2"), "B15_100": ("ge4", "ge5")}

README = """This is the *data part* of the `THCHS30 2015` acoustic data & scripts dataset (miniature replica).

The layout of this data pack is the following:
  ``data``: ``*.wav`` audio data, ``*.wav.trn`` transcriptions
  ``{train,dev,test}``: contain symlinks into the ``data`` directory for both audio and transcription files.
  ``{lm_word}``: ``word.3gram.lm`` trigram LM based on word, ``lexicon.txt`` lexicon based on word
  ``{lm_phone}``: ``phone.3gram.lm`` trigram LM based on phone, ``lexicon.txt`` lexicon based on phone
"""
ARPA = "\\data\\\nngram 1=3\n\n\\1-grams:\n-0.4771\t</s>\n-99\t<s>\t-0.3010\n-0.4771\t好\t-0.3010\n\n\\end\\\n"

# Initials of THCHS-30's phone line (zero initials written as in the corpus: y -> ii/ix, w -> uu).
_INITIALS = ("zh", "ch", "sh", "b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h", "j", "q", "x", "r", "z", "c", "s")


def phone_line(pinyin: str) -> str:
    """The third transcript line: each syllable split into initial and final, THCHS-30 style."""
    phones = []
    for syl in pinyin.split():
        initial = next((i for i in _INITIALS if syl.startswith(i)), "")
        final = syl[len(initial):]
        if not initial:
            initial, final = {"y": ("ii", "i" + syl[1:]), "w": ("uu", "u" + syl[1:])}.get(syl[0], ("", final))
        phones += [p for p in (initial, final) if p]
    return " ".join(phones)


def build(root: Path) -> Path:
    """Write the replica under ``root`` (the corpus directory) and return ``root``."""
    base = Path(root) / "data_thchs30"
    data = base / "data"
    data.mkdir(parents=True)
    for split, utts in UTTERANCES.items():
        (base / split).mkdir()
        for utt, words, pinyin in utts:
            speaker = sum(map(ord, utt.split("_")[0]))
            wav = write_speech(data / f"{utt}.wav", pinyin, speaker)
            (data / f"{utt}.wav.trn").write_text(f"{words}\n{pinyin}\n{phone_line(pinyin)}\n", encoding="utf-8")
            shutil.copyfile(wav, base / split / f"{utt}.wav")
            (base / split / f"{utt}.wav.trn").write_text(f"../data/{utt}.wav.trn\n", encoding="utf-8")
    (base / "README.TXT").write_text(README, encoding="utf-8")
    for kind in ("word", "phone"):
        lm_dir = base / f"lm_{kind}"
        lm_dir.mkdir()
        (lm_dir / f"{kind}.3gram.lm").write_text(ARPA, encoding="utf-8")
    (base / "lm_word" / "lexicon.txt").write_text("好 h ao3\n天气 t ian1 q i4\n", encoding="utf-8")
    (base / "lm_phone" / "lexicon.txt").write_text("ao3 ao3\nh h\n", encoding="utf-8")
    return Path(root)


def build_archive(root: Path, out_dir: Path) -> Path:
    """The replica packed as OpenSLR serves it: ``data_thchs30.tgz`` in ``out_dir``."""
    build(root)
    archive = Path(out_dir) / "data_thchs30.tgz"
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(Path(root) / "data_thchs30", arcname="data_thchs30")
    return archive
