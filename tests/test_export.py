"""``asrt export``: ONNX log-probs against PyTorch's, ``asrt recognize --backend onnx``, and sherpa-onnx decoding
the exported model with its HLG to the characters ``asrt recognize`` gives."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf
import torch
from conftest import Utterance, section

from asrt.decode.search import HlgDecoder
from asrt.features.extract import make_extractor
from asrt.fileio import read_symbol_table
from asrt.models import build_model
from asrt.models.checkpoint import load_model
from asrt.names import HLG_FILE, METADATA_FILE, ONNX_MODEL_FILE, SAMPLE_RATE, TOKENS_FILE
from asrt.packaged.export import TOLERANCE, check_onnx, export_onnx, onnx_log_prob_diff, sherpa_onnx_compatibility
from asrt.packaged.recognizer import Recognizer


def asrt_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "asrt.cli", *args], capture_output=True, text=True, timeout=600)


def sherpa_onnx_recognizer(export_dir: Path, num_threads: int = 1):
    """A ``sherpa_onnx.OfflineRecognizer`` for an exported directory (model.onnx, tokens.txt, HLG.fst), made as an
    app would from the export's metadata: the oracle the export is tested against."""
    import sherpa_onnx

    export_dir = Path(export_dir)
    meta = json.loads((export_dir / METADATA_FILE).read_text())["sherpa_onnx"]
    if not meta["compatible"]:
        raise ValueError(f"{export_dir} cannot run in sherpa-onnx: {meta['why_not']}")
    return sherpa_onnx.OfflineRecognizer.from_zipformer_ctc(
        model=str(export_dir / ONNX_MODEL_FILE), tokens=str(export_dir / TOKENS_FILE), num_threads=num_threads,
        sample_rate=SAMPLE_RATE, feature_dim=int(meta["feature_dim"]), ctc_graph=str(export_dir / HLG_FILE),
        ctc_max_active=int(meta["ctc_max_active"]))


@pytest.mark.parametrize("name,num_features,kwargs", [
    ("tdnn", 80, {"channels": 32, "num_layers": 2, "frontend": "conv2d", "frontend_channels": 4}),
    ("tdnn", 80, {"channels": 32, "num_layers": 2, "feature_norm": "utterance"}),
    ("conformer", 80, {"d_model": 32, "num_layers": 2, "num_heads": 2, "d_ff": 64}),
    ("dcnn", 200, {"channels": [8, 8, 16, 16, 16], "hidden": 16}),
])
def test_onnx_matches_pytorch_for_every_model(tmp_path, name, num_features, kwargs):
    torch.manual_seed(0)
    model = build_model(name, num_features=num_features, vocab_size=11, **kwargs).eval()
    model.set_normalisation(torch.randn(num_features), torch.rand(num_features) + 0.5)
    path = export_onnx(model, tmp_path / "model.onnx", num_features, {"model_type": "asrt_ctc"})
    # Batches and lengths other than the example the exporter traced: the axes are dynamic.
    diff = check_onnx(model, path, num_features, lengths=(333, 250, 101, 17))
    assert diff["max_abs_diff"] < TOLERANCE and diff["max_rel_diff"] < TOLERANCE
    import onnx

    proto = onnx.load(str(path))
    assert {p.key: p.value for p in proto.metadata_props} == {"model_type": "asrt_ctc"}
    assert [i.name for i in proto.graph.input] == ["x", "x_lens"]
    assert [o.name for o in proto.graph.output] == ["log_probs", "log_probs_len"]
    # sherpa-onnx reads the vocabulary size off the output's last axis, so it must be fixed.
    assert proto.graph.output[0].type.tensor_type.shape.dim[2].dim_value == 11


def test_sherpa_onnx_takes_plain_fbank_only():
    def metadata(features: dict, decode: dict) -> dict:
        return {"features": section("features", **features), "decode": section("decode", **decode)}

    assert sherpa_onnx_compatibility(metadata({"type": "fbank", "pitch": False}, {"acoustic_scale": 1.0})) is None
    assert "spectrogram" in sherpa_onnx_compatibility(metadata({"type": "spectrogram"}, {}))
    assert "pitch" in sherpa_onnx_compatibility(metadata({"type": "fbank", "pitch": True}, {}))
    assert "acoustic_scale" in sherpa_onnx_compatibility(metadata({"type": "fbank", "pitch": False},
                                                                  {"acoustic_scale": 0.5}))


@pytest.fixture(scope="module")
def exported(model_dir: Path, tmp_path_factory) -> Path:
    """The CI model exported by ``asrt export``."""
    out = tmp_path_factory.mktemp("export") / "onnx"
    proc = asrt_cli("export", "--model-dir", str(model_dir), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    return out


def test_export_layout_and_metadata(exported: Path, model_dir: Path):
    for name in ("model.onnx", "tokens.txt", "HLG.fst", "words.txt", "metadata.json"):
        assert (exported / name).is_file(), name
    meta = json.loads((exported / "metadata.json").read_text())
    packaged = json.loads((model_dir / "metadata.json").read_text())
    assert meta["onnx"]["max_abs_diff"] < TOLERANCE and meta["sherpa_onnx"]["compatible"]
    assert meta["decode"]["blank_penalty"] == 0.0 and meta["hlg_blank_penalty"] == packaged["decode"]["blank_penalty"]
    assert (exported / "tokens.txt").read_text() == (model_dir / "tokens.txt").read_text()


def test_onnx_log_probs_match_pytorch_on_test_audio(exported: Path, model_dir: Path, utterances: list[Utterance]):
    model, _ = load_model(model_dir / "model.pt")
    extractor = make_extractor(json.loads((model_dir / "metadata.json").read_text())["features"])
    feats = [torch.from_numpy(extractor.extract(sf.read(u.path, dtype="float32")[0], 16000)) for u in utterances]
    lengths = torch.tensor([f.shape[0] for f in feats])
    batch = torch.nn.utils.rnn.pad_sequence(feats, batch_first=True)
    diff = onnx_log_prob_diff(model, exported / "model.onnx", batch, lengths)
    assert diff["max_abs_diff"] < TOLERANCE and diff["max_rel_diff"] < TOLERANCE, diff


def test_blank_penalty_in_the_graph_decodes_as_in_the_search(exported: Path, model_dir: Path,
                                                            utterances: list[Utterance]):
    torch_backend = Recognizer(model_dir)
    onnx_backend = Recognizer(exported, backend="onnx")
    assert torch_backend.decoder.blank_penalty > 0 and onnx_backend.decoder.blank_penalty == 0
    for u in utterances:
        lp = torch_backend.log_probs(sf.read(u.path, dtype="float32")[0])
        assert onnx_backend.decoder.decode(lp) == torch_backend.decoder.decode(lp)


def test_recognize_with_the_onnx_backend(exported: Path, utterances: list[Utterance], reference: list[dict]):
    proc = asrt_cli("recognize", "--backend", "onnx", "--model-dir", str(exported), *(str(u.path) for u in utterances))
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(line) for line in proc.stdout.splitlines()] == reference


def test_sherpa_onnx_decodes_like_asrt_hlg(exported: Path, utterances: list[Utterance]):
    """sherpa-onnx searches HLG for the best path and cannot rescore: it finds what asrt's ``hlg`` method finds."""
    recognizer = sherpa_onnx_recognizer(exported)
    asrt_onnx = Recognizer(exported, backend="onnx")
    hlg = HlgDecoder.from_dir(exported, {**json.loads((exported / "metadata.json").read_text())["decode"],
                                         "method": "hlg"})
    id2word = {i: w for w, i in read_symbol_table(exported / "words.txt").items()}
    for u in utterances:
        samples, rate = sf.read(u.path, dtype="float32")
        stream = recognizer.create_stream()
        stream.accept_waveform(rate, samples)
        recognizer.decode_stream(stream)
        # sherpa-onnx builds its text from the tokens on the best path (tonal pinyin); the words are ids.
        assert "".join(id2word[w] for w in stream.result.words) == "".join(hlg.decode(asrt_onnx.log_probs(samples)))
        assert stream.result.text == "".join(stream.result.tokens)


def test_export_errors_are_one_sentence(tmp_path: Path, exported: Path):
    proc = asrt_cli("export", "--model-dir", str(tmp_path), "--out", str(tmp_path / "out"))
    assert proc.returncode == 1 and "not a packaged model directory" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    proc = asrt_cli("recognize", "--backend", "onnx", "--model-dir", str(tmp_path), "x.wav")
    assert proc.returncode == 1 and "asrt export" in proc.stderr and "Traceback" not in proc.stderr
    proc = asrt_cli("export", "--model-dir", str(exported), "--out", str(tmp_path / "out"))
    assert proc.returncode == 1 and "not a packaged model directory" in proc.stderr  # already exported
