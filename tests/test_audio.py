"""load_audio over formats, rates, depths and channel counts; pcm_to_float values and validation."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from asrt.audio import AudioError, load_audio, pcm_to_float, resample


def sine(rate: int, seconds: float = 1.0, freq: float = 440.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float64)


def peak_hz(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(spectrum)])


def check_sine(y: np.ndarray, seconds: float = 1.0, amp: float = 0.5) -> None:
    assert y.dtype == np.float32
    assert y.ndim == 1
    assert len(y) == int(16000 * seconds)
    assert np.abs(y).max() <= 1.0
    assert abs(peak_hz(y, 16000) - 440.0) < 2.0
    middle = y[len(y) // 4 : 3 * len(y) // 4]
    assert np.sqrt(np.mean(middle**2)) == pytest.approx(amp / np.sqrt(2), rel=0.05)


def test_8k_stereo_int16_wav(tmp_path):
    x = sine(8000)
    path = tmp_path / "a.wav"
    sf.write(path, np.stack([x, x], axis=1), 8000, subtype="PCM_16")
    check_sine(load_audio(path))


def test_44k1_24bit_flac(tmp_path):
    path = tmp_path / "a.flac"
    sf.write(path, sine(44100), 44100, subtype="PCM_24", format="FLAC")
    check_sine(load_audio(path))


def test_8bit_wav(tmp_path):
    path = tmp_path / "a.wav"
    sf.write(path, sine(16000), 16000, subtype="PCM_U8")
    check_sine(load_audio(path))


def test_float32_wav_48k_and_target_rate(tmp_path):
    path = tmp_path / "a.wav"
    sf.write(path, sine(48000).astype(np.float32), 48000, subtype="FLOAT")
    check_sine(load_audio(path))
    y8 = load_audio(path, target_rate=8000)
    assert len(y8) == 8000 and abs(peak_hz(y8, 8000) - 440.0) < 2.0


def test_32bit_int_wav_and_multichannel(tmp_path):
    x = sine(22050)
    path = tmp_path / "a.wav"
    sf.write(path, np.stack([x, x, x, x], axis=1), 22050, subtype="PCM_32")
    check_sine(load_audio(path))


def test_float_wav_out_of_range_is_clipped(tmp_path):
    path = tmp_path / "loud.wav"
    sf.write(path, sine(16000, amp=3.0).astype(np.float32), 16000, subtype="FLOAT")
    y = load_audio(path)
    assert np.abs(y).max() <= 1.0


def test_opposite_phase_stereo_downmixes_to_silence(tmp_path):
    x = sine(8000)
    path = tmp_path / "a.wav"
    sf.write(path, np.stack([x, -x], axis=1), 8000, subtype="PCM_16")
    y = load_audio(path)
    assert len(y) == 16000
    assert np.abs(y).max() < 1e-3


def test_missing_file(tmp_path):
    path = tmp_path / "nope.wav"
    with pytest.raises(AudioError, match="nope.wav") as info:
        load_audio(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_garbage_bytes(tmp_path):
    path = tmp_path / "junk.wav"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 1000, dtype=np.uint8).tobytes())
    with pytest.raises(AudioError) as info:
        load_audio(path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_truncated_flac(tmp_path):
    good = tmp_path / "good.flac"
    sf.write(good, sine(16000), 16000, format="FLAC")
    bad = tmp_path / "bad.flac"
    bad.write_bytes(good.read_bytes()[:30])
    with pytest.raises(AudioError, match="bad.flac"):
        load_audio(bad)


def test_empty_wav(tmp_path):
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros(0), 16000, subtype="PCM_16")
    with pytest.raises(AudioError, match="no samples"):
        load_audio(path)


def test_directory_is_not_audio(tmp_path):
    with pytest.raises(AudioError, match="is not a file"):
        load_audio(tmp_path)


def test_resample_lengths_and_identity():
    x = np.ones(441, dtype=np.float32)
    assert len(resample(x, 44100, 16000)) == 160
    assert resample(x, 16000, 16000) is not None and len(resample(x, 16000, 16000)) == 441
    assert resample(np.zeros(0, np.float32), 8000, 16000).shape == (0,)
    with pytest.raises(ValueError):
        resample(x, 0, 16000)


def test_pcm_int16_known_values():
    data = np.array([0, 16384, -16384, -32768], dtype="<i2").tobytes()
    y = pcm_to_float(data, 16000, 1, 2)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, [0.0, 0.5, -0.5, -1.0])


def test_pcm_uint8_known_values():
    y = pcm_to_float(bytes([128, 192, 64, 0]), 16000, 1, 1)
    np.testing.assert_allclose(y, [0.0, 0.5, -0.5, -1.0])


def test_pcm_int32_known_values():
    data = np.array([0, 2**30, -(2**30), -(2**31)], dtype="<i4").tobytes()
    np.testing.assert_allclose(pcm_to_float(data, 16000, 1, 4), [0.0, 0.5, -0.5, -1.0])


def test_pcm_is_little_endian():
    assert pcm_to_float(b"\x00\x40", 16000, 1, 2)[0] == pytest.approx(0.5)


def test_pcm_stereo_downmix_and_resample():
    x = sine(8000)
    ints = np.round(np.stack([x, x], axis=1) * 32767).astype("<i2")
    y = pcm_to_float(ints.tobytes(), 8000, 2, 2)
    check_sine(y)
    left_only = np.array([[16384, 0]], dtype="<i2").tobytes()
    np.testing.assert_allclose(pcm_to_float(left_only, 16000, 2, 2), [0.25])


@pytest.mark.parametrize(
    ("data", "rate", "channels", "width", "word"),
    [
        (b"", 16000, 1, 2, "empty"),
        (b"\x00\x00\x00", 16000, 1, 2, "multiple"),
        (b"\x00\x00\x00\x00", 16000, 3, 1, "multiple"),
        (b"\x00\x00\x00", 16000, 1, 3, "byte_width"),
        (b"\x00\x00", 16000, 0, 2, "channels"),
        (b"\x00\x00", 16000, -1, 2, "channels"),
        (b"\x00\x00", 999, 1, 2, "sample_rate"),
        (b"\x00\x00", 384001, 1, 2, "sample_rate"),
        (b"\x00\x00", 16000.0, 1, 2, "sample_rate"),
        ("abcd", 16000, 1, 2, "bytes"),
    ],
)
def test_pcm_validation(data, rate, channels, width, word):
    with pytest.raises(AudioError, match=word) as info:
        pcm_to_float(data, rate, channels, width)
    message = str(info.value)
    assert message.endswith(".") and "\n" not in message


def test_pcm_rate_bounds_accepted():
    assert len(pcm_to_float(b"\x00\x00" * 1000, 1000, 1, 2)) == 16000
    assert len(pcm_to_float(b"\x00\x00" * 384, 384000, 1, 2)) == 16
