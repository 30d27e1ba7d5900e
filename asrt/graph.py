"""Decoding-graph construction: CTC topology H, lexicon L, n-gram G, and HLG = H o min(det(L o G)),
or H o P o min(det(L o G)) when some tokens stand for several characters (sentencepiece pieces).

Symbol conventions (shared with :mod:`asrt.decoding`):

* ``tokens.txt``: ``<blk> 0`` then the output units ``1..N`` (syllables, characters or sentencepiece
  pieces: :mod:`asrt.units`); ids are acoustic-model output columns. Words are what the LM counts
  (characters, for every unit); for characters L maps each to itself.
* ``tokens_disambig.txt``: ``tokens.txt`` followed by ``#0 .. #K`` (ids ``N+1 ..``). ``#0`` carries
  G's back-off arcs through L; ``#1 .. #K`` separate homophones and prefix pronunciations.
* ``words.txt``: ``<eps> 0``, the lexicon's words sorted, then ``#0``, ``<s>``, ``</s>``.
* ``HLG.fst``: input label ``k + 1`` for acoustic column ``k`` (0 is epsilon, as kaldi-decoder's
  ``DecodableCtc`` expects), output labels are word ids; no disambiguation symbols remain.
"""
from __future__ import annotations

import logging
import math
import os
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Sequence

import kaldifst
import kaldilm

from asrt.fileio import atomic_path, read_symbol_table, scratch_path, write_text_atomic
from asrt.names import BLANK, BLANK_ID, HLG_FILE, LEXICON_FILE, LEXICONP_FILE, P2H_FILE, TOKENS_FILE, WORDS_FILE

log = logging.getLogger(__name__)

EPS = "<eps>"
BOS = "<s>"
EOS = "</s>"
BACKOFF_DISAMBIG = "#0"
RESERVED_WORDS = (EPS, BACKOFF_DISAMBIG, BOS, EOS)

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
            pron = pron + (f"#{used[pron]}",)
        out.append((word, pron))
    return out, max_k


def _read_tokens(path: Path) -> dict[str, int]:
    """Read tokens.txt and check the ids are exactly 0..N, the blank's the first, with no reserved '#' symbols."""
    tokens = read_symbol_table(path)
    if sorted(tokens.values()) != list(range(len(tokens))):
        raise ValueError(f"{path}: token ids must be exactly 0..{len(tokens) - 1}, each used once")
    if tokens.get(BLANK) != BLANK_ID:
        raise ValueError(f"{path}: the CTC blank {BLANK} must have id {BLANK_ID}")
    bad = [t for t in tokens if t.startswith("#")]
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
    tokens = _read_tokens(lang_dir / TOKENS_FILE)
    lexicon = read_lexicon(lang_dir / LEXICON_FILE)

    unknown = sorted({s for _, pron in lexicon for s in pron if s not in tokens or s == BLANK})
    if unknown:
        raise ValueError(
            f"{lang_dir / LEXICON_FILE} uses {len(unknown)} syllable(s) missing from tokens.txt "
            f"(or the blank): {' '.join(unknown[:10])}"
        )
    words = sorted({w for w, _ in lexicon})
    clash = [w for w in words if w in RESERVED_WORDS or w.startswith("#")]
    if clash:
        raise ValueError(f"{lang_dir / LEXICON_FILE}: reserved symbols cannot be words: {clash}")

    lexicon_disambig, max_k = add_disambig_symbols(lexicon)
    word_syms = [EPS, *words, BACKOFF_DISAMBIG, BOS, EOS]
    token_syms = sorted(tokens, key=tokens.__getitem__) + [f"#{k}" for k in range(max_k + 1)]

    _write_if_changed(lang_dir / WORDS_FILE, "".join(f"{w} {i}\n" for i, w in enumerate(word_syms)))
    _write_if_changed(
        lang_dir / "tokens_disambig.txt", "".join(f"{t} {i}\n" for i, t in enumerate(token_syms))
    )
    _write_if_changed(
        lang_dir / "lexicon_disambig.txt", "".join(f"{w} {' '.join(p)}\n" for w, p in lexicon_disambig)
    )
    log.info("words and disambiguation symbols: %d words, %d lexicon entries, disambig #0..#%d", len(words), len(lexicon), max_k)


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
    return tuple(s for s in pron if not s.startswith("#"))


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
    with scratch_path(Path(words_path).with_name("G.fst")) as tmp:
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

    def step(msg: str, t0: float) -> float:
        now = time.perf_counter()
        log.info("%s (%.1fs)", msg, now - t0)
        return now

    write_disambig_lang(lang_dir)
    tokens = _read_tokens(lang_dir / TOKENS_FILE)
    tokens_disambig = read_symbol_table(lang_dir / "tokens_disambig.txt")
    words = read_symbol_table(lang_dir / WORDS_FILE)
    lexicon_disambig = read_lexicon(lang_dir / "lexicon_disambig.txt")
    disambig_ids = sorted(i for t, i in tokens_disambig.items() if t.startswith("#"))

    t = time.perf_counter()
    lm_words = read_arpa_vocabulary(arpa_path) - {BOS, EOS}
    missing = sorted(lm_words - set(words))
    if missing:
        log.info(
            "%d LM words have no pronunciation; G drops their n-grams (e.g. %s)",
            len(missing), " ".join(missing[:10]),
        )
    grammar_fst = build_grammar_fst(arpa_path, lang_dir / WORDS_FILE)
    t = step(f"G: {_size(grammar_fst)}", t)
    lexicon_fst = build_lexicon_fst(lexicon_disambig, tokens_disambig, words, lm_words, read_pron_costs(lang_dir))
    t = step(f"L: {_size(lexicon_fst)}", t)
    lg = compose_lg(lexicon_fst, grammar_fst)
    del grammar_fst, lexicon_fst
    t = step(f"LG = min(det(L o G)): {_size(lg)}", t)
    spellings = multi_char_spellings(lexicon_disambig, lm_words)
    if spellings:
        spelling_fst = build_spelling_fst(spellings, tokens_disambig, len(tokens), disambig_ids)
        kaldifst.arcsort(spelling_fst, sort_type="olabel")
        lg = kaldifst.compose(spelling_fst, lg, connect=True)
        kaldifst.arcsort(lg, sort_type="ilabel")
        t = step(f"P o LG ({len(spellings)} tokens of several characters): {_size(lg)}", t)
    if p2h_path is not None:
        token_topo = build_token_topo(len(tokens), disambig_ids)
        kaldifst.arcsort(token_topo, sort_type="olabel")
        p2h = kaldifst.compose(token_topo, lg, connect=True)
        kaldifst.arcsort(p2h, sort_type="ilabel")
        _write_fst(p2h, Path(p2h_path))
        t = step(f"pinyin-to-text graph T o LG: {_size(p2h)}", t)
        del p2h, token_topo
    ctc_topo = build_ctc_topo(len(tokens), disambig_ids)
    kaldifst.arcsort(ctc_topo, sort_type="olabel")
    t = step(f"H: {_size(ctc_topo)}", t)
    hlg = kaldifst.compose(ctc_topo, lg, connect=True)
    del lg, ctc_topo
    if hlg.num_states == 0:
        raise ValueError(f"HLG is empty: {arpa_path} and {lang_dir}/lexicon.txt share no words")
    # Not determinized again (unlike icefall): H is input-deterministic and LG deterministic, so
    # H o LG already is, and leaving the disambiguation symbols as H's input epsilons spares a
    # Python relabelling pass over tens of millions of arcs.
    kaldifst.arcsort(hlg, sort_type="ilabel")
    t = step(f"HLG = H o LG: {_size(hlg)}", t)

    _write_fst(hlg, out_path)
    log.info("wrote %s (%.1f MB) in %.1fs total", out_path, out_path.stat().st_size / 1e6, time.perf_counter() - t_start)


def _write_fst(fst: kaldifst.StdVectorFst, path: Path) -> None:
    with atomic_path(path) as tmp:
        if not fst.write(str(tmp)):
            raise OSError(f"could not write {path}")
