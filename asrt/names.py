"""The numbers and names every stage agrees on, each written down once: the sample rate, the CTC blank,
and the files through which stages talk. ``asrt paths`` hands run.sh the names it needs (:class:`RecipePaths`).

A recipe's files (``--data-dir``, default ``data``; ``--exp-dir``, default ``exp/<config name>``)::

    data/local/<corpus>/                            the corpus (stage 0), unless --corpus-dir says elsewhere
    data/manifests/<corpus>_<kind>_<split>.jsonl.gz  recordings, supervisions (1), supervisions_labelled (2)
    data/lang[_<units>]/                            tokens.txt, lexicon[p].txt, words.txt, lm_text.txt (2), HLG.fst, LG_pinyin.fst (5)
    data/fbank/<corpus>_cuts_<split>.jsonl.gz       cuts with features (3), stored in <corpus>_feats_<split>/
    data/lm_<lm unit>/lm.arpa, lm_rescore.bin       the graph's n-gram LM, the rescoring LM (4; lm_word, lm_char)
    data/lm_<lm unit>/lm_rescore_char.bin           the character rescoring LM (4)
    exp/<config>/                                   model.pt, epoch-<E>.pt, checkpoints/ (6), decode/ (7), model/ (8)

A union of corpora (``multi_cn``) names its splits ``<member>_<split>``, so its files are
``multi_cn_cuts_aishell_train.jsonl.gz`` and so on.
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

# Audio: every recording is resampled to this rate before features (asrt/audio.py), and models expect it.
SAMPLE_RATE = 16000

# CTC: the blank is the first line of tokens.txt, ``<blk> 0``, and the model's output 0.
BLANK = "<blk>"
BLANK_ID = 0

# Files of a lang directory (stages 2 and 5), also copied into a packaged model directory (stage 8).
TOKENS_FILE = "tokens.txt"
LEXICON_FILE = "lexicon.txt"
LEXICONP_FILE = "lexiconp.txt"  # Kaldi's: WORD PROB UNIT ..., pronunciation probabilities (pinyin units)
WORDS_FILE = "words.txt"
LM_TEXT_FILE = "lm_text.txt"
HLG_FILE = "HLG.fst"
P2H_FILE = "LG_pinyin.fst"  # pinyin units: T o LG, the graph that turns pinyin into characters (/language)
# Files of an experiment and of a packaged model directory (stages 6-8), and of an exported one.
MODEL_FILE = "model.pt"
CONFIG_FILE = "config.yaml"
METADATA_FILE = "metadata.json"
ONNX_MODEL_FILE = "model.onnx"
SUMMARY_FILE = "summary.json"  # exp/<config>/decode/summary.json: stage 7's scores
DECODE_DIR = "decode"
PACKAGE_DIR = "model"
# Directories and files of a data directory.
MANIFEST_DIR = "manifests"
FEATURE_DIR = "fbank"
ARPA_FILE = "lm.arpa"  # in the LM directory, data/lm_<lm.unit> (stage 4)
RESCORE_LM_FILE = "lm_rescore.bin"  # beside ARPA_FILE and in a packaged model: KenLM binary
CHAR_RESCORE_LM_FILE = "lm_rescore_char.bin"  # beside RESCORE_LM_FILE: the character n-gram for rescoring
LANG_DIR = "lang"


def manifest_path(manifest_dir: Path, corpus: str, kind: str, split: str) -> Path:
    """Path of one manifest, ``<corpus>_<kind>_<split>.jsonl.gz``; ``kind`` is ``recordings``,
    ``supervisions``, ``supervisions_labelled`` or ``cuts``."""
    return Path(manifest_dir) / f"{corpus}_{kind}_{split}.jsonl.gz"


def cuts_path(feature_dir: Path, corpus: str, split: str) -> Path:
    """The cuts with features of one split (stage 3)."""
    return manifest_path(feature_dir, corpus, "cuts", split)


def feature_storage(feature_dir: Path, corpus: str, split: str) -> Path:
    """Where stage 3 stores one split's feature matrices (lilcom archives)."""
    return Path(feature_dir) / f"{corpus}_feats_{split}"


def config_name(config: str | Path | None) -> str:
    """A config's name: its file name without ``.yaml`` (``default`` without a config)."""
    return Path(config).name.removesuffix(".yaml") if config else "default"


@dataclass(frozen=True)
class RecipePaths:
    """Every name run.sh's stages pass each other, derived from its options (see the module docstring)."""

    corpus: str
    data_dir: Path
    lang_dir: Path
    lm_dir: Path  # data_dir/lm_<lm.unit>: each LM unit's n-grams, and stage 4's marker
    exp_dir: Path
    config_name: str
    train: dict[str, str]  # {name: split}: the training splits, mixed by name
    dev: tuple[str, ...]
    evaluate: tuple[str, ...]

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
            "train_cuts": [f"{name}={self.cuts(split)}" for name, split in self.train.items()],
            "dev_cuts": [self.cuts(s) for s in self.dev],
            "eval_splits": list(self.evaluate),
            "eval_cuts": [self.cuts(s) for s in self.evaluate],
        }
        lines = [f"{k}={shlex.quote(str(v))}" for k, v in scalars.items()]
        lines += [f"{k}=({' '.join(shlex.quote(str(x)) for x in v)})" for k, v in arrays.items()]
        return "".join(line + "\n" for line in lines)


def recipe_paths(corpus: str, corpus_dir: str | Path | None, data_dir: str | Path, config: str | Path | None = None,
                 exp_dir: str | Path | None = None) -> RecipePaths:
    """The names of a recipe run: lang directory from the config's output units, splits from the corpus
    module (a union of corpora needs ``corpus_dir`` in place: run stage 0 first)."""
    from asrt.config import load_config
    from asrt.corpora import corpus_splits
    from asrt.units import lang_dir_name

    data_dir = Path(data_dir)
    name = config_name(config)
    splits = corpus_splits(corpus, corpus_dir)
    cfg = load_config(config)
    return RecipePaths(corpus=corpus, data_dir=data_dir, lang_dir=data_dir / lang_dir_name(cfg.get("lang")),
                       lm_dir=data_dir / f"lm_{cfg['lm']['unit']}",
                       exp_dir=Path(exp_dir) if exp_dir else Path("exp") / name, config_name=name,
                       train=dict(splits.train), dev=tuple(splits.dev), evaluate=tuple(splits.evaluate))
