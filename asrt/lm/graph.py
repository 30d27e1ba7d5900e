"""Decoding-graph construction: CTC topology H, lexicon L, n-gram G, and HLG = H o min(det(L o G)),
or H o P o min(det(L o G)) when some tokens stand for several characters (sentencepiece pieces).

Symbol conventions (shared with :mod:`asrt.decode.search`):

* ``tokens.txt``: ``<blk> 0`` then the output units ``1..N`` (syllables, characters or sentencepiece
  pieces: :mod:`asrt.lang.units`); ids are acoustic-model output columns. Words are what the LM counts
  (characters, for every unit); for characters L maps each to itself.
* ``tokens_disambig.txt`` and ``words.txt`` (stage 2): :mod:`asrt.lang.disambig`.
* ``HLG.fst``: input label ``k + 1`` for acoustic column ``k`` (0 is epsilon, as kaldi-decoder's
  ``DecodableCtc`` expects), output labels are word ids; no disambiguation symbols remain.
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Sequence

import kaldifst
import kaldilm

from asrt.fileio import atomic_path, read_symbol_table, scratch_path
from asrt.lang.disambig import Lexicon, PronCosts, read_lexicon, read_pron_costs, read_tokens, write_disambig_lang
from asrt.names import (
    BACKOFF_DISAMBIG, BOS, EOS, GRAMMAR_FILE, HLG_FILE, LEXICON_DISAMBIG_FILE, TOKENS_DISAMBIG_FILE, TOKENS_FILE,
    WORDS_FILE, is_disambig,
)

log = logging.getLogger(__name__)

def build_ctc_topo(num_tokens: int, disambig_ids: Sequence[int] = ()) -> kaldifst.StdVectorFst:
    """Standard CTC topology over ``num_tokens`` outputs (blank = 0), input labels shifted by one.

    State ``s`` means "token ``s`` was the last frame's label" (0: blank/start). Every state is final.
    Arc ``s -> t`` reads ``t + 1`` and writes ``t``, except that a repeat (``s == t``) and the blank
    write epsilon. Each ``disambig_ids`` symbol gets an ``<eps>:#k`` self-loop on every state, so
    composing with a disambiguated LG leaves those positions as input epsilons and no relabelling
    pass over the (large) HLG is needed.
    """
    if num_tokens < 2:
        raise ValueError(f"CTC topology needs a blank and at least one token, got num_tokens={num_tokens}")
    # Compiling text is ~2x faster than num_tokens**2 Python add_arc calls. Blank's arc
    # "0 1 0" already writes 0, i.e. epsilon.
    arcs_to = [f" {t} {t + 1} {t}\n" for t in range(num_tokens)]
    loops = [f" 0 {d}\n" for d in disambig_ids]
    parts: list[str] = []
    for s in range(num_tokens):
        head = str(s)
        parts.append("".join(head + a for a in arcs_to[:s]))
        parts.append(f"{s} {s} {s + 1} 0\n")
        parts.append("".join(head + a for a in arcs_to[s + 1:]))
        parts.append("".join(f"{s} {s}{x}" for x in loops))
        parts.append(f"{s}\n")
    return kaldifst.compile(s="".join(parts), acceptor=False)


def build_token_topo(num_tokens: int, disambig_ids: Sequence[int] = ()) -> kaldifst.StdVectorFst:
    """One state reading ``t + 1`` and writing token ``t`` for every token, the blank's ``1`` writing
    epsilon (a skipped frame), with ``<eps>:#k`` loops: composed with LG it gives the pinyin-to-text graph,
    whose search takes one frame per syllable (no repeats to merge), with input labels numbered as HLG's
    (acoustic column + 1)."""
    if num_tokens < 2:
        raise ValueError(f"a token topology needs a blank and at least one token, got num_tokens={num_tokens}")
    arcs = [f"0 0 {t + 1} {t}\n" for t in range(num_tokens)] + [f"0 0 0 {d}\n" for d in disambig_ids]
    return kaldifst.compile(s="".join(arcs) + "0\n", acceptor=False)


def _strip_disambig(pron: tuple[str, ...]) -> tuple[str, ...]:
    """The syllables of a lexicon_disambig.txt pronunciation, without its ``#k`` marker."""
    return tuple(s for s in pron if not is_disambig(s))


def _output_labels(
    word: str,
    pron: tuple[str, ...],
    word_ids: dict[str, int],
    lm_words: set[str] | None,
    char_readings: set[tuple[str, str]],
) -> list[int] | None:
    """Word ids to emit along ``pron``'s arcs: the word itself, its characters, or None (left out).

    A multi-character word the LM does not know (a character LM knows none) is spelled as its
    characters, one per arc, so its pronunciation still counts -- but only when it adds a reading
    the single-character entries lack: a redundant copy of the character paths would just grow
    LG by one mid-word state per LM history of its first character.
    """
    if lm_words is None or word in lm_words:
        return [word_ids[word]]
    syllables = _strip_disambig(pron)
    if len(word) < 2 or len(word) > len(syllables):
        return None
    if not all(c in lm_words and c in word_ids for c in word):
        return None
    if len(word) == len(syllables) and all(r in char_readings for r in zip(word, syllables)):
        return None
    return [word_ids[c] for c in word]


def build_lexicon_fst(
    lexicon_disambig: Lexicon,
    token_ids: dict[str, int],
    word_ids: dict[str, int],
    lm_words: set[str] | None = None,
    costs: PronCosts | None = None,
) -> kaldifst.StdVectorFst:
    """L: token sequences (with ``#k`` markers) to words, word label on the first arc, ``#0:#0`` loops;
    each entry's pronunciation cost (``costs``, from ``lexiconp.txt``) on its first arc.

    With ``lm_words``, entries the LM cannot score are spelled as characters or left out
    (see :func:`_output_labels`), so L o G has no dead paths.
    """
    costs = costs or {}
    char_readings = {(w, p[0]) for w, p in lexicon_disambig if len(w) == 1 and len(_strip_disambig(p)) == 1}
    fst = kaldifst.StdVectorFst()
    loop = fst.add_state()
    fst.start = loop
    fst.set_final(loop, 0.0)
    spelled = left_out = 0
    for word, pron in lexicon_disambig:
        olabels = _output_labels(word, pron, word_ids, lm_words, char_readings)
        if olabels is None:
            left_out += 1
            continue
        spelled += len(olabels) > 1
        src = loop
        for i, sym in enumerate(pron):
            dst = loop if i == len(pron) - 1 else fst.add_state()
            cost = costs.get((word, _strip_disambig(pron)), 0.0) if i == 0 else 0.0
            fst.add_arc(src, kaldifst.StdArc(token_ids[sym], olabels[i] if i < len(olabels) else 0, cost, dst))
            src = dst
    # G's back-off arcs read #0 wherever a word may start: on every state with a word-emitting
    # arc (the loop state, and inside words spelled as several characters) or a final weight.
    kaldifst.add_self_loops(fst, isyms=[token_ids[BACKOFF_DISAMBIG]], osyms=[word_ids[BACKOFF_DISAMBIG]])
    if spelled or left_out:
        log.info(
            "L: %d entries not in the LM spelled as characters, %d left out (unknown to the LM, "
            "or multi-character words the character entries already cover)", spelled, left_out,
        )
    return fst


def multi_char_spellings(lexicon_disambig: Lexicon, lm_words: set[str]) -> dict[tuple[str, ...], tuple[str, ...]]:
    """Tokens that stand for several LM characters (a sentencepiece piece such as ``中国``), each mapped to
    the tokens (with ``#k``) of its characters' own entries.

    These are the lexicon entries of a word the LM does not know with more characters than tokens, all
    of whose characters have entries. L leaves them out (one arc per character cannot be drawn with
    fewer tokens than characters, and input-epsilon arcs in L make det(L o G) explode); P rewrites
    them into their characters' tokens after LG is built instead.
    """
    spelling: dict[str, tuple[str, ...]] = {}
    for word, pron in lexicon_disambig:
        if len(word) == 1:
            spelling.setdefault(word, pron)
    out = {}
    for word, pron in lexicon_disambig:
        tokens = _strip_disambig(pron)
        if word in lm_words or len(word) < 2 or len(word) <= len(tokens):
            continue
        if all(c in spelling and c in lm_words for c in word):
            out[tokens] = tuple(t for c in word for t in spelling[c])
    return out


def build_spelling_fst(
    spellings: dict[tuple[str, ...], tuple[str, ...]], token_ids: dict[str, int], num_tokens: int,
    disambig_ids: Sequence[int],
) -> kaldifst.StdVectorFst:
    """P: every token and ``#k`` to itself, plus a path from each of ``spellings``' token sequences to
    its characters' tokens, with ``#k`` loops inside so G may back off between the characters.

    P o LG is not determinized again: a piece reaches its characters' LG state by the n-gram or by
    back-off, and the Viterbi search takes the better, as it would between any two paths.
    """
    fst = kaldifst.StdVectorFst()
    loop = fst.add_state()
    fst.start = loop
    fst.set_final(loop, 0.0)
    for i in [*range(1, num_tokens), *disambig_ids]:
        fst.add_arc(loop, kaldifst.StdArc(i, i, 0.0, loop))
    for tokens, spelled in spellings.items():
        n = max(len(tokens), len(spelled))
        src = loop
        for i in range(n):
            dst = loop if i == n - 1 else fst.add_state()
            ilabel = token_ids[tokens[i]] if i < len(tokens) else 0
            olabel = token_ids[spelled[i]] if i < len(spelled) else 0
            fst.add_arc(src, kaldifst.StdArc(ilabel, olabel, 0.0, dst))
            if dst != loop:
                for d in disambig_ids:
                    fst.add_arc(dst, kaldifst.StdArc(d, d, 0.0, dst))
            src = dst
    return fst


def read_arpa_vocabulary(arpa_path: str | os.PathLike) -> set[str]:
    """The words of an ARPA LM's 1-gram section (reads no further, so it is cheap on big LMs)."""
    vocab: set[str] = set()
    in_unigrams = False
    with open(arpa_path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line.startswith("\\"):
                if in_unigrams:
                    break
                in_unigrams = line == "\\1-grams:"
            elif in_unigrams and line:
                fields = line.split()
                if len(fields) < 2:
                    raise ValueError(f"{arpa_path}: malformed 1-gram line {line!r}")
                vocab.add(fields[1])
    if not vocab:
        raise ValueError(f"{arpa_path} has no \\1-grams: section; is it an ARPA file?")
    return vocab


def build_grammar_fst(
    arpa_path: str | os.PathLike, words_path: str | os.PathLike
) -> kaldifst.StdVectorFst:
    """G from an ARPA LM via kaldilm: ``#0`` on back-off arcs, ``<s>``/``</s>`` as epsilons.

    N-grams containing a word missing from words.txt (e.g. ``<unk>``, characters without a
    pronunciation) are skipped by kaldilm, since the lexicon could never produce them.
    """
    arpa_path = Path(arpa_path)
    if not arpa_path.is_file():
        raise FileNotFoundError(f"{arpa_path} not found: train the n-gram LM first")
    # kaldilm writes G to a file: a temporary beside words.txt, which the next run removes if this one is killed
    with scratch_path(Path(words_path).with_name(GRAMMAR_FILE)) as tmp:
        kaldilm.arpa2fst(
            input_arpa=str(arpa_path),
            output_fst=str(tmp),
            disambig_symbol=BACKOFF_DISAMBIG,
            read_symbol_table=str(words_path),
            max_arpa_warnings=0,  # OOV n-grams are expected; compile_hlg logs a summary
        )
        fst = kaldifst.StdVectorFst.read(str(tmp))
    if fst is None or fst.num_states == 0:
        raise ValueError(f"{arpa_path}: no usable n-grams (are the LM's words in the lexicon?)")
    return fst


def _size(fst: kaldifst.StdVectorFst) -> str:
    """Human-readable 'states/arcs' summary for logs."""
    arcs = sum(fst.num_arcs(s) for s in range(fst.num_states))
    return f"{fst.num_states} states, {arcs} arcs"


def compose_lg(
    lexicon_fst: kaldifst.StdVectorFst, grammar_fst: kaldifst.StdVectorFst
) -> kaldifst.StdVectorFst:
    """min(det(L o G)), input-sorted, disambiguation symbols kept; arc-sorts both inputs in place."""
    kaldifst.arcsort(lexicon_fst, sort_type="olabel")
    kaldifst.arcsort(grammar_fst, sort_type="ilabel")
    lg = kaldifst.compose(lexicon_fst, grammar_fst, connect=True)
    if kaldifst.determinize_star(lg):
        raise RuntimeError("determinizing L o G stopped early; the lexicon disambiguation is broken")
    kaldifst.minimize_encoded(lg)
    kaldifst.arcsort(lg, sort_type="ilabel")
    return lg


def _step(msg: str, t0: float) -> float:
    """Log a finished step of the graph build with its time since ``t0``; return the time now."""
    now = time.perf_counter()
    log.info("%s (%.1fs)", msg, now - t0)
    return now


def build_lg(lang_dir: Path, arpa_path: Path) -> tuple[kaldifst.StdVectorFst, int, list[int]]:
    """LG = min(det(L o G)) of a lang directory and an ARPA LM (P o LG when some tokens spell several
    characters); with the number of tokens and the disambiguation symbols' token ids."""
    write_disambig_lang(lang_dir)
    tokens = read_tokens(lang_dir / TOKENS_FILE)
    tokens_disambig = read_symbol_table(lang_dir / TOKENS_DISAMBIG_FILE)
    words = read_symbol_table(lang_dir / WORDS_FILE)
    lexicon_disambig = read_lexicon(lang_dir / LEXICON_DISAMBIG_FILE)
    disambig_ids = sorted(i for t, i in tokens_disambig.items() if is_disambig(t))

    t = time.perf_counter()
    lm_words = read_arpa_vocabulary(arpa_path) - {BOS, EOS}
    missing = sorted(lm_words - set(words))
    if missing:
        log.info(
            "%d LM words have no pronunciation; G drops their n-grams (e.g. %s)",
            len(missing), " ".join(missing[:10]),
        )
    grammar_fst = build_grammar_fst(arpa_path, lang_dir / WORDS_FILE)
    t = _step(f"G: {_size(grammar_fst)}", t)
    lexicon_fst = build_lexicon_fst(lexicon_disambig, tokens_disambig, words, lm_words, read_pron_costs(lang_dir))
    t = _step(f"L: {_size(lexicon_fst)}", t)
    lg = compose_lg(lexicon_fst, grammar_fst)
    del grammar_fst, lexicon_fst
    t = _step(f"LG = min(det(L o G)): {_size(lg)}", t)
    spellings = multi_char_spellings(lexicon_disambig, lm_words)
    if spellings:
        spelling_fst = build_spelling_fst(spellings, tokens_disambig, len(tokens), disambig_ids)
        kaldifst.arcsort(spelling_fst, sort_type="olabel")
        lg = kaldifst.compose(spelling_fst, lg, connect=True)
        kaldifst.arcsort(lg, sort_type="ilabel")
        _step(f"P o LG ({len(spellings)} tokens of several characters): {_size(lg)}", t)
    return lg, len(tokens), disambig_ids


def compile_hlg(
    lang_dir: str | os.PathLike, arpa_path: str | os.PathLike, out_path: str | os.PathLike | None = None,
    p2h_path: str | os.PathLike | None = None,
) -> None:
    """Build HLG.fst (input: acoustic column + 1, output: word id) from a lang dir and an ARPA LM, into
    ``out_path`` (default: the lang dir's); with ``p2h_path``, also the pinyin-to-text graph T o LG
    (:func:`build_token_topo`), which the LG step is shared with."""
    lang_dir, arpa_path = Path(lang_dir), Path(arpa_path)
    out_path = Path(out_path) if out_path is not None else lang_dir / HLG_FILE
    if not arpa_path.is_file():
        raise FileNotFoundError(f"{arpa_path} not found: train the n-gram LM first")
    t_start = time.perf_counter()
    lg, num_tokens, disambig_ids = build_lg(lang_dir, arpa_path)
    t = time.perf_counter()
    if p2h_path is not None:
        token_topo = build_token_topo(num_tokens, disambig_ids)
        kaldifst.arcsort(token_topo, sort_type="olabel")
        p2h = kaldifst.compose(token_topo, lg, connect=True)
        kaldifst.arcsort(p2h, sort_type="ilabel")
        _write_fst(p2h, Path(p2h_path))
        t = _step(f"pinyin-to-text graph T o LG: {_size(p2h)}", t)
        del p2h, token_topo
    ctc_topo = build_ctc_topo(num_tokens, disambig_ids)
    kaldifst.arcsort(ctc_topo, sort_type="olabel")
    t = _step(f"H: {_size(ctc_topo)}", t)
    hlg = kaldifst.compose(ctc_topo, lg, connect=True)
    del lg, ctc_topo
    if hlg.num_states == 0:
        raise ValueError(f"HLG is empty: {arpa_path} and {lang_dir}/lexicon.txt share no words")
    # Not determinized again (unlike icefall): H is input-deterministic and LG deterministic, so
    # H o LG already is, and leaving the disambiguation symbols as H's input epsilons spares a
    # Python relabelling pass over tens of millions of arcs.
    kaldifst.arcsort(hlg, sort_type="ilabel")
    _step(f"HLG = H o LG: {_size(hlg)}", t)

    _write_fst(hlg, out_path)
    log.info("wrote %s (%.1f MB) in %.1fs total", out_path, out_path.stat().st_size / 1e6, time.perf_counter() - t_start)


def _write_fst(fst: kaldifst.StdVectorFst, path: Path) -> None:
    with atomic_path(path) as tmp:
        if not fst.write(str(tmp)):
            raise OSError(f"could not write {path}")
