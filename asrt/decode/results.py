"""A recipe's RESULTS.md: the rows stage 7 adds (date, commit, config, model, dev/test error rates, RTF, and
the machine that decoded, :func:`asrt.version.machine`), and the table of error rates per recording
condition. Rows written before the machine column are kept in the table above the current one."""
from __future__ import annotations

import datetime
from pathlib import Path

from asrt.fileio import write_text_atomic
from asrt.version import git_commit, machine

RESULTS_HEADER = ("| date | commit | config | model | dev PER | dev CER | test PER | test CER | RTF greedy | RTF HLG "
                  "| machine |\n|---|---|---|---|---|---|---|---|---|---|---|\n")


def append_results_rows(results_md: Path, config_name: str, model_label: str,
                        summary: dict[str, dict], resume: bool = False) -> list[str]:
    """Add the rows of a decode's ``summary`` ({split: scores}) to RESULTS.md; return them. Splits named
    ``dev``/``test`` make one row; those named ``<corpus>_dev``/``<corpus>_test`` (a union of corpora) make
    a row per corpus, labelled with it. With ``resume`` (stage 7 run again after a kill), a row the killed
    run added is replaced, not added twice (see :func:`_append_row`)."""
    groups = {"": summary} if "test" in summary or "dev" in summary else {}
    for split, result in summary.items():
        corpus, _, kind = split.rpartition("_")
        if corpus and kind in ("dev", "test"):
            groups.setdefault(corpus, {})[kind] = result
    rows = []
    for corpus, group in groups.items():
        name = f"{config_name} {corpus}".strip()
        rows.append(append_results_row(results_md, name, model_label, group, resume))
        if group.get("test", {}).get("by_condition"):
            rows.append(append_condition_row(results_md, name, model_label, group["test"]["by_condition"], resume))
    return rows


def _fmt(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def append_results_row(results_md: Path, config_name: str, model_name: str, summary: dict,
                       resume: bool = False) -> str:
    """Add one row (date, commit, config, PER/CER on dev and test, RTF, machine) to the table in a recipe's
    RESULTS.md."""
    d, t = summary.get("dev", {}), summary.get("test", {})
    row = (f"| {datetime.date.today().isoformat()} | {git_commit()} | {config_name} | {model_name} "
           f"| {_fmt(d.get('per'))} | {_fmt(d.get('cer'))} | {_fmt(t.get('per'))} | {_fmt(t.get('cer'))} "
           f"| {_fmt(t.get('rtf_greedy'), 4)} | {_fmt(t.get('rtf_hlg'), 4)} | {machine()} |\n")
    return _append_row(results_md, RESULTS_HEADER, row, resume)


def append_condition_row(results_md: Path, config_name: str, model_name: str, by_condition: dict,
                         resume: bool = False) -> str:
    """Add a row of test error rates per recording condition (greedy units / characters) to the table of
    these conditions in RESULTS.md."""
    names = list(by_condition)
    header = ("| date | commit | config | model | " + " | ".join(f"test {n}" for n in names) + " |\n"
              + "|---" * (4 + len(names)) + "|\n")
    cells = " | ".join(f"{_fmt(c['greedy'])} / {_fmt(c['cer'])}" for c in by_condition.values())
    row = f"| {datetime.date.today().isoformat()} | {git_commit()} | {config_name} | {model_name} | {cells} |\n"
    return _append_row(results_md, header, row, resume)


def _append_row(results_md: Path, header: str, row: str, resume: bool = False) -> str:
    """Add ``row`` to the last table under ``header`` in ``results_md`` (a new table at the end if none), right
    after its last row, so notes written below the table stay below it.

    With ``resume``, a last row with the same date, commit, config and model is the killed run's own (it
    died after writing it): ``row`` replaces it, so each finished run leaves one row.
    """
    results_md = Path(results_md)
    text = results_md.read_text(encoding="utf-8") if results_md.exists() else "# Results\n\n"
    if header not in text:
        text = text.rstrip("\n") + "\n\n" + header
    head, table_start, rest = text.rpartition(header)
    lines = rest.splitlines(keepends=True)
    n_rows = next((i for i, line in enumerate(lines) if not line.startswith("|")), len(lines))
    if n_rows == len(lines) and lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    if resume and n_rows and lines[n_rows - 1].split("|")[1:5] == row.split("|")[1:5]:
        n_rows -= 1
        lines.pop(n_rows)
    write_text_atomic(results_md, head + table_start + "".join(lines[:n_rows]) + row + "".join(lines[n_rows:]))
    return row
