"""Stage 8: a self-contained model directory that ``asrt recognize`` and the servers load."""
from __future__ import annotations

import datetime
import json
import shutil
from pathlib import Path

import yaml

from asrt.config import Section, default_section, load_config, merge
from asrt.decode.rescore import rescoring_lms
from asrt.fileio import write_text_atomic
from asrt.lang.units import Units
from asrt.names import (
    BPE_MODEL_FILE, CONFIG_FILE, HLG_FILE, LEXICON_FILE, LEXICONP_FILE, METADATA_FILE, MODEL_FILE, P2H_FILE,
    SAMPLE_RATE, TOKENS_FILE, UNITS_FILE, WORDS_FILE,
)
from asrt.version import git_commit

LANG_FILES = (TOKENS_FILE, WORDS_FILE, LEXICON_FILE, HLG_FILE)
# Copied when the lang directory has them: the output units (asrt/lang/units.py; units.json is absent in lang
# dirs made before units were configurable: tonal pinyin) and, for sentencepiece units, the model that turns
# pieces into text; for pinyin units the pronunciation probabilities and the pinyin-to-text graph.
OPTIONAL_LANG_FILES = (UNITS_FILE, BPE_MODEL_FILE, LEXICONP_FILE, P2H_FILE)
# The config sections metadata.json carries, which recognition reads.
PACKAGED_SECTIONS = ("features", "decode")


def package_model(model_path: Path, lang_dir: Path, out_dir: Path, config: dict, results: dict | None = None,
                  rescore_lm: Path | None = None) -> Path:
    """Copy weights, tokens, lexicon, words and graphs into ``out_dir`` with ``config.yaml`` and
    ``metadata.json``, and the rescoring LMs whose weights are above 0 when ``decode.method`` is ``rescore``
    (``rescore_lm``, stage 4's word LM, and the character LM beside it).

    The directory is assembled beside ``out_dir`` and renamed into place, so it is complete or absent.
    """
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    shutil.copy2(model_path, tmp / MODEL_FILE)
    for name in LANG_FILES:
        src = Path(lang_dir) / name
        if not src.exists():
            raise FileNotFoundError(f"{src} is missing: run stages 2 and 5 first")
        shutil.copy2(src, tmp / name)
    for name in OPTIONAL_LANG_FILES:
        if (Path(lang_dir) / name).exists():
            shutil.copy2(Path(lang_dir) / name, tmp / name)
    if config["decode"]["method"] == "rescore":
        for name, path in rescoring_lms(rescore_lm, config["decode"]).items():
            if path is None or not path.is_file():
                raise FileNotFoundError(f"decode.method rescore needs the rescoring LM {path}: run stage 4 with "
                                        "lm.rescore_order (lm_rescore.bin) or lm.rescore_char_order "
                                        "(lm_rescore_char.bin) above 0")
            shutil.copy2(path, tmp / name)
    (tmp / CONFIG_FILE).write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False))
    metadata = {
        "format": 1,
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
        "commit": git_commit(),
        "model": config["model"]["name"],
        "features": config["features"],
        "sample_rate": SAMPLE_RATE,
        "units": Units.from_dir(lang_dir).name,
        "decode": config["decode"],
        "results": results or {},
    }
    write_text_atomic(tmp / METADATA_FILE, json.dumps(metadata, indent=2, ensure_ascii=False) + "\n")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)
    return out_dir


def read_metadata(model_dir: Path) -> dict:
    """A packaged (or exported) model's ``metadata.json``, its config sections (:data:`PACKAGED_SECTIONS`) as
    :class:`asrt.config.Section` views completed with the project's defaults: a model packaged by an older
    asrt lacks the keys added since (in nested sections too), which take the values of
    ``asrt/conf/<section>.yaml``."""
    path = Path(model_dir) / METADATA_FILE
    metadata = json.loads(path.read_text())
    for name in PACKAGED_SECTIONS:
        metadata[name] = Section(name, merge(default_section(name), metadata[name]), source=str(path))
    return metadata


def decode_section(model_dir: Path, config: str | Path | None = None) -> Section:
    """The ``decode`` section to search ``model_dir`` with: the recipe config ``config``'s when given, else a
    packaged model's (its ``metadata.json``), else (a lang directory) the project's defaults."""
    if config:
        return Section("decode", load_config(config)["decode"], source=str(config))
    if (Path(model_dir) / METADATA_FILE).exists():
        return read_metadata(model_dir)["decode"]
    return Section("decode", default_section("decode"))
