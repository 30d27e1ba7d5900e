"""Config composition: defaults shipped in the package, recipe files that hold only what differs (``base``
files, model presets)."""
from __future__ import annotations

from pathlib import Path

import pytest

import asrt
from asrt.config import DEFAULT_CONF_DIR, apply_layer, load_config, recipe_layers, resolve_model_preset

ROOT = Path(__file__).resolve().parent.parent
RECIPE_CONFIGS = sorted((ROOT / "egs").glob("*/conf/*.yaml"))
PRESETS = DEFAULT_CONF_DIR / "models"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_defaults_live_inside_the_package():
    assert DEFAULT_CONF_DIR.parent == Path(asrt.__file__).resolve().parent
    config = load_config()
    assert {"decode", "download", "features", "lang", "lm", "model", "train"} <= set(config)
    # model.yaml names a preset; the loaded section is the preset's keyword arguments.
    assert config["model"]["name"] == "conformer" and "preset" not in config["model"]
    assert config["train"]["spec_augment"]["num_frame_masks"] > 0


def test_base_files_apply_first_relative_to_the_file_naming_them(tmp_path):
    (tmp_path / "sub").mkdir()
    write(tmp_path / "a.yaml", "train:\n  lr: 0.1\n  epochs: 3\nlm:\n  order: 2\n")
    write(tmp_path / "sub" / "b.yaml", "base: ../a.yaml\ntrain:\n  epochs: 5\n")
    c = write(tmp_path / "sub" / "c.yaml", "base: b.yaml\nlm:\n  order: 3\n")
    config = load_config(c)
    assert (config["train"]["lr"], config["train"]["epochs"], config["lm"]["order"]) == (0.1, 5, 3)
    assert config["train"]["seed"] == load_config()["train"]["seed"]  # the defaults stay underneath
    assert "base" not in config


def test_a_missing_or_circular_base_is_one_clear_error(tmp_path):
    missing = write(tmp_path / "m.yaml", "base: nowhere.yaml\n")
    with pytest.raises(FileNotFoundError, match="base: nowhere.yaml.*does not exist"):
        load_config(missing)
    write(tmp_path / "x.yaml", "base: y.yaml\n")
    y = write(tmp_path / "y.yaml", "base: x.yaml\n")
    with pytest.raises(ValueError, match="is its own base"):
        load_config(y)


def test_a_preset_replaces_the_model_it_overrides(tmp_path):
    write(tmp_path / "base.yaml", "model:\n  name: conformer\n  d_model: 16\n  extra_key: 1\n")
    child = write(tmp_path / "child.yaml", "base: base.yaml\nmodel:\n  preset: conformer_s\n  dropout: 0.3\n")
    model = load_config(child)["model"]
    assert model == {**resolve_model_preset({"preset": "conformer_s"}, PRESETS), "dropout": 0.3}
    # keys beside a preset, or in a recipe based on one, merge into it
    grandchild = write(tmp_path / "grandchild.yaml", "base: child.yaml\nmodel:\n  num_layers: 2\n")
    assert load_config(grandchild)["model"] == {**model, "num_layers": 2}


def test_mini_cmn_variants_are_default_plus_what_they_change():
    conf = ROOT / "egs" / "mini_cmn" / "conf"
    default = load_config(conf / "default.yaml")
    char = load_config(conf / "char.yaml")
    assert char == {**default, "lang": {**default["lang"], "units": "chars"}, "lm": {**default["lm"], "unit": "char"}}
    bpe = load_config(conf / "bpe.yaml")
    assert {k: v for k, v in bpe.items() if k not in ("lang", "lm", "decode")} == \
        {k: v for k, v in default.items() if k not in ("lang", "lm", "decode")}
    assert bpe["lm"] == {**default["lm"], "unit": "char"}
    assert bpe["lang"]["units"] == "bpe" and bpe["decode"]["blank_penalty"] == 8.0
    streaming = load_config(conf / "streaming.yaml")
    assert streaming == {**default, "model": {**default["model"], "streaming": {"lookahead": 1, "chunked": True, "full_context": 0.75}}}


def _repeated(layer: dict, before: dict, prefix: str = "") -> list[str]:
    """The keys of ``layer`` that set what ``before`` already holds."""
    out = []
    for key, value in layer.items():
        old = before.get(key, object()) if isinstance(before, dict) else object()
        same_thing = isinstance(value, dict) and isinstance(old, dict) and value.get("name", old.get("name")) == old.get("name")
        if same_thing:
            out += _repeated(value, old, f"{prefix}{key}.")
        elif value == old:
            out.append(f"{prefix}{key}")
    return out


@pytest.mark.parametrize("path", RECIPE_CONFIGS, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_every_recipe_config_holds_only_what_differs(path):
    """A recipe file repeats nothing its defaults and bases already say; a preset counts as one value."""
    *bases, layer = recipe_layers(path)
    before = load_config()
    for base in bases:
        before = apply_layer(before, base, PRESETS)
    if isinstance(layer.get("model"), dict) and "preset" in layer["model"]:
        model = resolve_model_preset(layer["model"], PRESETS)
        assert model != before["model"], f"{path}: model repeats what it overrides"
        layer = {k: v for k, v in layer.items() if k != "model"}
    assert _repeated(layer, before) == [], f"{path} repeats values it inherits"


def test_every_recipe_config_loads_to_its_recorded_values():
    """The effective values of every recipe config, as tests/data/effective_configs.json records them (a
    deliberate change of a default writes it again: see tests/config_snapshot.py)."""
    import json

    from config_snapshot import SNAPSHOT, effective_configs

    recorded = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    loaded = json.loads(json.dumps(effective_configs(), ensure_ascii=False))
    assert sorted(loaded) == sorted(recorded)
    for name in recorded:
        assert loaded[name] == recorded[name], name
