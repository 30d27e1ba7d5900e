"""Model files: saving, loading, averaging; imported by training and inference alike.

Training writes three kinds of file into an experiment directory (:mod:`asrt.train.trainer`):

- ``model.pt`` (the final model) and ``epoch-<E>.pt`` (the weights after each epoch): weights, the model's
  config, its input and output sizes, and plain numbers (epoch, step, losses). A packaged model directory
  holds a copy of one of them. They are loaded with ``weights_only=True``, so a model file from elsewhere
  cannot run code when it is opened.
- ``checkpoints/step-<N>.pt``: everything needed to resume training exactly (optimiser, scheduler, random
  states of every rank). Only the trainer reads them, from its own experiment directory.

``decoding_model`` picks the file stages 7 and 8 use: ``model.pt``, or the average of the last
``decode.avg`` epochs' weights.
"""
from __future__ import annotations

import logging
import pickle
import shutil
from pathlib import Path

import torch

from asrt.fileio import atomic_path
from asrt.models import CtcModel, build_model
from asrt.names import (
    AVERAGED_MODEL_GLOB, CHECKPOINT_DIR, EPOCH_MODEL_GLOB, MODEL_FILE, averaged_model_path, epoch_model_path,
)


def save_atomic(obj, path: Path) -> None:
    """torch.save to a temporary file, then rename: a killed save never leaves a truncated checkpoint."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_model_file(path: Path) -> dict:
    """The contents of a model file (``model.pt``, ``epoch-<E>.pt``, ``model-avg<N>.pt``), read without
    unpickling arbitrary objects (``weights_only=True``)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as e:  # a foreign, damaged or truncated file
        raise ValueError(f"{path} is not an asrt model file ({type(e).__name__}: {str(e).splitlines()[0]})") from None


def load_model(path: Path, device: torch.device | str = "cpu") -> tuple[CtcModel, dict]:
    """Load a model file written by training; return (the model in eval mode on ``device``, the file's contents)."""
    state = load_model_file(path)
    model = build_model(num_features=state["num_features"], vocab_size=state["vocab_size"], **state["model_config"])
    model.load_state_dict(state["model"])
    return model.to(device).eval(), state


def average_checkpoints(paths: list[Path]) -> dict:
    """The last model file's contents with its ``model`` weights replaced by the element-wise mean of every
    file's (integer buffers, such as batch-norm counters, are the last file's)."""
    if not paths:
        raise ValueError("no checkpoints to average")
    total: dict[str, torch.Tensor] = {}
    for path in paths:
        state = load_model_file(path)
        for name, value in state["model"].items():
            if value.is_floating_point():
                total[name] = total[name] + value.double() if name in total else value.double()
            else:
                total[name] = value
    weights = {name: (v / len(paths)).to(state["model"][name].dtype) if v.is_floating_point() else v
               for name, v in total.items()}
    return {**state, "model": weights, "averaged": [Path(p).name for p in paths]}


def decoding_model(exp_dir: Path, avg: int) -> Path:
    """The model stages 7 and 8 use: ``model.pt``, or with ``avg`` > 1 the average of the weights after the
    last ``avg`` epochs (``epoch-<E>.pt``), written once to ``model-avg<avg>.pt``."""
    exp_dir = Path(exp_dir)
    final = exp_dir / MODEL_FILE
    if not final.exists():
        raise FileNotFoundError(f"{final} does not exist: train the model first (stage 6)")
    if avg <= 1:
        return final
    last = load_model_file(final)["epoch"]
    if avg > last:
        raise ValueError(f"decode.avg is {avg}, but the model trained for {last} epochs: set it to {last} or less")
    paths = [epoch_model_path(exp_dir, e) for e in range(last - avg + 1, last + 1)]
    missing = [p.name for p in paths if not p.exists()]
    if missing:
        raise FileNotFoundError(f"cannot average the last {avg} epochs: {', '.join(missing)} missing in {exp_dir}")
    out = averaged_model_path(exp_dir, avg)
    if not out.exists() or out.stat().st_mtime < max(p.stat().st_mtime for p in [final, *paths]):
        logging.info("Averaging %s into %s", ", ".join(p.name for p in paths), out)
        save_atomic(average_checkpoints(paths), out)
    return out


def remove_training_files(exp_dir: Path) -> None:
    """Delete what an earlier training run left in ``exp_dir`` (``model.pt``, ``model-avg<N>.pt``,
    ``epoch-<E>.pt``, ``checkpoints/``): stage 6 run afresh must neither resume from nor average it."""
    exp_dir = Path(exp_dir)
    old = [exp_dir / MODEL_FILE, *exp_dir.glob(AVERAGED_MODEL_GLOB), *exp_dir.glob(EPOCH_MODEL_GLOB), exp_dir / CHECKPOINT_DIR]
    old = [p for p in old if p.exists()]
    if old:
        logging.warning("Training afresh in %s: removing %s of an earlier run", exp_dir, ", ".join(p.name for p in old))
    for path in old:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
