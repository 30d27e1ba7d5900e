"""Configuration: the project's defaults in ``conf/*.yaml`` (one file per section), overridden by a
recipe's YAML file (``--config``), which holds any of the same sections plus corpus-specific ones
(such as mini_cmn's ``synth``).

A ``model`` section may name a preset, ``model: {preset: conformer_m}``: the model section of
``conf/models/conformer_m.yaml``, under any keys the recipe gives beside ``preset``."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

DEFAULT_CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


def merge(base: dict, override: dict) -> dict:
    """Recursively merge ``override`` into a copy of ``base``.

    A dict that names a different ``name`` (say, another model) replaces the base dict instead of
    merging into it, since its keyword arguments belong to something else.
    """
    out = dict(base)
    for key, value in override.items():
        old = out.get(key)
        if isinstance(value, dict) and isinstance(old, dict) and value.get("name", old.get("name")) == old.get("name"):
            out[key] = merge(old, value)
        else:
            out[key] = value
    return out


def load_config(override: str | Path | None = None, conf_dir: Path = DEFAULT_CONF_DIR) -> dict[str, Any]:
    """Load every ``conf_dir/<section>.yaml`` as section ``<section>``, then apply ``override``."""
    config: dict[str, Any] = {}
    for path in sorted(Path(conf_dir).glob("*.yaml")):
        config[path.stem] = yaml.safe_load(path.read_text()) or {}
    if override:
        path = Path(override)
        if not path.exists():
            raise FileNotFoundError(f"config file {path} does not exist")
        extra = yaml.safe_load(path.read_text()) or {}
        if isinstance(extra.get("model"), dict) and "preset" in extra["model"]:
            extra["model"] = resolve_model_preset(extra["model"], Path(conf_dir) / "models")
        config = merge(config, extra)
    return config


def resolve_model_preset(model_cfg: dict, presets_dir: Path) -> dict:
    """``model_cfg`` with its ``preset`` replaced by that preset's keyword arguments (its own keys win)."""
    rest = {k: v for k, v in model_cfg.items() if k != "preset"}
    path = presets_dir / f"{model_cfg['preset']}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in presets_dir.glob("*.yaml")))
        raise ValueError(f"unknown model preset {model_cfg['preset']!r}; known presets: {known}")
    return {**(yaml.safe_load(path.read_text()) or {}), **rest}
