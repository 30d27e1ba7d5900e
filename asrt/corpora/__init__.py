"""Corpus modules: each knows one corpus's layout and quirks, and turns it into lhotse manifests.

A corpus module defines ``SPLITS`` (train first), ``download(corpus_dir, config, num_jobs)``,
``prepare(corpus_dir, manifest_dir)`` and ``extra_lm_text(corpus_dir)`` (text files the LM may use
beyond the training transcripts).
"""
from __future__ import annotations

import importlib
from types import ModuleType

CORPORA = {
    "mini_cmn": "asrt.corpora.mini_cmn",
    "aishell": "asrt.corpora.aishell",
    "thchs30": "asrt.corpora.thchs30",
    "stcmds": "asrt.corpora.stcmds",
    "primewords": "asrt.corpora.primewords",
    "aidatatang_200zh": "asrt.corpora.aidatatang_200zh",
    "magicdata": "asrt.corpora.magicdata",
}


def get_corpus(name: str) -> ModuleType:
    """Import the module of corpus ``name``; ValueError lists the known corpora otherwise."""
    if name not in CORPORA:
        raise ValueError(f"unknown corpus {name!r}; known corpora: {', '.join(sorted(CORPORA))}")
    return importlib.import_module(CORPORA[name])
