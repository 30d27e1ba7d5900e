"""Stage 2's graph symbols: ``words.txt``, and the lexicon and tokens with disambiguation symbols
(``lexicon_disambig.txt``, ``tokens_disambig.txt``) that stage 5 builds L from; and the readers of a lang
directory's lexicons.

* ``tokens_disambig.txt``: ``tokens.txt`` followed by ``#0 .. #K`` (ids ``N+1 ..``). ``#0`` carries
  G's back-off arcs through L; ``#1 .. #K`` separate homophones and prefix pronunciations.
* ``words.txt``: ``<eps> 0``, the lexicon's words sorted, then ``#0``, ``<s>``, ``</s>``.
"""
from __future__ import annotations

import logging
import math
import os
from collections import Counter, defaultdict
from pathlib import Path

from asrt.fileio import read_symbol_table, write_text_atomic
from asrt.names import (
    BACKOFF_DISAMBIG, BLANK, BLANK_ID, BOS, DISAMBIG_PREFIX, EOS, EPS, LEXICON_DISAMBIG_FILE, LEXICON_FILE,
    LEXICONP_FILE, TOKENS_DISAMBIG_FILE, TOKENS_FILE, WORDS_FILE, is_disambig, is_graph_symbol,
)

log = logging.getLogger(__name__)

Lexicon = list[tuple[str, tuple[str, ...]]]
PronCosts = dict[tuple[str, tuple[str, ...]], float]  # (word, pronunciation) -> -ln(p / p_max)


def read_lexicon(path: str | os.PathLike) -> Lexicon:
    """Read ``WORD SYL SYL ...`` lines, dropping exact duplicate entries but keeping file order."""
    entries: Lexicon = []
    seen: set[tuple[str, tuple[str, ...]]] = set()
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) < 2:
                raise ValueError(f"{path}:{line_no}: word {fields[0]!r} has no pronunciation")
            entry = (fields[0], tuple(fields[1:]))
            if entry not in seen:
                seen.add(entry)
                entries.append(entry)
    if not entries:
        raise ValueError(f"{path} is empty: the lexicon must list at least one word")
    return entries


def read_pron_costs(lang_dir: str | os.PathLike) -> PronCosts:
    """The pronunciation costs of a lang directory's ``lexiconp.txt`` (``WORD PROB UNIT ...``), ``-ln(PROB)``;
    empty when it has none (every reading of a word equally good)."""
    path = Path(lang_dir) / LEXICONP_FILE
    if not path.is_file():
        return {}
    costs: PronCosts = {}
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            fields = line.split()
            try:
                prob = float(fields[1])
            except (IndexError, ValueError):
                raise ValueError(f"{path}:{line_no}: expected 'WORD PROB UNIT ...', got {line.strip()!r}") from None
            if not 0 < prob <= 1 or len(fields) < 3:
                raise ValueError(f"{path}:{line_no}: expected 'WORD PROB UNIT ...' with 0 < PROB <= 1")
            costs[fields[0], tuple(fields[2:])] = -math.log(prob)
    return costs


def add_disambig_symbols(lexicon: Lexicon) -> tuple[Lexicon, int]:
    """Append ``#k`` to homophones and to pronunciations that prefix another; return (lexicon, max k)."""
    pron_counts = Counter(pron for _, pron in lexicon)
    prefixes = {pron[:n] for pron in pron_counts for n in range(1, len(pron))}
    used: dict[tuple[str, ...], int] = defaultdict(int)
    out: Lexicon = []
    max_k = 0
    for word, pron in lexicon:
        if pron_counts[pron] > 1 or pron in prefixes:
            used[pron] += 1
            max_k = max(max_k, used[pron])
            pron = pron + (f"{DISAMBIG_PREFIX}{used[pron]}",)
        out.append((word, pron))
    return out, max_k


def read_tokens(path: Path) -> dict[str, int]:
    """Read tokens.txt and check the ids are exactly 0..N, the blank's the first, with no reserved '#' symbols."""
    tokens = read_symbol_table(path)
    if sorted(tokens.values()) != list(range(len(tokens))):
        raise ValueError(f"{path}: token ids must be exactly 0..{len(tokens) - 1}, each used once")
    if tokens.get(BLANK) != BLANK_ID:
        raise ValueError(f"{path}: the CTC blank {BLANK} must have id {BLANK_ID}")
    bad = [t for t in tokens if is_disambig(t)]
    if bad:
        raise ValueError(f"{path}: tokens may not start with '#' (reserved for disambiguation): {bad[:5]}")
    return tokens


def _write_if_changed(path: Path, text: str) -> None:
    """Atomically write ``text`` unless ``path`` already holds exactly it (keeps reruns no-ops)."""
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return
    write_text_atomic(path, text)


def write_disambig_lang(lang_dir: str | os.PathLike) -> None:
    """Write words.txt, lexicon_disambig.txt and tokens_disambig.txt from tokens.txt + lexicon.txt."""
    lang_dir = Path(lang_dir)
    for name in (TOKENS_FILE, LEXICON_FILE):
        if not (lang_dir / name).is_file():
            raise FileNotFoundError(f"{lang_dir / name} not found: run the lexicon/token stage first")
    tokens = read_tokens(lang_dir / TOKENS_FILE)
    lexicon = read_lexicon(lang_dir / LEXICON_FILE)

    unknown = sorted({s for _, pron in lexicon for s in pron if s not in tokens or s == BLANK})
    if unknown:
        raise ValueError(
            f"{lang_dir / LEXICON_FILE} uses {len(unknown)} syllable(s) missing from tokens.txt "
            f"(or the blank): {' '.join(unknown[:10])}"
        )
    words = sorted({w for w, _ in lexicon})
    clash = [w for w in words if is_graph_symbol(w)]
    if clash:
        raise ValueError(f"{lang_dir / LEXICON_FILE}: reserved symbols cannot be words: {clash}")

    lexicon_disambig, max_k = add_disambig_symbols(lexicon)
    word_syms = [EPS, *words, BACKOFF_DISAMBIG, BOS, EOS]
    token_syms = sorted(tokens, key=tokens.__getitem__) + [f"{DISAMBIG_PREFIX}{k}" for k in range(max_k + 1)]

    _write_if_changed(lang_dir / WORDS_FILE, "".join(f"{w} {i}\n" for i, w in enumerate(word_syms)))
    _write_if_changed(
        lang_dir / TOKENS_DISAMBIG_FILE, "".join(f"{t} {i}\n" for i, t in enumerate(token_syms))
    )
    _write_if_changed(
        lang_dir / LEXICON_DISAMBIG_FILE, "".join(f"{w} {' '.join(p)}\n" for w, p in lexicon_disambig)
    )
    log.info("words and disambiguation symbols: %d words, %d lexicon entries, disambig #0..#%d", len(words), len(lexicon), max_k)
