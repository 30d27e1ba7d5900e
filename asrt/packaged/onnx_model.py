"""An exported acoustic model (``model.onnx`` of ``asrt export``) run with onnxruntime on the CPU: the
ONNX backend of ``asrt recognize`` and the check that an export matches its PyTorch model."""
from __future__ import annotations

from pathlib import Path

import numpy as np

INPUT_NAMES = ("x", "x_lens")  # sherpa-onnx's names for a CTC model's features and their lengths
OUTPUT_NAMES = ("log_probs", "log_probs_len")


def onnx_session(path: Path, num_threads: int = 1):
    """An onnxruntime CPU session for ``path``, using ``num_threads`` threads."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = num_threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def onnx_log_probs(session, feats: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CTC log-probs ``[N, T', V]`` and their lengths for padded features ``[N, T, F]`` (float32) and
    lengths ``[N]`` (int64)."""
    lp, lens = session.run(list(OUTPUT_NAMES), {INPUT_NAMES[0]: feats, INPUT_NAMES[1]: lengths})
    return lp, lens
