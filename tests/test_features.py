"""features.model_input: every cut reaches the models as 16 kHz mono, whatever its recording's rate and channels."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf

from asrt.audio import resample
from asrt.features.extract import model_input
from asrt.names import SAMPLE_RATE


def cut_of(path: Path, text: str = "你好"):
    """The cut of ``path``'s recording as compute_fbank makes it: a supervision over all its channels, trimmed."""
    from lhotse import CutSet, Recording, RecordingSet, SupervisionSegment, SupervisionSet

    rec = Recording.from_file(path, recording_id="utt")
    sup = SupervisionSegment(id="utt", recording_id="utt", start=0.0, duration=rec.duration,
                             channel=0 if rec.num_channels == 1 else rec.channel_ids, text=text,
                             custom={"pinyin": "ni3 hao3", "condition": "44k_stereo", "snr_db": None})
    cuts = CutSet.from_manifests(recordings=RecordingSet.from_recordings([rec]),
                                 supervisions=SupervisionSet.from_segments([sup]))
    (cut,) = cuts.trim_to_supervisions(keep_overlapping=False)
    return cut


def stereo_44k(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """One second of 44.1 kHz stereo, a different tone on each channel."""
    t = np.arange(44100) / 44100
    left = (0.6 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)
    right = (0.5 * np.sin(2 * np.pi * 700 * t)).astype(np.float32)
    path = tmp_path / "stereo.flac"
    sf.write(path, np.stack([left, right], axis=1), 44100, subtype="PCM_16")
    return path, left, right


def test_stereo_44k_becomes_its_first_channel_at_16k(tmp_path):
    from lhotse import MonoCut, MultiCut

    path, left, right = stereo_44k(tmp_path)
    cut = cut_of(path)
    assert isinstance(cut, MultiCut) and cut.sampling_rate == 44100
    mono = model_input(cut)
    assert isinstance(mono, MonoCut) and mono.channel == 0
    assert mono.sampling_rate == SAMPLE_RATE and mono.num_samples == SAMPLE_RATE
    assert mono.duration == cut.duration
    audio = mono.load_audio()
    assert audio.shape == (1, SAMPLE_RATE)
    assert np.abs(audio[0] - resample(left, 44100, SAMPLE_RATE)).max() < 1e-3
    assert np.abs(audio[0] - resample(right, 44100, SAMPLE_RATE)).max() > 0.1


def test_stereo_cut_reads_its_file_lazily(tmp_path):
    """The cut still points at the file: no audio is kept in the cuts manifest (as a down-mix would be)."""
    path, _, _ = stereo_44k(tmp_path)
    mono = model_input(cut_of(path))
    assert [(s.type, s.source) for s in mono.recording.sources] == [("file", str(path))]
    assert len(json.dumps(mono.to_dict(), default=str)) < 2000


def test_stereo_cut_keeps_its_one_supervision(tmp_path):
    path, _, _ = stereo_44k(tmp_path)
    mono = model_input(cut_of(path))
    assert [s.id for s in mono.supervisions] == ["utt"]
    (sup,) = mono.supervisions
    assert sup.channel == 0 and sup.text == "你好" and sup.custom["condition"] == "44k_stereo"
    assert sup.duration == mono.duration


def test_16k_mono_cut_is_unchanged(tmp_path):
    path = tmp_path / "mono.flac"
    x = (0.3 * np.sin(2 * np.pi * 440 * np.arange(SAMPLE_RATE) / SAMPLE_RATE)).astype(np.float32)
    sf.write(path, x, SAMPLE_RATE, subtype="PCM_16")
    cut = cut_of(path)
    assert model_input(cut) is cut


def test_8k_mono_cut_is_resampled_to_16k(tmp_path):
    from lhotse import MonoCut

    path = tmp_path / "phone.wav"
    x = (0.3 * np.sin(2 * np.pi * 1000 * np.arange(8000) / 8000)).astype(np.float32)
    sf.write(path, x, 8000, subtype="PCM_16")
    cut = cut_of(path)
    out = model_input(cut)
    assert isinstance(out, MonoCut) and out.sampling_rate == SAMPLE_RATE and out.num_samples == SAMPLE_RATE
    assert out.supervisions == cut.supervisions
    audio = out.load_audio()[0]
    assert np.abs(audio - resample(x, 8000, SAMPLE_RATE)).max() < 1e-3
