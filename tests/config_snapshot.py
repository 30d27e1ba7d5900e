"""The effective configuration of every recipe config (``egs/*/conf/*.yaml``, the test replicas' and the
project defaults), as one JSON document: ``tests/data/effective_configs.json`` holds it as of the last
deliberate change, and ``tests/test_config.py`` checks that loading gives the same values.

After a deliberate change of a default or a recipe config, write it again (and say so in the commit):

    .venv/bin/python tests/config_snapshot.py > tests/data/effective_configs.json
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOT = ROOT / "tests" / "data" / "effective_configs.json"


def recipe_configs() -> list[str]:
    """Every recipe config, relative to the repository root, and ``""`` for the project defaults alone."""
    paths = sorted(ROOT.glob("egs/*/conf/*.yaml")) + [ROOT / "tests" / "replica.yaml"]
    return ["", *(str(p.relative_to(ROOT)) for p in paths)]


def effective_configs() -> dict[str, dict]:
    """``{config: load_config(config)}`` for every recipe config."""
    from asrt.config import load_config

    return {name: load_config(ROOT / name if name else None) for name in recipe_configs()}


if __name__ == "__main__":
    json.dump(effective_configs(), sys.stdout, indent=1, sort_keys=True, ensure_ascii=False)
    sys.stdout.write("\n")
