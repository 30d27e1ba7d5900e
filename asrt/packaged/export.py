"""``asrt export``: a packaged model as ONNX, in the layout sherpa-onnx reads for an offline CTC model
with an HLG graph; the same directory is a model for ``asrt recognize --backend onnx``.

The exported directory holds ``model.onnx``, ``tokens.txt`` and ``HLG.fst`` for sherpa-onnx, beside
``words.txt``, ``lexicon.txt``, ``config.yaml``, ``metadata.json`` and the units' files for asrt. What sherpa-onnx expects,
and how asrt meets it (sherpa-onnx's ``offline-zipformer-ctc-model.cc`` and ``offline-ctc-fst-decoder.cc``):

* The model is run as an icefall Zipformer CTC model (``OfflineRecognizer.from_zipformer_ctc``): inputs
  ``x`` ``[N, T, 80]`` float (raw log-mel fbank; asrt's models normalise inside) and ``x_lens`` ``[N]``
  int64; outputs ``log_probs`` ``[N, T', V]`` (V fixed: sherpa-onnx reads it from the output's shape) and
  ``log_probs_len`` ``[N]`` int64. Batch and time axes are dynamic. No metadata is required.
* Its features are kaldi-native-fbank with sherpa-onnx's defaults (80 bins, 25/10 ms, povey window,
  pre-emphasis 0.97, DC removal, 20 Hz to Nyquist - 400 Hz, no dither, ``snip_edges=false``, samples in
  [-1, 1]): the same Kaldi recipe as lhotse's torch-native ``Fbank`` that asrt's models learn from. Spectrogram and
  pitch features have no sherpa-onnx counterpart: such models export for asrt's own backend only.
* HLG input label ``k + 1`` is acoustic column ``k``, as in ``asrt/lm/graph.py``; sherpa-onnx searches it
  with kaldi-decoder's ``FasterDecoder`` (beam 16, ``max_active`` configurable), builds its text from the
  tokens on the best path (tonal pinyin here) and returns the word ids in ``result.words``: map them
  through ``words.txt`` for characters.
* sherpa-onnx has no blank penalty for CTC graphs, so the exported HLG carries asrt's ``blank_penalty``
  as a cost on every blank arc (the same search as subtracting it from the blank log-prob of each frame),
  and the exported metadata's decode section has ``blank_penalty: 0``.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import shutil
import warnings
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from asrt.fileio import atomic_path, read_symbol_table, write_text_atomic
from asrt.models import MIN_FRAMES, CtcModel
from asrt.names import (
    BLANK_ID, CHAR_RESCORE_LM_FILE, CONFIG_FILE, HLG_FILE, LEXICON_FILE, METADATA_FILE, MODEL_FILE, ONNX_MODEL_FILE,
    RESCORE_LM_FILE, TOKENS_FILE, WORDS_FILE,
)
from asrt.packaged.onnx_model import INPUT_NAMES, OUTPUT_NAMES, onnx_log_probs, onnx_session
from asrt.packaged.package import OPTIONAL_LANG_FILES, read_metadata

ONNX_OPSET = 18
SHERPA_BEAM = 16.0  # kaldi-decoder's default, which sherpa-onnx does not change
TOLERANCE = 1e-4
LOG_PROB_FLOOR = -46.0  # log(1e-20)

log = logging.getLogger(__name__)


@contextlib.contextmanager
def quiet_exporter() -> Iterator[None]:
    """Keep the dynamo exporter's progress lines, optimiser logs and deprecation warnings off the console."""
    loggers = [logging.getLogger(name) for name in ("onnxscript", "onnx_ir", "torch.onnx")]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.WARNING)
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def export_onnx(model: CtcModel, path: Path, num_features: int, metadata: dict[str, object] | None = None) -> Path:
    """Write ``model`` as ONNX (dynamic batch and time axes) to ``path`` with ``metadata`` as properties."""
    import onnx

    model = model.eval()
    example = (torch.randn(2, 200, num_features), torch.tensor([200, 153]))
    batch = torch.export.Dim("batch", min=1, max=1024)
    time = torch.export.Dim("time", min=MIN_FRAMES, max=1_000_000)
    path = Path(path)
    with atomic_path(path) as tmp, quiet_exporter():
        torch.onnx.export(model, example, str(tmp), input_names=list(INPUT_NAMES), output_names=list(OUTPUT_NAMES),
                          opset_version=ONNX_OPSET, dynamo=True, external_data=False, verbose=False,
                          dynamic_shapes={"feats": {0: batch, 1: time}, "lengths": {0: batch}})
        proto = onnx.load(str(tmp))
        for key, value in (metadata or {}).items():
            proto.metadata_props.add(key=key, value=str(value))
        onnx.save(proto, str(tmp))
    return path


@torch.no_grad()
def onnx_log_prob_diff(model: CtcModel, onnx_path: Path, feats: torch.Tensor, lengths: torch.Tensor) -> dict:
    """How far the ONNX model's log-probs are from PyTorch's over the valid frames of a padded batch.

    ``max_abs_diff`` is over log-probs above ``LOG_PROB_FLOOR``; ``max_rel_diff`` is over all of them,
    relative to their size (at least 1). Below the floor a probability is under 1e-20, and float32 holds a
    log-prob of -250 only to about 2e-5, so two correct implementations differ there by more than 1e-4.
    Raises RuntimeError if the output lengths differ.
    """
    ref, ref_lens = model.eval()(feats, lengths)
    got, got_lens = onnx_log_probs(onnx_session(onnx_path), feats.numpy(), lengths.numpy())
    if got_lens.tolist() != ref_lens.tolist():
        raise RuntimeError(f"ONNX output lengths {got_lens.tolist()} differ from PyTorch's {ref_lens.tolist()}")
    abs_diff, rel_diff = 0.0, 0.0
    for i, m in enumerate(ref_lens.tolist()):
        r, d = ref[i, :m].numpy(), np.abs(got[i, :m] - ref[i, :m].numpy())
        abs_diff = max(abs_diff, float(d[r >= LOG_PROB_FLOOR].max(initial=0.0)))
        rel_diff = max(rel_diff, float((d / np.maximum(1.0, np.abs(r))).max(initial=0.0)))
    return {"max_abs_diff": abs_diff, "max_rel_diff": rel_diff}


def check_onnx(model: CtcModel, onnx_path: Path, num_features: int, lengths: tuple[int, ...] = (411, 298, 157, 33),
               tolerance: float = TOLERANCE, seed: int = 0) -> dict:
    """Compare ONNX with PyTorch on random features on the scale of the training features, in a padded
    batch of ``lengths`` and the shortest alone; raise RuntimeError if either difference exceeds
    ``tolerance``, else return the worse of each."""
    gen = torch.Generator().manual_seed(seed)
    feats = torch.randn(len(lengths), max(lengths), num_features, generator=gen) * model.feat_std + model.feat_mean
    diffs = [onnx_log_prob_diff(model, onnx_path, feats, torch.tensor(lengths)),
             onnx_log_prob_diff(model, onnx_path, feats[-1:, : lengths[-1]], torch.tensor(lengths[-1:]))]
    worst = {k: max(d[k] for d in diffs) for k in diffs[0]}
    if max(worst.values()) > tolerance:
        raise RuntimeError(f"ONNX log-probs differ from PyTorch's by more than {tolerance:g}: {worst}")
    return worst


def hlg_with_blank_penalty(hlg_path: Path, out_path: Path, num_tokens: int, blank_penalty: float) -> None:
    """Write HLG with ``blank_penalty`` added to the cost of every blank arc (input label 1); HLG's input
    labels are ``1..num_tokens``."""
    import kaldifst

    if not blank_penalty:
        shutil.copy2(hlg_path, out_path)
        return
    hlg = kaldifst.StdVectorFst.read(str(hlg_path))
    # A one-state acceptor over the input labels composed on HLG's input side: its only cost is the
    # penalty on blank, so the composition is HLG with that cost added to each blank arc.
    penalty = kaldifst.StdVectorFst()
    s = penalty.add_state()
    penalty.start = s
    penalty.set_final(s, 0.0)
    for label in range(1, num_tokens + 1):
        penalty.add_arc(s, kaldifst.StdArc(label, label, blank_penalty if label == BLANK_ID + 1 else 0.0, s))
    kaldifst.arcsort(hlg, sort_type="ilabel")
    out = kaldifst.compose(penalty, hlg, connect=True)
    kaldifst.arcsort(out, sort_type="ilabel")
    with atomic_path(out_path) as tmp:
        out.write(str(tmp))


def sherpa_onnx_compatibility(metadata: dict) -> str | None:
    """None if sherpa-onnx can run the packaged model as exported, else why not (one sentence)."""
    features = metadata["features"]
    if features["type"] != "fbank" or features["pitch"]:
        return "sherpa-onnx computes only plain fbank features, and this model reads " + (
            "fbank + pitch" if features["pitch"] else features["type"])
    if float(metadata["decode"]["acoustic_scale"]) != 1.0:
        return "sherpa-onnx cannot scale acoustic scores, and this model decodes with acoustic_scale != 1"
    return None


def export_source(model_dir: Path, out_dir: Path) -> dict:
    """The metadata of the packaged model ``model_dir`` to export into ``out_dir``; FileNotFoundError if it is
    not a packaged model, ValueError if ``out_dir`` is that directory itself."""
    if not (model_dir / MODEL_FILE).is_file() or not (model_dir / METADATA_FILE).is_file():
        raise FileNotFoundError(f"{model_dir} is not a packaged model directory (no model.pt): run stage 8 first")
    if out_dir.resolve() == model_dir.resolve():
        raise ValueError("--out must be a new directory, not the packaged model's own")
    return read_metadata(model_dir)


def export_model(model_dir: Path, out_dir: Path, tolerance: float = TOLERANCE) -> dict:
    """Export a packaged model directory (``asrt package``) to ``out_dir``; return its metadata.

    Raises RuntimeError if the ONNX log-probs differ from PyTorch's by more than ``tolerance``
    (:func:`check_onnx`). The directory is assembled beside ``out_dir`` and renamed into place, so it is
    complete or absent.
    """
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    metadata = export_source(model_dir, out_dir)
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        metadata = _export_into(model_dir, tmp, metadata, tolerance)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)
    return metadata


def _export_into(model_dir: Path, tmp: Path, metadata: dict, tolerance: float) -> dict:
    """Write every file of the export of ``model_dir`` into ``tmp``; return the export's metadata."""
    from asrt.models.checkpoint import load_model

    model, state = load_model(model_dir / MODEL_FILE)
    num_features = int(state["num_features"])
    with torch.no_grad():
        probe = model(torch.zeros(1, 800, num_features), torch.tensor([800]))[1].item()
    num_tokens = len(read_symbol_table(model_dir / TOKENS_FILE))
    onnx_meta = {"model_type": "asrt_ctc", "asrt_model": metadata["model"], "vocab_size": num_tokens,
                 "feature_dim": num_features, "subsampling_factor": round(800 / probe),
                 "comment": "asrt CTC model: raw features in, log-probs out (asrt/packaged/export.py)"}
    log.info("Exporting %s to ONNX (opset %d)", model_dir / MODEL_FILE, ONNX_OPSET)
    export_onnx(model, tmp / ONNX_MODEL_FILE, num_features, onnx_meta)
    diff = check_onnx(model, tmp / ONNX_MODEL_FILE, num_features, tolerance=tolerance)
    log.info("ONNX log-probs differ from PyTorch's by at most %.2e (above %g), %.2e relative",
             diff["max_abs_diff"], LOG_PROB_FLOOR, diff["max_rel_diff"])

    for name in (TOKENS_FILE, WORDS_FILE, LEXICON_FILE, CONFIG_FILE, *OPTIONAL_LANG_FILES, RESCORE_LM_FILE,
                 CHAR_RESCORE_LM_FILE):
        if (model_dir / name).exists():
            shutil.copy2(model_dir / name, tmp / name)
    decode = dict(metadata["decode"])
    # asrt's search scales (log-prob - penalty) by acoustic_scale, so the graph carries penalty * scale.
    blank_penalty = float(decode["blank_penalty"]) * float(decode["acoustic_scale"])
    log.info("Writing HLG.fst with blank penalty %g on its blank arcs", blank_penalty)
    hlg_with_blank_penalty(model_dir / HLG_FILE, tmp / HLG_FILE, num_tokens, blank_penalty)
    decode["blank_penalty"] = 0.0
    problem = sherpa_onnx_compatibility(metadata)
    if problem:
        log.warning("%s: the export runs with asrt recognize --backend onnx only", problem)
    metadata = {**metadata, "features": dict(metadata["features"])}
    metadata.update({
        "backend": "onnx",
        "exported_from": str(model_dir),
        "decode": decode,
        "hlg_blank_penalty": blank_penalty,
        "onnx": {"opset": ONNX_OPSET, "inputs": list(INPUT_NAMES), "outputs": list(OUTPUT_NAMES),
                 **diff, **onnx_meta},
        "sherpa_onnx": {"compatible": problem is None, "why_not": problem,
                        "factory": "OfflineRecognizer.from_zipformer_ctc", "feature_dim": num_features,
                        "ctc_max_active": int(decode["max_active"]), "beam": SHERPA_BEAM},
    })
    write_text_atomic(tmp / METADATA_FILE, json.dumps(metadata, indent=2, ensure_ascii=False) + "\n")
    return metadata

