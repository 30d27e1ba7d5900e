"""multi_cn: the union of the six open Mandarin corpora, each prepared by its own module.

``corpus_dir`` holds one directory (or a symlink to one) per member corpus, named after it, laid out as
that corpus's own recipe expects its ``--corpus-dir``::

    <corpus_dir>/aishell/            data_aishell/ ...        (egs/aishell)
    <corpus_dir>/thchs30/            data_thchs30/ ...        (egs/thchs30)
    <corpus_dir>/stcmds/ ...  <corpus_dir>/primewords/ ...  <corpus_dir>/aidatatang_200zh/ ...  <corpus_dir>/magicdata/ ...

The union is every member found there. Stage 0 downloads the members that are missing (all six);
to train on a subset, put only those under ``corpus_dir`` and start at stage 1.

Each member keeps its own splits, named ``<member>_<split>`` (``aishell_train``, ``aishell_dev``,
``aishell_test``, ...), its own transcript rules and its own pinyin (THCHS-30's pinyin line), since its
module writes them. Training mixes the members' training splits (``train.mux_weights``, see
:mod:`asrt.train.mixing`), validation runs on all members' dev splits together, and stage 7 scores every
member's dev and test split on its own.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

from asrt.corpora import Splits, get_corpus
from asrt.corpora import extra_lm_text as member_lm_text
from asrt.fileio import scratch_path
from asrt.names import manifest_path

NAME = "multi_cn"
MEMBERS = ("aishell", "thchs30", "stcmds", "primewords", "aidatatang_200zh", "magicdata")
MEMBER_SPLITS = ("train", "dev", "test")
KINDS = ("recordings", "supervisions")


def members(corpus_dir: Path) -> list[str]:
    """The member corpora under ``corpus_dir``, in :data:`MEMBERS` order; FileNotFoundError if none."""
    found = [m for m in MEMBERS if (Path(corpus_dir) / m).is_dir()]
    if not found:
        raise FileNotFoundError(f"no member corpus under {corpus_dir}: it should hold one or more of "
                                f"{', '.join(m + '/' for m in MEMBERS)} (directories or symlinks); run stage 0 "
                                f"to download them")
    return found


def member_split(member: str, split: str) -> str:
    """The name of a member's split in the union: ``<member>_<split>``."""
    return f"{member}_{split}"


def splits(corpus_dir: Path) -> Splits:
    """Train on every member's train split, validate on every dev split, score every dev and test split."""
    found = members(corpus_dir)
    return Splits(train={m: member_split(m, "train") for m in found},
                  dev=tuple(member_split(m, "dev") for m in found),
                  evaluate=tuple(member_split(m, s) for m in found for s in MEMBER_SPLITS[1:]))


def download(corpus_dir: Path, config: dict, num_jobs: int = 1, resume: bool = False) -> None:
    """Stage 0: each member's own stage 0 into ``corpus_dir/<member>`` (skipped where the data is there)."""
    for m in MEMBERS:
        logging.info("multi_cn: %s into %s", m, Path(corpus_dir) / m)
        get_corpus(m).download(Path(corpus_dir) / m, config, num_jobs, resume)


def prepare(corpus_dir: Path, manifest_dir: Path) -> None:
    """Stage 1: each member's own manifests, renamed ``multi_cn_<kind>_<member>_<split>``."""
    manifest_dir = Path(manifest_dir)
    manifest_dir.mkdir(parents=True, exist_ok=True)
    for m in members(corpus_dir):
        module = get_corpus(m)
        if tuple(module.SPLITS) != MEMBER_SPLITS:
            raise RuntimeError(f"{m} has splits {module.SPLITS}, multi_cn expects {MEMBER_SPLITS}")
        # The member writes its own names into a scratch directory beside ours; renames are atomic.
        with scratch_path(manifest_dir / m, directory=True) as tmp:
            module.prepare(Path(corpus_dir) / m, tmp)
            for split in MEMBER_SPLITS:
                for kind in KINDS:
                    os.replace(manifest_path(tmp, m, kind, split),
                               manifest_path(manifest_dir, NAME, kind, member_split(m, split)))


def extra_lm_text(corpus_dir: Path) -> list[Path]:
    """Every member's extra LM text."""
    return [p for m in members(corpus_dir) for p in member_lm_text(m, Path(corpus_dir) / m)]
