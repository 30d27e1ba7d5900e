"""Stage 4: the n-gram LMs over the lang directory's LM text (characters or words), trained with KenLM's
``lmplz``; lmplz's own progress meter and statistics go to stderr as it writes them.

- ``lm.arpa``: the LM of the decoding graph (``lm.order``, pruned by ``lm.prune``);
- ``lm_rescore.bin``: with ``lm.rescore_order`` above 0, a larger LM (``lm.rescore_prune``) in KenLM's
  binary format (``build_binary``), which ``decode.method: rescore`` scores n-best lists with;
- ``lm_rescore_char.bin``: with ``lm.rescore_char_order`` above 0, an unpruned n-gram over the LM text's
  characters (:func:`characters`), which ``decode.method: rescore`` adds with ``decode.char_lm_weight``.

Both give every lexicon word the LM text never has as a word of its own (with a word LM, characters seen
only inside longer words) a 1-gram sharing ``<unk>``'s probability, so that a word outside the vocabulary
can still be spelt in characters, and the rescoring LM scores such a spelling as the graph did.
"""
from __future__ import annotations

import codecs
import logging
import math
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterable, Mapping

from asrt.config import Section
from asrt.fileio import atomic_path, read_symbol_table
from asrt.names import CHAR_RESCORE_LM_FILE, LM_TEXT_FILE, RESCORE_LM_FILE, WORDS_FILE, is_graph_symbol


def build_lms(lang_dir: Path, out_arpa: Path, lm_cfg: Mapping) -> None:
    """Stage 4: the graph's LM ``out_arpa`` and, with ``lm.rescore_order`` and ``lm.rescore_char_order``,
    the word and character rescoring LMs beside it."""
    cfg = Section("lm", lm_cfg)
    lang_dir, out_arpa = Path(lang_dir), Path(out_arpa)
    text = lang_dir / LM_TEXT_FILE
    words = [w for w in read_symbol_table(lang_dir / WORDS_FILE) if not is_graph_symbol(w)]
    train_ngram(text, out_arpa, int(cfg["order"]), cfg["prune"])
    add_unigrams(out_arpa, words)
    rescore = out_arpa.with_name(RESCORE_LM_FILE)
    arpa = rescore.with_suffix(".arpa")  # the rescoring LM's ARPA, kept only until its binary is built
    if int(cfg["rescore_order"]) > 0:
        train_ngram(text, arpa, int(cfg["rescore_order"]), cfg["rescore_prune"])
        add_unigrams(arpa, words)
        build_binary(arpa, rescore)
    else:
        rescore.unlink(missing_ok=True)
    arpa.unlink(missing_ok=True)  # also what a run killed before build_binary left
    build_char_lm(text, out_arpa.with_name(CHAR_RESCORE_LM_FILE), int(cfg["rescore_char_order"]))


def characters(words: Iterable[str]) -> str:
    """A sentence's words as the character LM counts them: every character a unit of its own."""
    return " ".join("".join(words))


def build_char_lm(text: Path, out: Path, order: int) -> None:
    """An unpruned ``order``-gram over the characters of ``text`` in KenLM's binary format at ``out``;
    ``order`` 0 removes ``out``."""
    out = Path(out)
    chars, arpa = out.with_suffix(".txt"), out.with_suffix(".arpa")
    if order <= 0:
        for path in (out, chars, arpa):  # also what a run killed while building it left
            path.unlink(missing_ok=True)
        return
    chars.write_text("".join(characters(line.split()) + "\n" for line in Path(text).read_text(encoding="utf-8")
                             .splitlines()), encoding="utf-8")
    train_ngram(chars, arpa, order)
    chars.unlink()
    build_binary(arpa, out)
    arpa.unlink()


def _kenlm_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} is not on PATH; source path.sh (it builds KenLM on first use).")
    return path


def train_ngram(text: Path, out_arpa: Path, order: int, prune: list[int] | None = None,
                memory: str = "20%") -> Path:
    """Train an ``order``-gram ARPA LM on ``text`` (one sentence per line, space-separated units)."""
    out_arpa = Path(out_arpa)
    lmplz = _kenlm_tool("lmplz")
    cmd = [lmplz, "-o", str(order), "-S", memory, "--discount_fallback", "--text", str(text)]
    if prune:
        cmd += ["--prune", *map(str, prune)]
    with atomic_path(out_arpa) as tmp:
        cmd += ["--arpa", str(tmp)]
        logging.info("Running %s", " ".join(cmd))
        returncode, messages = run_showing_stderr(cmd)
        if returncode != 0:
            raise RuntimeError(f"lmplz failed:\n{messages}")
    return out_arpa


def run_showing_stderr(cmd: list[str], keep: int = 2000) -> tuple[int, str]:
    """Run ``cmd`` with its stderr copied to ours as it arrives (lmplz draws its progress meter there, a
    star at a time); return its exit status and the last ``keep`` characters of that stderr."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    tail = ""
    with subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as proc:
        for chunk in iter(lambda: proc.stderr.read1(4096), b""):
            text = decoder.decode(chunk)
            sys.stderr.write(text)
            sys.stderr.flush()
            tail = (tail + text)[-keep:]
    return proc.returncode, tail


def add_unigrams(arpa: Path, words: Iterable[str]) -> int:
    """Give each of ``words`` missing from ``arpa``'s 1-grams one, with an equal share of ``<unk>``'s
    probability and no back-off; rewrite the file in place and return how many were added."""
    arpa = Path(arpa)
    lines = arpa.read_text(encoding="utf-8").split("\n")
    start = lines.index("\\1-grams:")
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("\\"))
    unigrams = {line.split("\t")[1]: line for line in lines[start + 1:end] if line.strip()}
    missing = sorted(set(words) - set(unigrams))
    if not missing:
        return 0
    if "<unk>" not in unigrams:
        raise ValueError(f"{arpa} has no <unk> 1-gram to share among the {len(missing)} words it lacks")
    logprob = float(unigrams["<unk>"].split("\t")[0]) - math.log10(len(missing))
    header = next(i for i, line in enumerate(lines) if line.startswith("ngram 1="))
    lines[header] = f"ngram 1={len(unigrams) + len(missing)}"
    while not lines[end - 1].strip():  # the blank line that ends the section stays after the new 1-grams
        end -= 1
    lines[end:end] = [f"{logprob:.7g}\t{w}\t0" for w in missing]
    with atomic_path(arpa) as tmp:
        tmp.write_text("\n".join(lines), encoding="utf-8")
    logging.info("%s: %d lexicon words the LM text never has alone get 1-grams sharing <unk>'s probability "
                 "(log10 %.2f each)", arpa, len(missing), logprob)
    return len(missing)


def build_binary(arpa: Path, out: Path) -> None:
    """KenLM's binary format of ``arpa`` (a probing hash table: loads fast, queries fast)."""
    with atomic_path(Path(out)) as tmp:
        result = subprocess.run([_kenlm_tool("build_binary"), "-s", str(arpa), str(tmp)], capture_output=True,
                                text=True)
        if result.returncode != 0:
            raise RuntimeError(f"build_binary failed:\n{result.stderr[-2000:]}")
