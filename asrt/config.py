"""Configuration: the project's defaults in ``asrt/conf/<section>.yaml`` (one file per section, shipped
inside the package), overridden by a recipe's YAML file (``--config``), which holds any of the same
sections plus corpus-specific ones (such as mini_cmn's ``synth``).

A recipe file holds only what differs from what it builds on:

- ``base: default.yaml`` (a path relative to the file) applies that recipe file first, so a variant of a
  recipe is its base plus the keys it changes (mini_cmn's ``char.yaml`` is ``default.yaml`` with
  character units). A base may name a base of its own.
- ``model: {preset: conformer_m}`` is the model section of ``asrt/conf/models/conformer_m.yaml``, under any
  keys given beside ``preset``. A preset is a whole model: it replaces the model section it overrides
  instead of merging into it. The defaults' ``model.yaml`` names its preset the same way.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

DEFAULT_CONF_DIR = Path(__file__).resolve().parent / "conf"
BASE_KEY = "base"


def merge(base: dict, override: dict) -> dict:
    """Recursively merge ``override`` into a copy of ``base``.

    A dict that names a different ``name`` (say, another model) replaces the base dict instead of
    merging into it, since its keyword arguments belong to something else.
    """
    out = dict(base)
    for key, value in override.items():
        old = out.get(key)
        if isinstance(value, dict) and isinstance(old, dict) and ("name" not in value or value["name"] == old.get("name")):
            out[key] = merge(old, value)
        else:
            out[key] = value
    return out


class ConfigError(KeyError, ValueError):
    """A config section lacks a key its code reads: the message names the section and where its defaults are."""

    def __str__(self) -> str:
        return str(self.args[0])


class Section(Mapping):
    """A read-only view of one config section whose missing keys are a one-line :class:`ConfigError` naming
    the section, instead of a silent default in code: every default lives in ``asrt/conf/<section>.yaml``.

    ``source`` says where the section came from when that is not the loaded config (a packaged model's
    ``metadata.json``, say). The view holds the section's own dict, which stays the thing to serialise.
    """

    def __init__(self, name: str, values: Mapping[str, Any] | None, source: str | None = None) -> None:
        if isinstance(values, Section):
            values = values.values_dict
        self.name, self.values_dict, self.source = name, dict(values or {}), source

    def __getitem__(self, key: str) -> Any:
        try:
            return self.values_dict[key]
        except KeyError:
            where = f" of {self.source}" if self.source else ""
            raise ConfigError(f"config section {self.name!r}{where} has no {key!r}; its default is in "
                              f"asrt/conf/{self.name.split('.')[0]}.yaml") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.values_dict)

    def __len__(self) -> int:
        return len(self.values_dict)

    def __repr__(self) -> str:
        return f"Section({self.name!r}, {self.values_dict!r})"


def default_section(name: str, conf_dir: Path = DEFAULT_CONF_DIR) -> dict[str, Any]:
    """The project's defaults for one section (``conf_dir/<name>.yaml``), without reading the others."""
    return yaml.safe_load((Path(conf_dir) / f"{name}.yaml").read_text()) or {}


def load_config(override: str | Path | None = None, conf_dir: Path = DEFAULT_CONF_DIR) -> dict[str, Any]:
    """Load every ``conf_dir/<section>.yaml`` as section ``<section>``, then apply ``override`` after the
    chain of its ``base`` files."""
    presets_dir = Path(conf_dir) / "models"
    config: dict[str, Any] = {}
    for path in sorted(Path(conf_dir).glob("*.yaml")):
        config[path.stem] = default_section(path.stem, conf_dir)
    if isinstance(config.get("model"), dict) and "preset" in config["model"]:
        config["model"] = resolve_model_preset(config["model"], presets_dir)
    if override:
        for layer in recipe_layers(Path(override)):
            config = apply_layer(config, layer, presets_dir)
    return config


def recipe_layers(path: Path, _seen: tuple[Path, ...] = ()) -> list[dict[str, Any]]:
    """The recipe file ``path`` and the files it is based on, as dicts to apply in order (bases first)."""
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")
    if path.resolve() in _seen:
        chain = " -> ".join(str(p) for p in (*_seen, path.resolve()))
        raise ValueError(f"config file {path} is its own base ({chain}); remove one of those base keys")
    layer = yaml.safe_load(path.read_text()) or {}
    base = layer.pop(BASE_KEY, None)
    if base is None:
        return [layer]
    base_path = path.parent / base
    if not base_path.is_file():
        raise FileNotFoundError(f"config file {path} has base: {base}, but {base_path} does not exist; "
                                "a base is a path relative to the file that names it")
    return [*recipe_layers(base_path, (*_seen, path.resolve())), layer]


def apply_layer(config: dict[str, Any], layer: dict[str, Any], presets_dir: Path) -> dict[str, Any]:
    """``config`` overridden by one recipe file's ``layer``; a model preset replaces the model section."""
    model = layer.get("model")
    if not (isinstance(model, dict) and "preset" in model):
        return merge(config, layer)
    resolved = resolve_model_preset(model, presets_dir)
    out = merge(config, {k: v for k, v in layer.items() if k != "model"})
    out["model"] = resolved
    return out


def resolve_model_preset(model_cfg: dict, presets_dir: Path) -> dict:
    """``model_cfg`` with its ``preset`` replaced by that preset's keyword arguments (its own keys win)."""
    rest = {k: v for k, v in model_cfg.items() if k != "preset"}
    path = presets_dir / f"{model_cfg['preset']}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in presets_dir.glob("*.yaml")))
        raise ValueError(f"unknown model preset {model_cfg['preset']!r}; known presets: {known}")
    return {**(yaml.safe_load(path.read_text()) or {}), **rest}
