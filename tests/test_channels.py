"""mini_cmn's recording conditions: proportions, rates, channels, telephone band, codecs, rooms and files."""
from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest
import soundfile as sf

from asrt.corpora import channels
from asrt.corpora.channels import (
    CONDITIONS, FILE_SUFFIX, check_condition_weights, codec_round_trip, condition_list, render, reverberate,
    simulate_room_rir, telephone_band, write_condition, write_room,
)
from asrt.names import SAMPLE_RATE


def tone(freq: float, rate: int, seconds: float = 1.0, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def speech_like(n: int, rate: int = SAMPLE_RATE, seed: int = 0) -> np.ndarray:
    """A voiced-sounding test signal: harmonics of a 150 Hz fundamental under a 4 Hz syllable envelope,
    with a little noise."""
    t = np.arange(n) / rate
    voiced = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 16))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)
    noise = 0.01 * np.random.default_rng(seed).standard_normal(n)
    x = voiced * envelope + noise
    return (0.5 * x / np.abs(x).max()).astype(np.float32)


def rms_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.asarray(x, np.float64) ** 2)))


def test_condition_list_has_exact_counts_by_largest_remainder():
    weights = {"16k": 0.55, "8k_ulaw": 0.3, "48k": 0.15, "8k_gsm": 0.0}
    out = condition_list(weights, 7, random.Random(0))  # exact counts 3.85, 2.1, 1.05, 0
    assert Counter(out) == {"16k": 4, "8k_ulaw": 2, "48k": 1}
    out = condition_list({"16k": 2, "16k_room": 1, "44k_stereo": 1}, 20, random.Random(0))
    assert Counter(out) == {"16k": 10, "16k_room": 5, "44k_stereo": 5}
    assert condition_list({"48k": 1.0}, 3, random.Random(0)) == ["48k"] * 3


def test_condition_list_is_shuffled_reproducibly():
    weights = {"16k": 1, "8k_ulaw": 1, "44k_stereo": 1}
    orders = [condition_list(weights, 30, random.Random(seed)) for seed in range(3)]
    assert orders[0] == condition_list(weights, 30, random.Random(0))
    assert all(Counter(o) == {"16k": 10, "8k_ulaw": 10, "44k_stereo": 10} for o in orders)
    assert len({tuple(o) for o in orders}) == 3
    grouped = [c for c in weights for _ in range(10)]
    assert all(o != grouped for o in orders)


def test_check_condition_weights():
    check_condition_weights({"16k": 1, "48k": 0})
    unknown = r"unknown mini_cmn condition\(s\) 8k_alaw, 96k in synth.conditions; known: 16k, "
    with pytest.raises(ValueError, match=unknown):
        check_condition_weights({"16k": 1, "96k": 1, "8k_alaw": 0})
    with pytest.raises(ValueError, match="not all 0"):
        check_condition_weights({"16k": 0, "48k": 0.0})
    with pytest.raises(ValueError, match=">= 0"):
        check_condition_weights({"16k": 1, "48k": -0.5})


def test_every_condition_has_a_file_suffix_and_a_clean_reference():
    assert channels.CLEAN in CONDITIONS and not CONDITIONS[channels.CLEAN].room
    assert not CONDITIONS[channels.CLEAN].telephone and CONDITIONS[channels.CLEAN].rate == SAMPLE_RATE
    assert {c.format for c in CONDITIONS.values()} <= set(FILE_SUFFIX)


@pytest.mark.parametrize("condition, length, shape_channels", [
    ("16k", 16000, None), ("16k_room", 16000, None), ("8k_ulaw", 8000, None), ("8k_gsm", 8000, None),
    ("44k_stereo", 44100, 2), ("48k", 48000, None),
])
def test_render_gives_the_condition_rate_and_channels(condition, length, shape_channels):
    x = speech_like(SAMPLE_RATE)  # one second
    out = render(x, condition, np.random.default_rng(0))
    assert out.dtype == np.float32
    assert out.shape == ((length,) if shape_channels is None else (length, shape_channels))
    assert CONDITIONS[condition].rate == length and CONDITIONS[condition].channels == (shape_channels or 1)
    assert np.array_equal(out, render(x, condition, np.random.default_rng(0)))


def test_render_16k_leaves_the_audio_alone():
    x = speech_like(12345)
    assert np.array_equal(render(x, "16k", np.random.default_rng(0)), x)
    assert np.array_equal(render(x, "16k_room", np.random.default_rng(0)), x)  # the room is applied before


def test_render_stereo_is_a_coincident_pair():
    x = speech_like(SAMPLE_RATE)
    out = render(x, "44k_stereo", np.random.default_rng(3))
    near, far = out[:, 0], out[:, 1]
    matches = []
    for delay in range(1, 3):
        gain = (far[delay:] @ near[:-delay]) / (near[:-delay] @ near[:-delay])
        if np.allclose(far[delay:], gain * near[:-delay], atol=1e-6):
            matches.append((delay, gain))
    assert len(matches) == 1
    delay, gain = matches[0]
    assert np.all(far[:delay] == 0)
    assert 0.7 <= gain <= 1.0
    other = render(x, "44k_stereo", np.random.default_rng(4))
    assert np.array_equal(other[:, 0], near) and not np.array_equal(other[:, 1], far)


def test_telephone_band_passes_300_to_3400_hz():
    rate = 8000
    settle = rate // 10  # skip the filter's start-up transient

    def gain_db(freq):
        x = tone(freq, rate)
        return rms_db(telephone_band(x, rate)[settle:]) - rms_db(x[settle:])

    assert abs(gain_db(1000)) < 1.0
    assert gain_db(100) < -10
    assert gain_db(3900) < -10
    out = telephone_band(tone(1000, rate), rate)
    assert out.dtype == np.float32 and out.shape == (rate,)


def test_telephone_conditions_are_band_limited():
    x = tone(100, SAMPLE_RATE) + tone(1000, SAMPLE_RATE)
    for condition in ("8k_ulaw", "8k_gsm"):
        spectrum = np.abs(np.fft.rfft(render(x, condition, np.random.default_rng(0))[800:]))
        freqs = np.fft.rfftfreq(8000 - 800, 1 / 8000)
        low = spectrum[np.abs(freqs - 100) < 5].max()
        mid = spectrum[np.abs(freqs - 1000) < 5].max()
        assert 20 * np.log10(mid / low) > 20, condition


def test_gsm_round_trip_is_lossy_but_close():
    x = speech_like(8123, rate=8000)  # not a whole number of 160-sample GSM frames
    y = codec_round_trip(x, 8000, "GSM610")
    assert y.shape == x.shape and y.dtype == np.float32
    assert not np.allclose(y, x, atol=1e-3)
    assert np.corrcoef(x, y)[0, 1] > 0.9
    assert np.array_equal(y, codec_round_trip(x, 8000, "GSM610"))


def test_codec_round_trip_clips_instead_of_wrapping():
    x = np.full(1600, 1.5, dtype=np.float32)
    y = codec_round_trip(x, 8000, "PCM_16")
    assert np.allclose(y, 1.0, atol=1e-3)


EXPECTED_FILES = {  # condition: (format, subtype, rate, channels)
    "16k": ("FLAC", "PCM_16", 16000, 1),
    "16k_room": ("FLAC", "PCM_16", 16000, 1),
    "8k_ulaw": ("WAV", "ULAW", 8000, 1),
    "8k_gsm": ("FLAC", "PCM_16", 8000, 1),  # lhotse cannot read GSM WAV
    "44k_stereo": ("FLAC", "PCM_16", 44100, 2),
    "48k": ("FLAC", "PCM_24", 48000, 1),
}


def test_expected_files_cover_every_condition():
    assert set(EXPECTED_FILES) == set(CONDITIONS)


@pytest.mark.parametrize("condition", sorted(EXPECTED_FILES))
def test_write_condition_writes_a_file_lhotse_reads(tmp_path, condition):
    from lhotse import Recording

    fmt, subtype, rate, num_channels = EXPECTED_FILES[condition]
    audio = render(speech_like(SAMPLE_RATE // 2), condition, np.random.default_rng(0))
    path = tmp_path / f"utt{FILE_SUFFIX[fmt]}"
    write_condition(path, audio, condition)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # written atomically, no temporary left
    info = sf.info(path)
    assert (info.format, info.subtype, info.samplerate, info.channels) == (fmt, subtype, rate, num_channels)
    assert info.frames == rate // 2
    rec = Recording.from_file(path)
    assert (rec.sampling_rate, rec.num_channels, rec.num_samples) == (rate, num_channels, rate // 2)
    samples = rec.load_audio()
    assert samples.shape == (num_channels, rate // 2)
    stored = audio.T if audio.ndim == 2 else audio[None, :]
    tolerance = 0.05 if subtype == "ULAW" else 1e-3  # mu-law keeps about 8 bits
    assert np.abs(samples - stored).max() < tolerance


def test_write_condition_clips_to_full_scale(tmp_path):
    path = tmp_path / "loud.flac"
    write_condition(path, np.array([0.5, 1.7, -2.0, 0.0], dtype=np.float32), "16k")
    data, _ = sf.read(path, dtype="float32")
    assert data[0] == pytest.approx(0.5, abs=1e-4)
    assert data[1] == pytest.approx(1.0, abs=1e-4) and data[2] == pytest.approx(-1.0, abs=1e-4)


def test_simulate_room_rir_is_reproducible_per_seed():
    a, b = simulate_room_rir(1), simulate_room_rir(2)
    assert a.dtype == np.float32 and a.ndim == 1
    assert np.array_equal(a, simulate_room_rir(1))
    assert np.abs(a).max() == pytest.approx(1.0, abs=1e-6) and np.abs(b).max() == pytest.approx(1.0, abs=1e-6)
    assert len(a) != len(b) or not np.array_equal(a, b)
    assert 0.1 * SAMPLE_RATE < len(a) < 2 * SAMPLE_RATE  # an RT60 of 0.2-0.7 s


def test_write_room_writes_16k_float_once(tmp_path):
    path = tmp_path / "rooms" / "train" / "train-room000.wav"
    write_room((path, 5))
    info = sf.info(path)
    assert (info.format, info.subtype, info.samplerate, info.channels) == ("WAV", "FLOAT", SAMPLE_RATE, 1)
    data, _ = sf.read(path, dtype="float32")
    assert np.array_equal(data, simulate_room_rir(5))
    write_room((path, 6))  # already there (a resumed run): kept
    assert np.array_equal(sf.read(path, dtype="float32")[0], data)


def test_reverberate_keeps_the_length_and_changes_the_signal(tmp_path):
    path = tmp_path / "room.wav"
    write_room((path, 3))
    x = speech_like(SAMPLE_RATE)
    y = reverberate(x, path)
    assert y.shape == x.shape and y.dtype == np.float32
    assert not np.allclose(y, x, atol=1e-3)
    assert np.array_equal(y, reverberate(x, path))


def test_reverberation_leaves_a_tail_after_the_speech_stops(tmp_path):
    path = tmp_path / "room.wav"
    write_room((path, 3))
    x = speech_like(SAMPLE_RATE)
    x[SAMPLE_RATE // 4:] = 0  # a quarter of a second of speech, then silence
    y = reverberate(x, path)
    tail = y[SAMPLE_RATE // 4 + 400: SAMPLE_RATE // 4 + 2000]  # 25-125 ms after the speech
    assert rms_db(tail) - rms_db(y[: SAMPLE_RATE // 4]) > -40
