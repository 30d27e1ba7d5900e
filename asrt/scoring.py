"""Levenshtein alignment and error rates (PER over tonal pinyin, CER over characters), Kaldi-style reports.

Every stage that reports an error rate goes through :func:`edit_counts` / :func:`score_corpus`, so
PER and CER mean the same thing in training logs, decoding results and ``RESULTS`` files.
"""
from __future__ import annotations

import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional, Sequence

from asrt.fileio import write_text_atomic

__all__ = [
    "ErrorCounts",
    "UttScore",
    "align",
    "edit_counts",
    "pinyin_tokens",
    "char_tokens",
    "score_corpus",
    "format_summary",
    "format_errors",
    "write_score_report",
]

# Marks the empty side of an insertion or deletion in printed alignments (Kaldi uses the same).
EPS = "***"


@dataclass(frozen=True)
class ErrorCounts:
    """Substitutions, insertions and deletions against a reference of ``ref_len`` tokens."""

    sub: int = 0
    ins: int = 0
    dele: int = 0
    ref_len: int = 0

    @property
    def errors(self) -> int:
        """Total edits: substitutions + insertions + deletions."""
        return self.sub + self.ins + self.dele

    @property
    def rate(self) -> float:
        """Errors per reference token as a fraction (0.0 for an empty reference with no errors, else inf)."""
        if self.ref_len == 0:
            return 0.0 if self.errors == 0 else float("inf")
        return self.errors / self.ref_len

    def __add__(self, other: "ErrorCounts") -> "ErrorCounts":
        if not isinstance(other, ErrorCounts):
            return NotImplemented
        return ErrorCounts(
            self.sub + other.sub, self.ins + other.ins, self.dele + other.dele, self.ref_len + other.ref_len
        )

    def __radd__(self, other: object) -> "ErrorCounts":
        # Lets the builtin sum() start from 0.
        if other == 0:
            return self
        return NotImplemented


@dataclass(frozen=True)
class UttScore:
    """One utterance's reference, hypothesis, alignment and counts; ``missing`` if no hypothesis was given."""

    utt_id: str
    ref: list[str]
    hyp: list[str]
    alignment: list[tuple[Optional[str], Optional[str]]]
    counts: ErrorCounts
    missing: bool = False


def align(ref: Sequence[str], hyp: Sequence[str]) -> list[tuple[Optional[str], Optional[str]]]:
    """Minimum-edit alignment as (ref_token, hyp_token) pairs; None marks an insertion's ref or a deletion's hyp."""
    n, m = len(ref), len(hyp)
    # Costs are (edits, substitutions) packed into one int: the edit count is always minimal, and among
    # equally short alignments the one with fewest substitutions (most matched tokens) wins, which keeps
    # identical tokens lined up in reports.
    edit = n + m + 1
    sub = edit + 1
    # cost[i][j]: packed cost of turning ref[:i] into hyp[:j].
    cost = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        cost[i][0] = i * edit
    for j in range(1, m + 1):
        cost[0][j] = j * edit
    for i in range(1, n + 1):
        r = ref[i - 1]
        row, prev = cost[i], cost[i - 1]
        for j in range(1, m + 1):
            diag = prev[j - 1] + (0 if r == hyp[j - 1] else sub)
            row[j] = min(diag, prev[j] + edit, row[j - 1] + edit)

    pairs: list[tuple[Optional[str], Optional[str]]] = []
    i, j = n, m
    while i > 0 or j > 0:
        # On ties take deletions, then insertions, then the diagonal: walking backwards this puts
        # deletions and insertions late and substitutions early, a stable choice that reads naturally
        # (ref "ai4 bei3" vs hyp "ai2" aligns ai4/ai2 and deletes bei3).
        if i > 0 and cost[i][j] == cost[i - 1][j] + edit:
            pairs.append((ref[i - 1], None))
            i -= 1
        elif j > 0 and cost[i][j] == cost[i][j - 1] + edit:
            pairs.append((None, hyp[j - 1]))
            j -= 1
        else:
            pairs.append((ref[i - 1], hyp[j - 1]))
            i, j = i - 1, j - 1
    pairs.reverse()
    return pairs


def _count(alignment: Sequence[tuple[Optional[str], Optional[str]]], ref_len: int) -> ErrorCounts:
    sub = ins = dele = 0
    for r, h in alignment:
        if r is None:
            ins += 1
        elif h is None:
            dele += 1
        elif r != h:
            sub += 1
    return ErrorCounts(sub=sub, ins=ins, dele=dele, ref_len=ref_len)


def edit_counts(ref: Sequence[str], hyp: Sequence[str]) -> ErrorCounts:
    """Substitution, insertion and deletion counts of the minimum-edit alignment of ``hyp`` to ``ref``."""
    return _count(align(ref, hyp), len(ref))


def pinyin_tokens(text: str) -> list[str]:
    """Split space-separated tonal pinyin into syllables for PER (``ni3`` and ``ni2`` differ)."""
    return text.split()


def char_tokens(text: str) -> list[str]:
    """Split text into characters for CER, ignoring all whitespace (``你 好`` and ``你好`` are equal)."""
    return list("".join(text.split()))


def score_corpus(
    refs: Mapping[str, Sequence[str]], hyps: Mapping[str, Sequence[str]]
) -> tuple[ErrorCounts, list[UttScore]]:
    """Score every reference utterance (a missing hypothesis counts as all deletions); return totals and per-utterance scores."""
    extra = sorted(set(hyps) - set(refs))
    if extra:
        shown = ", ".join(extra[:5]) + (", ..." if len(extra) > 5 else "")
        raise ValueError(
            f"{len(extra)} hypothesis utterance id(s) have no reference ({shown}); "
            "score against the reference set the hypotheses were decoded from."
        )
    total = ErrorCounts()
    scores: list[UttScore] = []
    for utt_id in sorted(refs):
        ref = list(refs[utt_id])
        missing = utt_id not in hyps
        hyp = [] if missing else list(hyps[utt_id])
        alignment = align(ref, hyp)
        counts = _count(alignment, len(ref))
        total = total + counts
        scores.append(UttScore(utt_id, ref, hyp, alignment, counts, missing))
    return total, scores


def format_summary(counts: ErrorCounts, metric: str = "WER") -> str:
    """Kaldi's one-line summary, e.g. ``%PER 3.45 [ 12 / 348, 2 ins, 3 del, 7 sub ]``."""
    return (
        f"%{metric} {100.0 * counts.rate:.2f} "
        f"[ {counts.errors} / {counts.ref_len}, {counts.ins} ins, {counts.dele} del, {counts.sub} sub ]"
    )


def _display_width(text: str) -> int:
    # CJK characters take two terminal columns; pad by display width so columns line up.
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _display_width(text))


def _utt_block(score: UttScore) -> str:
    refs, hyps, ops = [], [], []
    for r, h in score.alignment:
        r_txt, h_txt = (EPS if r is None else r), (EPS if h is None else h)
        op = "I" if r is None else "D" if h is None else "C" if r == h else "S"
        width = max(_display_width(r_txt), _display_width(h_txt), 1)
        refs.append(_pad(r_txt, width))
        hyps.append(_pad(h_txt, width))
        ops.append(_pad(op, width))
    c = score.counts
    correct = len(score.alignment) - c.errors
    uid = score.utt_id
    note = "  (no hypothesis: scored as all deletions)" if score.missing else ""
    lines = [
        f"{uid} ref   {' '.join(refs)}".rstrip(),
        f"{uid} hyp   {' '.join(hyps)}".rstrip(),
        f"{uid} op    {' '.join(ops)}".rstrip(),
        f"{uid} #csid {correct} {c.sub} {c.ins} {c.dele}  "
        f"({c.errors} errors / {c.ref_len} = {100.0 * c.rate:.2f}%){note}",
    ]
    return "\n".join(lines) + "\n"


def _worst_first(score: UttScore) -> tuple[int, float, str]:
    return (-score.counts.errors, -score.counts.rate, score.utt_id)


def format_errors(total: ErrorCounts, scores: Sequence[UttScore], metric: str = "WER") -> str:
    """Readable per-utterance report (Kaldi ``per_utt``-like), worst utterances first, summary on top."""
    header = [
        f"# {format_summary(total, metric)}",
        f"# {len(scores)} utterances, worst first; op: C correct, S substitution, I insertion, D deletion;"
        " #csid: correct sub ins del",
    ]
    missing = [s.utt_id for s in scores if s.missing]
    if missing:
        header.append(f"# {len(missing)} utterance(s) had no hypothesis: {' '.join(missing)}")
    blocks = [_utt_block(s) for s in sorted(scores, key=_worst_first)]
    return "\n".join(header) + "\n\n" + "\n".join(blocks)


def write_score_report(
    out_dir: str | os.PathLike,
    name: str,
    refs: Mapping[str, Sequence[str]],
    hyps: Mapping[str, Sequence[str]],
    metric: str = "WER",
) -> ErrorCounts:
    """Score ``hyps`` against ``refs``, write ``<name>.hyps.txt`` and ``<name>.errs.txt`` atomically, return totals."""
    total, scores = score_corpus(refs, hyps)
    out = Path(out_dir)
    hyp_lines = "".join(f"{utt_id}\t{' '.join(hyps[utt_id])}\n" for utt_id in sorted(hyps))
    write_text_atomic(out / f"{name}.hyps.txt", hyp_lines)
    write_text_atomic(out / f"{name}.errs.txt", format_errors(total, scores, metric))
    return total
