"""Levenshtein alignment and error rates (PER over tonal pinyin, CER over characters), Kaldi-style reports.

Every stage that reports an error rate goes through :func:`edit_counts` / :func:`score_corpus`, so
PER and CER mean the same thing in training logs, decoding results and ``RESULTS`` files.
:func:`tone_confusion` splits tonal-pinyin errors into tone-only and base-syllable ones.

The alignment is kaldialign's (icefall's choice: Kaldi's unit costs for substitutions, insertions and
deletions), so the error total is the Levenshtein distance. Where several alignments have that total,
kaldialign's choice decides how it splits into sub/ins/del (ref ``ni3 hao3``, hyp ``wo3 men5 ni3``: 2 sub
+ 1 ins), and so which pairs the tone table sees; PER and CER depend on the total only.
"""
from __future__ import annotations

import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional, Sequence

from asrt.fileio import write_text_atomic
from asrt.text.pinyin import SYLLABLE_RE, strip_tone

__all__ = [
    "ErrorCounts",
    "UttScore",
    "align",
    "edit_counts",
    "score_corpus",
    "format_summary",
    "format_errors",
    "write_score_report",
    "ToneConfusion",
    "tone_confusion",
    "format_tone_confusion",
]

# Marks the empty side of an insertion or deletion in printed alignments (Kaldi uses the same).
EPS = "***"
_GAP = "\x00"  # kaldialign's gap symbol: no token is a NUL character


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
    """Minimum-edit alignment (kaldialign) as (ref_token, hyp_token) pairs; None marks an insertion's ref
    or a deletion's hyp."""
    import kaldialign

    return [(None if r == _GAP else r, None if h == _GAP else h)
            for r, h in kaldialign.align(list(ref), list(hyp), _GAP)]


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


TONES = (1, 2, 3, 4, 5)  # ASRT's tone digits; 5 is the neutral tone


def _split_tone(token: str) -> tuple[str, Optional[int]]:
    # (base syllable, tone) of a tonal syllable (ma3 -> ma, 3); anything else has no tone.
    if SYLLABLE_RE.fullmatch(token):
        return strip_tone(token), int(token[-1])
    return token, None


def _matrix(pairs: Mapping[tuple[int, int], int]) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(pairs.get((r, h), 0) for h in TONES) for r in TONES)


@dataclass(frozen=True)
class ToneConfusion:
    """Tonal-pinyin errors split into tone-only and base-syllable ones, with 5x5 tone confusion tables.

    ``matrix[r - 1][h - 1]`` counts aligned syllable pairs (correct or substituted) with reference tone
    ``r`` and hypothesis tone ``h``; ``tone_only_matrix`` counts only the tone-only substitutions (base
    syllable right, tone wrong: ``ma3`` read as ``ma1``), so its diagonal is zero. Every other error (a
    substitution of the base syllable, an insertion, a deletion) is a base-syllable error.
    """

    matrix: tuple[tuple[int, ...], ...]
    tone_only_matrix: tuple[tuple[int, ...], ...]
    counts: ErrorCounts

    @property
    def tone_only(self) -> int:
        """Substitutions whose base syllable is right and whose tone is wrong."""
        return sum(map(sum, self.tone_only_matrix))

    @property
    def base_sub(self) -> int:
        """Substitutions of the base syllable (whatever the tones)."""
        return self.counts.sub - self.tone_only

    @property
    def base_errors(self) -> int:
        """Errors that are not tone-only: base-syllable substitutions, insertions and deletions."""
        return self.counts.errors - self.tone_only

    @property
    def tone_only_rate(self) -> float:
        """Tone-only errors per reference syllable (the tone part of PER, as a fraction)."""
        return ErrorCounts(sub=self.tone_only, ref_len=self.counts.ref_len).rate

    @property
    def base_rate(self) -> float:
        """Base-syllable errors per reference syllable (the rest of PER, as a fraction)."""
        return ErrorCounts(sub=self.base_errors, ref_len=self.counts.ref_len).rate

    @property
    def tone_accuracy(self) -> float:
        """Fraction of aligned (correct or substituted) syllable pairs whose tones agree (1.0 if none)."""
        aligned = sum(map(sum, self.matrix))
        return 1.0 if aligned == 0 else sum(self.matrix[t][t] for t in range(len(TONES))) / aligned


def tone_confusion(refs: Mapping[str, Sequence[str]], hyps: Mapping[str, Sequence[str]]) -> ToneConfusion:
    """Align ``hyps`` to ``refs`` as :func:`score_corpus` does and split the errors into tone-only and
    base-syllable ones; pairs in which either token is not a tonal syllable stay out of the tone tables."""
    total, scores = score_corpus(refs, hyps)
    all_pairs: dict[tuple[int, int], int] = {}
    tone_only: dict[tuple[int, int], int] = {}
    for score in scores:
        for r, h in score.alignment:
            if r is None or h is None:
                continue
            (r_base, r_tone), (h_base, h_tone) = _split_tone(r), _split_tone(h)
            if r_tone is None or h_tone is None:
                continue
            all_pairs[r_tone, h_tone] = all_pairs.get((r_tone, h_tone), 0) + 1
            if r_base == h_base and r_tone != h_tone:
                tone_only[r_tone, h_tone] = tone_only.get((r_tone, h_tone), 0) + 1
    return ToneConfusion(_matrix(all_pairs), _matrix(tone_only), total)


def _format_matrix(matrix: Sequence[Sequence[int]]) -> list[str]:
    width = max(6, *(len(str(n)) + 1 for row in matrix for n in row))
    lines = ["ref\\hyp" + "".join(f"{t:>{width}}" for t in TONES)]
    lines += [f"{t:>7}" + "".join(f"{n:>{width}}" for n in row) for t, row in zip(TONES, matrix)]
    return lines


def format_tone_confusion(tc: ToneConfusion, metric: str = "PER") -> str:
    """The tone/base-syllable split of ``metric`` and both tone tables, as lines for ``summary.txt``."""
    c = tc.counts
    aligned = sum(map(sum, tc.matrix))
    lines = [
        f"{metric} {100.0 * c.rate:.2f} = {100.0 * tc.tone_only_rate:.2f} tone-only + {100.0 * tc.base_rate:.2f} "
        f"base-syllable ({tc.tone_only} tone-only sub; {tc.base_sub} base-syllable sub, {c.ins} ins, {c.dele} del)",
        f"tone confusion of {aligned} aligned syllables (correct or substituted), tones agree in "
        f"{100.0 * tc.tone_accuracy:.2f} %; rows: reference tone, columns: hypothesis tone, 5 = neutral:",
        *_format_matrix(tc.matrix),
        f"tone-only substitutions (base syllable right, tone wrong): {tc.tone_only}",
        *_format_matrix(tc.tone_only_matrix),
    ]
    return "\n".join(lines) + "\n"


def group_counts(refs: Mapping[str, Sequence[str]], hyps: Mapping[str, Sequence[str]],
                 groups: Mapping[str, Sequence[str]]) -> dict[str, ErrorCounts]:
    """Error counts per group: ``groups`` maps a group name to its utterance ids (an id may be in several)."""
    return {name: sum((edit_counts(refs[u], hyps.get(u, [])) for u in ids), ErrorCounts())
            for name, ids in groups.items()}


def format_group_table(greedy: Mapping[str, ErrorCounts], chars: Mapping[str, ErrorCounts],
                       sizes: Mapping[str, int], greedy_metric: str = "PER") -> str:
    """A table of greedy-unit and character error rates per group (e.g. recording condition)."""
    width = max(9, *(len(g) for g in greedy))
    lines = [f"{'condition':<{width}} {'utts':>5} {greedy_metric:>7} {'CER':>7}"]
    lines += [f"{g:<{width}} {sizes[g]:>5} {100 * greedy[g].rate:>7.2f} {100 * chars[g].rate:>7.2f}" for g in greedy]
    return "\n".join(lines) + "\n"
