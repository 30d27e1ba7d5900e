"""Corpus modules (stages 0 and 1): each knows one corpus's layout and quirks, and turns it into lhotse
manifests. A module is a :class:`Corpus` (see its docstring, and docs/adding_a_corpus.md) listed in
:data:`CORPORA`.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

CORPORA = {
    "mini_cmn": "asrt.corpora.mini_cmn",
    "aishell": "asrt.corpora.aishell",
    "thchs30": "asrt.corpora.thchs30",
    "stcmds": "asrt.corpora.stcmds",
    "primewords": "asrt.corpora.primewords",
    "aidatatang_200zh": "asrt.corpora.aidatatang_200zh",
    "magicdata": "asrt.corpora.magicdata",
    "multi_cn": "asrt.corpora.multi_cn",
}


@runtime_checkable
class Corpus(Protocol):
    """What a corpus module defines. Stage 0 never fetches again a corpus that is in place (downloaded
    before, or put there by hand); ``resume`` matters to a corpus stage 0 makes (mini_cmn's synthesis),
    which a run makes afresh unless ``resume`` keeps what an interrupted run finished. Its splits come from
    ``SPLITS`` (:class:`FixedSplits`) or, where they depend on what ``corpus_dir`` holds (a union of
    corpora, ``multi_cn``), from ``splits`` (:class:`SplitsInDir`)."""

    def download(self, corpus_dir: Path, config: dict[str, Any], num_jobs: int = 1, resume: bool = False) -> None:
        """Stage 0: fetch (or make) the corpus into ``corpus_dir``."""

    def prepare(self, corpus_dir: Path, manifest_dir: Path) -> None:
        """Stage 1: the recordings and supervisions manifests of every split."""


@runtime_checkable
class FixedSplits(Protocol):
    """A corpus whose splits are fixed, train first: the first is trained on, the second validates,
    all but the first are decoded."""

    SPLITS: tuple[str, ...]


@runtime_checkable
class SplitsInDir(Protocol):
    """A corpus whose splits depend on what its directory holds."""

    def splits(self, corpus_dir: Path) -> Splits:
        """How the pipeline uses the splits found in ``corpus_dir``."""


@runtime_checkable
class ExtraLmText(Protocol):
    """A corpus with text the LM may train on beyond the training transcripts (none without this)."""

    def extra_lm_text(self, corpus_dir: Path) -> list[Path]:
        """The text files, one sentence per line."""


def get_corpus(name: str) -> Corpus:
    """Import the module of corpus ``name``; ValueError lists the known corpora otherwise."""
    if name not in CORPORA:
        raise ValueError(f"unknown corpus {name!r}; known corpora: {', '.join(sorted(CORPORA))}")
    return importlib.import_module(CORPORA[name])


@dataclass(frozen=True)
class Splits:
    """How the pipeline uses a corpus's splits: stage 6 trains on ``train`` ({name: split}; several are
    mixed with ``train.mux_weights``, keyed by name) and validates on ``dev`` (together); stage 7
    decodes and scores ``evaluate``."""

    train: dict[str, str]
    dev: tuple[str, ...]
    evaluate: tuple[str, ...]

    @property
    def all(self) -> tuple[str, ...]:
        """Every split once, training splits first (the order stages 1-3 process them in)."""
        return tuple(dict.fromkeys((*self.train.values(), *self.dev, *self.evaluate)))


def corpus_splits(name: str, corpus_dir: str | Path | None = None) -> Splits:
    """The splits of corpus ``name``: its module's ``splits(corpus_dir)`` where it has one, else from
    ``SPLITS``: the first is trained on, the second validates, all but the first are decoded."""
    corpus = get_corpus(name)
    if isinstance(corpus, SplitsInDir):
        if not corpus_dir:
            raise ValueError(f"the splits of {name} depend on its corpus directory: pass --corpus-dir")
        return corpus.splits(Path(corpus_dir))
    splits = tuple(corpus.SPLITS)
    return Splits(train={name: splits[0]}, dev=splits[1:2], evaluate=splits[1:])


def extra_lm_text(name: str, corpus_dir: str | Path | None) -> list[Path]:
    """Text files beyond the training transcripts that the LM of corpus ``name`` may train on: its
    module's ``extra_lm_text(corpus_dir)``, or none (also without a ``corpus_dir``)."""
    corpus = get_corpus(name)
    if not corpus_dir or not isinstance(corpus, ExtraLmText):
        return []
    return corpus.extra_lm_text(Path(corpus_dir))
