"""``asrt p2h``: pinyin to characters with a model's (or lang directory's) pinyin-to-text graph and LM, as
ASRT's ``/language`` does, and its evaluation on gold pinyin (``--eval``)."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import kaldialign


@dataclass(frozen=True)
class EvalRow:
    """One line of an evaluation table: an id, the reference characters and their tonal pinyin."""

    utt_id: str
    text: str
    pinyin: list[str]


def read_eval_tsv(path: str | Path) -> list[EvalRow]:
    """``ID<TAB>CHARACTERS<TAB>PINYIN`` lines (pinyin space-separated, one syllable per character); a
    header line starting with ``id`` or ``utt_id`` is skipped. ValueError names a malformed line."""
    rows = []
    for line_no, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        fields = line.split("\t")
        if not line.strip() or (line_no == 1 and fields[0] in ("id", "utt_id")):
            continue
        if len(fields) != 3 or not fields[1] or len(fields[2].split()) != len(fields[1]):
            raise ValueError(f"{path}:{line_no}: expected ID<TAB>CHARACTERS<TAB>PINYIN with one syllable per "
                             f"character, got {line!r}")
        rows.append(EvalRow(fields[0], fields[1], fields[2].split()))
    if not rows:
        raise ValueError(f"{path} has no rows to evaluate")
    return rows


def evaluate_p2h(convert: Callable[[list[str]], str], rows: Iterable[EvalRow]) -> dict[str, float]:
    """CER (%), sentence accuracy (%) and milliseconds per sentence of ``convert`` on ``rows``."""
    errors = chars = correct = n = 0
    seconds = 0.0
    for row in rows:
        start = time.perf_counter()
        hyp = convert(row.pinyin)
        seconds += time.perf_counter() - start
        e = kaldialign.edit_distance(list(row.text), list(hyp))["total"]
        errors, chars, correct, n = errors + e, chars + len(row.text), correct + (e == 0), n + 1
    return {"sentences": n, "cer": 100.0 * errors / chars, "sentence_accuracy": 100.0 * correct / n,
            "ms_per_sentence": 1000.0 * seconds / n}
