"""On-the-fly audio augmentation (asrt/train/augment.py, ``train.augment``): each transform changes the audio, a
batch seed fixes the audio and features, bad settings are one clear error, and augmented training resumes
exactly after an interruption."""
from __future__ import annotations

import logging
import random
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from test_ddp import TOKENS, Interrupted, tiny_config

import asrt.train.trainer as T
from asrt.config import load_config
from asrt.lang.tokens import TokenTable
from asrt.train.augment import TRANSFORMS, audio_augmentation
from asrt.train.dataset import CtcDataset
from asrt.train.samplers import SeededDataset

RATE = 16000
FEATURES = {"type": "fbank", "num_mel_bins": 20, "pitch": False}


def tone_utterance(rng: np.random.Generator, ids: np.ndarray) -> np.ndarray:
    """A tone of its own pitch for each token, 0.15 s each, between short pauses, over faint noise."""
    pieces = [np.zeros(800)]
    for t in ids:
        time = np.arange(int(0.15 * RATE)) / RATE
        pieces += [0.3 * np.sin(2 * np.pi * (300 + 250 * t) * time), np.zeros(800)]
    audio = np.concatenate(pieces)
    return (audio + rng.normal(0, 0.01, audio.shape)).astype(np.float32)


def write_audio_corpus(out: Path, num_train: int = 16, num_dev: int = 4) -> dict[str, Path]:
    """Train and dev cuts with 16 kHz audio and its stored 20-bin fbank (as stage 3 makes them), a lang dir, a
    noise cuts manifest (8 kHz, which augmentation resamples) and a room impulse responses manifest."""
    from lhotse import CutSet, LilcomChunkyWriter, Recording, RecordingSet, SupervisionSegment

    from asrt.features.extract import make_extractor

    rng = np.random.default_rng(0)
    (out / "audio").mkdir(parents=True)
    (out / "lang").mkdir()
    (out / "lang" / "tokens.txt").write_text("".join(f"{t} {i}\n" for i, t in enumerate(["<blk>", *TOKENS])))
    paths = {"lang": out / "lang"}
    for split, n in (("train", num_train), ("dev", num_dev)):
        cuts = []
        for i in range(n):
            ids = rng.integers(0, len(TOKENS), size=rng.integers(2, 5))
            wav = out / "audio" / f"{split}-{i:03d}.wav"
            sf.write(wav, tone_utterance(rng, ids), RATE)
            cut = Recording.from_file(wav).to_cut()
            cut.supervisions = [SupervisionSegment(cut.id, cut.id, 0.0, cut.duration, text="".join(TOKENS[t] for t in ids),
                                                   custom={"pinyin": " ".join(TOKENS[t] for t in ids)})]
            cuts.append(cut)
        cuts = CutSet.from_cuts(cuts).compute_and_store_features(
            make_extractor(FEATURES), out / f"feats_{split}", storage_type=LilcomChunkyWriter, progress_bar=False)
        paths[split] = out / f"cuts_{split}.jsonl.gz"
        cuts.to_file(paths[split])
    sf.write(out / "noise.wav", rng.normal(0, 0.1, 4000).astype(np.float32), 8000)
    paths["noise"] = out / "noise_cuts.jsonl.gz"
    CutSet.from_cuts([Recording.from_file(out / "noise.wav").to_cut()]).to_file(paths["noise"])
    rir = rng.normal(0, 1, 3200) * np.exp(-np.arange(3200) / 500)
    rir[0] = 4.0
    sf.write(out / "rir.wav", rir.astype(np.float32) / 4, RATE)
    paths["rirs"] = out / "rirs.jsonl.gz"
    RecordingSet.from_recordings([Recording.from_file(out / "rir.wav")]).to_file(paths["rirs"])
    return paths


def every_transform(corpus: dict[str, Path], p: float = 1.0) -> dict[str, dict]:
    """A ``train.augment`` section with every transform on with probability ``p``."""
    return {"speed": {"p": p, "factors": [0.9, 1.1]}, "reverb": {"p": p, "rirs": str(corpus["rirs"])},
            "noise": {"p": p, "cuts": str(corpus["noise"]), "snr": [5, 15]}, "lowpass": {"p": p, "cutoff": [3000, 4000]},
            "compress": {"p": p, "codecs": ["gsm"], "level": 0.9}, "volume": {"p": p, "scale": [0.5, 0.8]}}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    return write_audio_corpus(tmp_path_factory.mktemp("augment_corpus"))


@pytest.fixture(scope="module")
def batch(corpus):
    """Four training cuts, as a sampler hands them to the dataset."""
    from lhotse import load_manifest

    return load_manifest(corpus["train"]).subset(first=4)


def differs(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape != b.shape or not np.allclose(a, b, atol=1e-4)


@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_each_transform_changes_every_utterance(corpus, batch, name: str) -> None:
    augmentation = audio_augmentation({name: every_transform(corpus)[name]}, FEATURES, 20)
    out = augmentation(batch, random.Random(0))
    assert [c.id for c in out] == [c.id for c in batch]
    for before, after in zip(batch, out):
        assert differs(before.load_audio(), after.load_audio()), f"{name} left {before.id} as it was"


def test_a_batch_seed_fixes_the_audio_and_the_features(corpus, batch) -> None:
    augmentation = audio_augmentation(every_transform(corpus, p=0.7), FEATURES, 20)

    def audio(seed: int) -> list[np.ndarray]:
        return [c.load_audio() for c in augmentation(batch, random.Random(seed))]

    first, again, other = audio(1), audio(1), audio(2)
    assert not any(map(differs, first, again))
    assert any(map(differs, first, other))
    tokens = TokenTable(corpus["lang"] / "tokens.txt")
    dataset = SeededDataset(CtcDataset(tokens, None, augmentation))
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # the training loop's threads here, a DataLoader worker's one below
    one, another = dataset[(7, batch)], dataset[(8, batch)]
    torch.set_num_threads(1)
    same = dataset[(7, batch)]
    torch.set_num_threads(threads)
    assert torch.equal(one["feats"], same["feats"]) and torch.equal(one["feat_lens"], same["feat_lens"])
    assert one["feats"].shape[-1] == 20 and not torch.equal(one["feats"], another["feats"])


def test_spec_augment_masks_the_features_of_the_augmented_audio(corpus, batch) -> None:
    from lhotse.dataset import SpecAugment

    augmentation = audio_augmentation(every_transform(corpus), FEATURES, 20)
    tokens = TokenTable(corpus["lang"] / "tokens.txt")
    masks = SpecAugment(time_warp_factor=0, num_feature_masks=1, features_mask_size=5, num_frame_masks=1,
                        frames_mask_size=10, p=1.0)
    plain = SeededDataset(CtcDataset(tokens, None, augmentation))[(7, batch)]
    masked = SeededDataset(CtcDataset(tokens, masks, augmentation))[(7, batch)]
    assert torch.equal(plain["feat_lens"], masked["feat_lens"]) and plain["cut_ids"] == masked["cut_ids"]
    changed = (plain["feats"] != masked["feats"]).any(dim=1)  # (utterance, bin): a masked bin or frame
    assert changed.any(dim=1).all()


def test_the_defaults_switch_nothing_on_and_name_every_key() -> None:
    section = load_config()["train"]["augment"]
    assert audio_augmentation(section, FEATURES, 20) is None
    assert {name: set(params) - {"p"} for name, params in section.items()} == \
        {name: set(kind.keys) for name, kind in TRANSFORMS.items()}


@pytest.mark.parametrize("section, message", [
    ("speed", "train.augment must map transforms"),
    ({"echo": {"p": 1}}, "train.augment.echo is not a transform: use speed, reverb"),
    ({"speed": {"p": 0.5, "factor": 1.1}}, "train.augment.speed has no key 'factor': its keys are p, factors"),
    ({"volume": {"p": 1.5, "scale": [0.5, 2]}}, "volume.p must be a probability from 0 to 1, not 1.5"),
    ({"speed": {"p": 0.5, "factors": []}}, "speed.factors must be a list of positive factors"),
    ({"noise": {"p": 0.5, "cuts": None, "snr": [10, 20]}}, "noise.cuts must be an existing lhotse cuts manifest"),
    ({"reverb": {"p": 0.5, "rirs": None}}, "need torchaudio"),
    ({"lowpass": {"p": 0.5, "cutoff": [3000, 9000]}}, "lowpass.cutoff must be .* at most 8000"),
    ({"compress": {"p": 0.5, "codecs": ["amr"], "level": 0.9}}, "compress.codecs must be a list of codecs from gsm"),
    ({"volume": {"p": 0.5, "scale": [2.0, 0.5]}}, r"volume.scale must be \[low, high\]"),
])
def test_a_bad_setting_is_one_clear_error(section, message: str) -> None:
    with pytest.raises(ValueError, match=message) as error:
        audio_augmentation(section, FEATURES, 20)
    assert "\n" not in str(error.value)


def test_features_or_manifests_unlike_the_stored_ones_are_one_clear_error(corpus) -> None:
    with pytest.raises(ValueError, match="whose frames have 20 values, but the training cuts' have 80"):
        audio_augmentation(every_transform(corpus), FEATURES, 80)
    with pytest.raises(ValueError, match="reverb.rirs must be a lhotse RecordingSet manifest, but .* holds a CutSet"):
        audio_augmentation({"reverb": {"p": 1, "rirs": str(corpus["noise"])}}, FEATURES, 20)


def test_augmented_training_resumes_exactly_after_an_interruption(corpus, tmp_path, monkeypatch, caplog) -> None:
    def config(**train) -> dict:
        cfg = tiny_config(epochs=2, augment=every_transform(corpus, p=0.5), **train)
        cfg["features"] = {**cfg["features"], **FEATURES}
        return cfg

    args = (corpus["train"], corpus["dev"], corpus["lang"])
    caplog.set_level(logging.INFO)
    T.train(*args, tmp_path / "full", config())
    assert "Augmentation: audio speed p 0.5, factors [0.9, 1.1]; reverb" in caplog.text
    save = T.save_atomic

    def save_then_crash(obj, path):
        save(obj, path)
        if Path(path).name == "step-3.pt":  # in the middle of epoch 1
            raise Interrupted(path)
    monkeypatch.setattr(T, "save_atomic", save_then_crash)
    with pytest.raises(Interrupted):
        T.train(*args, tmp_path / "exp", config())
    monkeypatch.undo()
    T.train(*args, tmp_path / "exp", config(num_workers=1))  # resumed, the batches built in a worker
    assert "Resuming from" in caplog.text and "step-3.pt" in caplog.text
    resumed = torch.load(tmp_path / "exp" / "model.pt", weights_only=False)
    uninterrupted = torch.load(tmp_path / "full" / "model.pt", weights_only=False)
    assert resumed["step"] == uninterrupted["step"] > 3
    assert all(torch.equal(resumed["model"][k], uninterrupted["model"][k]) for k in uninterrupted["model"])
