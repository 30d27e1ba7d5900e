"""Corpus modules: each knows one corpus's layout and quirks, and turns it into lhotse manifests.

A corpus module defines ``SPLITS`` (train first), ``download(corpus_dir, config, num_jobs, resume)``
(stage 0) and ``prepare(corpus_dir, manifest_dir)`` (stage 1). Stage 0 never fetches again a corpus that
is in place (downloaded before, or put there by hand); ``resume`` matters to a corpus stage 0 makes
(mini_cmn's synthesis), which a run makes afresh unless ``resume`` keeps what an interrupted run finished.
A module may define ``extra_lm_text(corpus_dir)`` (text files the LM may use beyond the training
transcripts; none without it), and one whose splits depend on what ``corpus_dir`` holds (a union of
corpora, ``multi_cn``) defines ``splits(corpus_dir) -> Splits``.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

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


def get_corpus(name: str) -> ModuleType:
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
    if hasattr(corpus, "splits"):
        if not corpus_dir:
            raise ValueError(f"the splits of {name} depend on its corpus directory: pass --corpus-dir")
        return corpus.splits(Path(corpus_dir))
    splits = tuple(corpus.SPLITS)
    return Splits(train={name: splits[0]}, dev=splits[1:2], evaluate=splits[1:])


def extra_lm_text(name: str, corpus_dir: str | Path | None) -> list[Path]:
    """Text files beyond the training transcripts that the LM of corpus ``name`` may train on: its
    module's ``extra_lm_text(corpus_dir)``, or none (also without a ``corpus_dir``)."""
    corpus = get_corpus(name)
    if not corpus_dir or not hasattr(corpus, "extra_lm_text"):
        return []
    return corpus.extra_lm_text(Path(corpus_dir))
