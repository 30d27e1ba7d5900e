"""The names of one recipe run (``asrt paths``): every file and directory run.sh's stages pass each other,
derived from the corpus, the data and experiment directories and the config (layout: :mod:`asrt.names`).

It sits above the stages it names: it loads the config, asks the corpus module for its splits and the
output units for their lang directory.
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from asrt.config import load_config
from asrt.corpora import Splits, corpus_splits
from asrt.lang.units import lang_dir_name
from asrt.names import (
    ARPA_FILE, FEATURE_DIR, HLG_FILE, LANG_DIR, MANIFEST_DIR, PACKAGE_DIR, RESCORE_LM_FILE, config_name, cuts_path,
)


@dataclass(frozen=True)
class RecipePaths:
    """Every name run.sh's stages pass each other, derived from its options."""

    corpus: str
    data_dir: Path
    lang_dir: Path
    lm_dir: Path  # data_dir/lm_<lm.unit>: each LM unit's n-grams, and stage 4's marker
    exp_dir: Path
    config_name: str
    splits: Splits

    def cuts(self, split: str) -> Path:
        """The cuts with features of ``split``."""
        return cuts_path(self.data_dir / FEATURE_DIR, self.corpus, split)

    @property
    def lang_markers(self) -> Path:
        """Where stages 2 and 5 keep their markers: the data directory for tonal pinyin's ``lang`` (as
        before units were configurable), else the lang directory itself, since each unit has its own."""
        return self.data_dir if self.lang_dir == self.data_dir / LANG_DIR else self.lang_dir

    def shell(self) -> str:
        """``name=value`` lines (bash arrays for lists), shell-quoted, for run.sh to ``eval``."""
        scalars = {
            "manifests": self.data_dir / MANIFEST_DIR, "lang": self.lang_dir, "lang_markers": self.lang_markers,
            "fbank": self.data_dir / FEATURE_DIR, "lm_dir": self.lm_dir, "arpa": self.lm_dir / ARPA_FILE,
            "rescore_lm": self.lm_dir / RESCORE_LM_FILE,
            "hlg": self.lang_dir / HLG_FILE, "exp_dir": self.exp_dir, "config_name": self.config_name,
            "model_dir": self.exp_dir / PACKAGE_DIR,
        }
        arrays = {
            "train_cuts": [f"{name}={self.cuts(split)}" for name, split in self.splits.train.items()],
            "dev_cuts": [self.cuts(s) for s in self.splits.dev],
            "eval_splits": list(self.splits.evaluate),
            "eval_cuts": [self.cuts(s) for s in self.splits.evaluate],
        }
        lines = [f"{k}={shlex.quote(str(v))}" for k, v in scalars.items()]
        lines += [f"{k}=({' '.join(shlex.quote(str(x)) for x in v)})" for k, v in arrays.items()]
        return "".join(line + "\n" for line in lines)


def recipe_paths(corpus: str, corpus_dir: str | Path | None, data_dir: str | Path, config: str | Path | None = None,
                 exp_dir: str | Path | None = None) -> RecipePaths:
    """The names of a recipe run: lang directory from the config's output units, splits from the corpus
    module (a union of corpora needs ``corpus_dir`` in place: run stage 0 first)."""
    data_dir = Path(data_dir)
    name = config_name(config)
    cfg = load_config(config)
    return RecipePaths(corpus=corpus, data_dir=data_dir, lang_dir=data_dir / lang_dir_name(cfg["lang"]),
                       lm_dir=data_dir / f"lm_{cfg['lm']['unit']}",
                       exp_dir=Path(exp_dir) if exp_dir else Path("exp") / name, config_name=name,
                       splits=corpus_splits(corpus, corpus_dir))
