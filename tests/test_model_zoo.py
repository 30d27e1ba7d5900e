"""The model zoo: ASRT's log spectrogram and DCNN, and the conformer size presets in asrt/conf/models."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import section

from asrt.config import load_config
from asrt.features.extract import make_extractor
from asrt.models import build_model

ROOT = Path(__file__).resolve().parent.parent
RATE = 16000
ASRT_VOCAB = 1428  # ASRT's 1427 tonal syllables + blank


def num_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_spectrogram_is_asrts_log_fft_magnitude_on_fbank_frames():
    x = np.random.default_rng(0).uniform(-0.5, 0.5, RATE + 123).astype(np.float32)
    spec = make_extractor(section("features", type="spectrogram")).extract(x, RATE)
    fbank = make_extractor(section("features", type="fbank")).extract(x, RATE)
    assert spec.shape == (fbank.shape[0], 200)
    # ASRT's own recipe for one interior frame: int16 scale, symmetric Hamming, |FFT| bins 0-199, log(1+x).
    t = 50
    start = t * 160 + 80 - 200
    frame = x[start: start + 400].astype(np.float64) * 32768 * np.hamming(400)
    expected = np.log1p(np.abs(np.fft.fft(frame))[:200])
    assert np.allclose(spec[t], expected, rtol=1e-4, atol=1e-3)


def test_spectrogram_edges_and_tiny_inputs():
    extractor = make_extractor(section("features", type="spectrogram"))
    assert extractor.extract(np.zeros(0, np.float32), RATE).shape == (0, 200)
    assert extractor.extract(np.full(100, 0.1, np.float32), RATE).shape == (1, 200)  # mirrored past both ends
    with pytest.raises(ValueError, match="16000 Hz"):
        extractor.extract(np.zeros(800, np.float32), 8000)


def test_feature_type_must_be_known_and_pitch_goes_with_fbank_only():
    with pytest.raises(ValueError, match="fbank, spectrogram"):
        make_extractor(section("features", type="mfcc"))
    with pytest.raises(ValueError, match="fbank only"):
        make_extractor(section("features", type="spectrogram", pitch=True))


def test_dcnn_has_asrts_size():
    model = build_model("dcnn", num_features=200, vocab_size=ASRT_VOCAB)
    assert 1.4e6 < num_params(model) < 1.6e6  # 1,471,668


@pytest.mark.parametrize("lengths", [[203, 121, 57], [64, 63, 9]])
def test_dcnn_takes_any_length_with_exact_ctc_lengths(lengths):
    torch.manual_seed(0)
    model = build_model("dcnn", num_features=200, vocab_size=7).eval()
    lens = torch.tensor(lengths)
    feats = torch.randn(len(lengths), max(lengths), 200)
    log_probs, out_lens = model(feats, lens)
    assert out_lens.tolist() == [n // 8 for n in lengths]
    assert log_probs.shape == (len(lengths), max(lengths) // 8, 7)
    assert torch.allclose(log_probs.exp().sum(-1), torch.ones(log_probs.shape[:2]), atol=1e-4)
    # Each utterance gets the outputs it gets alone: padding does not leak through the convolutions.
    for i, n in enumerate(lengths):
        alone, alone_len = model(feats[i: i + 1, :n], lens[i: i + 1])
        assert alone_len.item() == out_lens[i].item()
        assert torch.allclose(alone[0, : alone_len[0]], log_probs[i, : out_lens[i]], atol=1e-4)


def test_dcnn_trains_with_ctc():
    torch.manual_seed(0)
    model = build_model("dcnn", num_features=200, vocab_size=5, channels=[8, 8, 8, 8, 8], hidden=16)
    feats, lens = torch.randn(2, 81, 200), torch.tensor([81, 67])
    targets, target_lens = torch.tensor([1, 2, 3, 4, 2, 1]), torch.tensor([4, 2])
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(15):
        log_probs, out_lens = model(feats, lens)
        loss = torch.nn.functional.ctc_loss(log_probs.transpose(0, 1), targets, out_lens, target_lens)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.isfinite(losses).all() and losses[-1] < 0.5 * losses[0]


def test_dcnn_recipe_config_uses_the_spectrogram():
    cfg = load_config(ROOT / "egs" / "mini_cmn" / "conf" / "dcnn.yaml")
    assert cfg["model"]["name"] == "dcnn" and cfg["features"]["type"] == "spectrogram"
    assert make_extractor(cfg["features"]).feature_dim(RATE) == 200


@pytest.mark.parametrize("preset,low,high", [("conformer_xs", 3e6, 3.5e6), ("conformer_s", 8e6, 12e6),
                                               ("conformer_19m", 18e6, 20e6), ("conformer_m", 25e6, 35e6)])
def test_conformer_presets_have_their_sizes(tmp_path, preset, low, high):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"model:\n  preset: {preset}\n  dropout: 0.2\n")
    mcfg = load_config(recipe)["model"]
    assert mcfg["name"] == "conformer" and mcfg["dropout"] == 0.2 and "preset" not in mcfg
    model = build_model(num_features=80, vocab_size=ASRT_VOCAB, **mcfg)
    assert low < num_params(model) < high
    log_probs, out_lens = model.eval()(torch.randn(1, 100, 80), torch.tensor([100]))
    assert log_probs.shape == (1, out_lens.item(), ASRT_VOCAB)


def test_unknown_preset_names_the_known_ones(tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("model:\n  preset: conformer_xxl\n")
    with pytest.raises(ValueError, match="conformer_m, conformer_s"):
        load_config(recipe)


RECIPE_CONFIGS = sorted((ROOT / "egs").glob("*/conf/*.yaml"))


@pytest.mark.parametrize("path", RECIPE_CONFIGS, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_every_recipe_config_builds_a_model_for_its_features(path):
    cfg = load_config(path)
    num_features = make_extractor(cfg["features"]).feature_dim(RATE)
    model = build_model(num_features=num_features, vocab_size=ASRT_VOCAB, **cfg["model"]).eval()
    with torch.no_grad():
        log_probs, out_lens = model(torch.randn(1, 160, num_features), torch.tensor([160]))
    factor = int(cfg["model"].get("subsampling_factor", 8))  # tdnn and dcnn subsample 8x
    assert log_probs.shape == (1, out_lens.item(), ASRT_VOCAB) and abs(out_lens.item() - 160 // factor) <= 1
    assert float(cfg["train"]["lr"]) > 0 and int(cfg["train"]["epochs"]) >= 1
