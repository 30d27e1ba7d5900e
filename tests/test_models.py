"""Model registry, output shapes and lengths, the factorised output layer, and save/load."""
from __future__ import annotations

import pytest
import torch

from asrt.models import build_model
from asrt.models.checkpoint import load_model, save_atomic
from asrt.train.trainer import lr_factor

TOKENS = ["<blk>", "ma1", "ma2", "ma5", "ni3", "zhong1"]


@pytest.mark.parametrize("name,kwargs", [
    ("tdnn", {"channels": 32, "num_layers": 2}),
    ("tdnn", {"channels": 32, "num_layers": 2, "frontend": "conv2d", "frontend_channels": 4}),
    ("tdnn", {"channels": 32, "num_layers": 2, "frontend": "conv2d", "frontend_channels": 4,
              "frontend_freq_strides": [1, 1, 2]}),
    ("tdnn", {"channels": 32, "num_layers": 2, "feature_norm": "utterance"}),
    ("conformer", {"d_model": 32, "num_layers": 1, "num_heads": 2, "d_ff": 64}),
])
def test_models_map_padded_batches_to_ctc_log_probs(name, kwargs):
    model = build_model(name, num_features=80, vocab_size=len(TOKENS), **kwargs).eval()
    feats, lens = torch.randn(3, 200, 80), torch.tensor([200, 120, 50])
    log_probs, out_lens = model(feats, lens)
    assert log_probs.shape[:2] == (3, out_lens.max()) and log_probs.shape[2] == len(TOKENS)
    assert torch.allclose(log_probs.exp().sum(-1), torch.ones(3, log_probs.shape[1]), atol=1e-4)
    assert out_lens.tolist() == sorted(out_lens.tolist(), reverse=True) and 5 <= out_lens[2] < out_lens[0] <= 25
    # Padding does not leak into the shorter utterance's outputs.
    alone, alone_len = model(feats[2:, :50], lens[2:])
    assert torch.allclose(alone[0, : alone_len[0]], log_probs[2, : out_lens[2]], atol=1e-4)


def test_utterance_norm_removes_what_the_channel_adds_to_every_frame():
    """A fixed per-bin offset of the log-mel features (a gain, a microphone's or a telephone line's frequency
    response) changes nothing under ``feature_norm: utterance``, and does change the global-norm model."""
    feats, lens = torch.randn(2, 120, 80), torch.tensor([120, 90])
    channel = torch.linspace(-3.0, 2.0, 80)
    shifted = feats + channel
    outputs = {}
    for norm in ("global", "utterance"):
        torch.manual_seed(0)
        model = build_model("tdnn", num_features=80, vocab_size=len(TOKENS), channels=16, num_layers=2,
                            feature_norm=norm).eval()
        with torch.no_grad():
            (a, a_lens), (b, _) = model(feats, lens), model(shifted, lens)
        outputs[norm] = max(float((a[i, :n] - b[i, :n]).abs().max()) for i, n in enumerate(a_lens.tolist()))
    assert outputs["utterance"] < 1e-4 < outputs["global"]


def test_unknown_feature_norm_is_refused():
    with pytest.raises(ValueError, match="feature_norm must be one of global, utterance"):
        build_model("tdnn", num_features=80, vocab_size=5, feature_norm="speaker")


def test_unknown_model_lists_known_ones():
    with pytest.raises(ValueError, match="conformer, dcnn, tdnn"):
        build_model("lstm", num_features=80, vocab_size=5)


def test_tdnn_frontend_must_be_known():
    with pytest.raises(ValueError, match="conv1d or conv2d"):
        build_model("tdnn", num_features=80, vocab_size=5, frontend="conv3d")


@pytest.mark.parametrize("strides", [[1, 2], [1, 2, 3]])
def test_conv2d_frequency_strides_are_checked(strides):
    with pytest.raises(ValueError, match="freq_strides must be 3 strides of 1 or 2"):
        build_model("tdnn", num_features=80, vocab_size=5, frontend="conv2d", frontend_freq_strides=strides)


def test_frequency_stride_one_keeps_the_bins():
    model = build_model("tdnn", num_features=80, vocab_size=5, channels=8, num_layers=1, frontend="conv2d",
                        frontend_channels=2, frontend_freq_strides=[1, 1, 2])
    # 80 bins: 78 and 76 after the two unstrided 3x3 convolutions, 37 after the strided one; 2 maps each.
    assert model.encoder.subsampling.conv.out.in_features == 2 * 37


def test_saved_model_loads_with_the_same_outputs(tmp_path):
    cfg = {"name": "tdnn", "channels": 16, "num_layers": 2}
    model = build_model(num_features=80, vocab_size=len(TOKENS), **cfg).eval()
    model.set_normalisation(torch.randn(80), torch.rand(80) + 0.5)
    save_atomic({"model_config": cfg, "num_features": 80, "vocab_size": len(TOKENS),
                 "model": model.state_dict()}, tmp_path / "model.pt")
    loaded, _ = load_model(tmp_path / "model.pt")
    x, n = torch.randn(1, 100, 80), torch.tensor([100])
    assert torch.equal(model(x, n)[0], loaded(x, n)[0])


class _RunsOnLoad:
    """An object whose unpickling would call a function: what a hostile model file holds."""

    def __reduce__(self):
        return (print, ("unpickled code ran",))


def test_model_files_are_loaded_without_running_their_objects(tmp_path, capsys):
    torch.save({"model_config": {"name": "tdnn"}, "num_features": 80, "vocab_size": 5, "model": {},
                "payload": _RunsOnLoad()}, tmp_path / "model.pt")
    with pytest.raises(ValueError, match="is not an asrt model file"):
        load_model(tmp_path / "model.pt")
    assert "unpickled code ran" not in capsys.readouterr().out
    (tmp_path / "damaged.pt").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="damaged.pt is not an asrt model file"):
        load_model(tmp_path / "damaged.pt")


def test_lr_schedule_warms_up_then_decays():
    assert lr_factor(0, 10, 100) == pytest.approx(0.1)
    assert lr_factor(9, 10, 100) == pytest.approx(1.0)
    assert lr_factor(55, 10, 100) == pytest.approx(0.02 + 0.98 * 0.5)
    assert lr_factor(100, 10, 100) == pytest.approx(0.02)
