"""Stage 8: a self-contained model directory that ``asrt recognize`` and the servers load."""
from __future__ import annotations

import datetime
import json
import shutil
from pathlib import Path

import yaml

from asrt.evaluate import git_commit
from asrt.fileio import write_text_atomic
from asrt.units import BPE_MODEL, UNITS_FILE, Units

LANG_FILES = ("tokens.txt", "words.txt", "lexicon.txt", "HLG.fst")
# The output units (asrt/units.py): units.json (absent in lang dirs made before units were configurable:
# tonal pinyin) and, for sentencepiece units, the model that turns pieces into text.
UNITS_FILES = (UNITS_FILE, BPE_MODEL)


def package_model(model_path: Path, lang_dir: Path, out_dir: Path, config: dict, results: dict | None = None) -> Path:
    """Copy weights, tokens, lexicon, words and graph into ``out_dir`` with ``config.yaml`` and ``metadata.json``.

    The directory is assembled beside ``out_dir`` and renamed into place, so it is complete or absent.
    """
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    shutil.copy2(model_path, tmp / "model.pt")
    for name in LANG_FILES:
        src = Path(lang_dir) / name
        if not src.exists():
            raise FileNotFoundError(f"{src} is missing: run stages 2 and 5 first")
        shutil.copy2(src, tmp / name)
    for name in UNITS_FILES:
        if (Path(lang_dir) / name).exists():
            shutil.copy2(Path(lang_dir) / name, tmp / name)
    (tmp / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False))
    metadata = {
        "format": 1,
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
        "commit": git_commit(),
        "model": config["model"]["name"],
        "features": config["features"],
        "sample_rate": 16000,
        "units": Units.from_dir(lang_dir).name,
        "decode": config["decode"],
        "results": results or {},
    }
    write_text_atomic(tmp / "metadata.json", json.dumps(metadata, indent=2, ensure_ascii=False) + "\n")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)
    return out_dir
