"""RESULTS.md rows: a new row joins the table even when notes follow it, the last of two tables with the same
header (a v1 table, then a v2 table below a heading), and per-condition rows go to a table of their own."""
from __future__ import annotations

from pathlib import Path

from asrt.decode.results import RESULTS_HEADER, append_condition_row, append_results_row, append_results_rows
from asrt.version import machine

SUMMARY = {"dev": {"per": 12.345, "cer": 6.5}, "test": {"per": 11.0, "cer": 5.25, "rtf_greedy": 0.00191,
                                                        "rtf_hlg": 0.0182}}


def test_first_row_creates_the_table(tmp_path: Path) -> None:
    md = tmp_path / "RESULTS.md"
    row = append_results_row(md, "default.yaml", "tdnn", SUMMARY)
    assert row.endswith(f"| default.yaml | tdnn | 12.35 | 6.50 | 11.00 | 5.25 | 0.0019 | 0.0182 | {machine()} |\n")
    assert md.read_text(encoding="utf-8") == "# Results\n\n" + RESULTS_HEADER + row


def test_rows_go_above_the_notes(tmp_path: Path) -> None:
    md = tmp_path / "RESULTS.md"
    old = "| 2026-01-01 | abc1234 | default.yaml | tdnn | 1 | 2 | 3 | 4 | 0.1 | 0.2 | a CPU |\n"
    notes = "\nEach row is reproducible from its commit.\n"
    md.write_text("# Results\n\n" + RESULTS_HEADER + old + notes, encoding="utf-8")
    row1 = append_results_row(md, "a.yaml", "tdnn", SUMMARY)
    row2 = append_results_row(md, "b.yaml", "tdnn", {"dev": {}, "test": {}})
    assert "| - | - | - | - | - | - |" in row2
    assert md.read_text(encoding="utf-8") == "# Results\n\n" + RESULTS_HEADER + old + row1 + row2 + notes


def test_table_without_final_newline(tmp_path: Path) -> None:
    md = tmp_path / "RESULTS.md"
    old = "| 2026-01-01 | abc1234 | default.yaml | tdnn | 1 | 2 | 3 | 4 | 0.1 | 0.2 | a CPU |"
    md.write_text(RESULTS_HEADER + old, encoding="utf-8")
    row = append_results_row(md, "a.yaml", "tdnn", SUMMARY)
    assert md.read_text(encoding="utf-8") == RESULTS_HEADER + old + "\n" + row


def test_rows_go_to_the_last_table_with_the_header(tmp_path: Path) -> None:
    md = tmp_path / "RESULTS.md"
    v1_row = "| 2026-01-01 | abc1234 | default.yaml | tdnn | 1 | 2 | 3 | 4 | 0.1 | 0.2 | a CPU |\n"
    v2_row = "| 2026-02-01 | def5678 | default.yaml | tdnn | 5 | 6 | 7 | 8 | 0.1 | 0.2 | a CPU |\n"
    v1 = "# Results\n\n## mini_cmn v1\n\n" + RESULTS_HEADER + v1_row + "\nv1 notes.\n\n"
    v2_head = "## mini_cmn v2 (recording conditions)\n\n" + RESULTS_HEADER + v2_row
    notes = "\nv2 notes stay below.\n"
    md.write_text(v1 + v2_head + notes, encoding="utf-8")
    row1 = append_results_row(md, "a.yaml", "tdnn", SUMMARY)
    row2 = append_results_row(md, "b.yaml", "tdnn", SUMMARY)
    assert md.read_text(encoding="utf-8") == v1 + v2_head + row1 + row2 + notes


CONDITIONS = {"16k": {"utts": 90, "greedy": 10.0, "cer": 5.5}, "8k_ulaw": {"utts": 45, "greedy": 20.126, "cer": 12.0},
              "noisy": {"utts": 60, "greedy": 30.0, "cer": 15.25}}
CONDITION_HEADER = ("| date | commit | config | model | test 16k | test 8k_ulaw | test noisy |\n"
                    "|---|---|---|---|---|---|---|\n")


def test_condition_rows_make_their_own_table(tmp_path: Path) -> None:
    md = tmp_path / "RESULTS.md"
    old = "| 2026-01-01 | abc1234 | default.yaml | tdnn | 1 | 2 | 3 | 4 | 0.1 | 0.2 | a CPU |\n"
    md.write_text("# Results\n\n" + RESULTS_HEADER + old, encoding="utf-8")
    row1 = append_condition_row(md, "default.yaml", "tdnn", CONDITIONS)
    assert row1.endswith("| default.yaml | tdnn | 10.00 / 5.50 | 20.13 / 12.00 | 30.00 / 15.25 |\n")
    assert md.read_text(encoding="utf-8") == "# Results\n\n" + RESULTS_HEADER + old + "\n" + CONDITION_HEADER + row1
    md.write_text(md.read_text(encoding="utf-8") + "\nGreedy PER / HLG CER per condition.\n", encoding="utf-8")
    row2 = append_condition_row(md, "conformer.yaml", "conformer", CONDITIONS)
    assert md.read_text(encoding="utf-8") == ("# Results\n\n" + RESULTS_HEADER + old + "\n" + CONDITION_HEADER + row1
                                              + row2 + "\nGreedy PER / HLG CER per condition.\n")
    row3 = append_results_row(md, "a.yaml", "tdnn", SUMMARY)  # the main table is still found above it
    main_table = "# Results\n\n" + RESULTS_HEADER + old + row3
    assert md.read_text(encoding="utf-8").startswith(main_table + "\n" + CONDITION_HEADER)


def test_other_conditions_start_another_table(tmp_path: Path) -> None:
    md = tmp_path / "RESULTS.md"
    append_condition_row(md, "default.yaml", "tdnn", CONDITIONS)
    fewer = {c: v for c, v in CONDITIONS.items() if c != "noisy"}
    row = append_condition_row(md, "quiet.yaml", "tdnn", fewer)
    text = md.read_text(encoding="utf-8")
    header = "| date | commit | config | model | test 16k | test 8k_ulaw |\n|---|---|---|---|---|---|\n"
    assert text.endswith("\n\n" + header + row)
    assert text.count("| date |") == 2


def test_append_results_rows_adds_the_condition_row(tmp_path: Path) -> None:
    md = tmp_path / "RESULTS.md"
    summary = {"dev": SUMMARY["dev"], "test": {**SUMMARY["test"], "by_condition": CONDITIONS}}
    rows = append_results_rows(md, "default.yaml", "tdnn", summary)
    assert len(rows) == 2
    assert rows[0].endswith(f"| default.yaml | tdnn | 12.35 | 6.50 | 11.00 | 5.25 | 0.0019 | 0.0182 | {machine()} |\n")
    assert rows[1].endswith("| default.yaml | tdnn | 10.00 / 5.50 | 20.13 / 12.00 | 30.00 / 15.25 |\n")
    expected = "# Results\n\n" + RESULTS_HEADER + rows[0] + "\n" + CONDITION_HEADER + rows[1]
    assert md.read_text(encoding="utf-8") == expected
    assert len(append_results_rows(md, "default.yaml", "tdnn", SUMMARY)) == 1  # no conditions, no condition row


def test_a_resumed_decode_replaces_the_rows_its_killed_run_added(tmp_path: Path) -> None:
    """Stage 7 killed after writing its rows and run again (--resume) leaves one row per table, its own:
    the killed run's (the same date, commit, config and model, another RTF) is replaced."""
    md = tmp_path / "RESULTS.md"
    summary = {"dev": SUMMARY["dev"], "test": {**SUMMARY["test"], "by_condition": CONDITIONS}}
    earlier = append_results_row(md, "other.yaml", "tdnn", SUMMARY)
    append_results_rows(md, "default.yaml", "tdnn", summary)  # the killed run's rows
    rerun = {"dev": SUMMARY["dev"], "test": {**summary["test"], "rtf_hlg": 0.0199}}
    rows = append_results_rows(md, "default.yaml", "tdnn", rerun, resume=True)
    assert rows[0].endswith(f"| 0.0019 | 0.0199 | {machine()} |\n")
    expected = "# Results\n\n" + RESULTS_HEADER + earlier + rows[0] + "\n" + CONDITION_HEADER + rows[1]
    assert md.read_text(encoding="utf-8") == expected
    append_results_rows(md, "default.yaml", "tdnn", rerun, resume=True)  # resumed once more: still one row per table
    append_results_rows(md, "default.yaml", "tdnn", rerun)  # a run afresh adds its rows
    assert md.read_text(encoding="utf-8").count("| default.yaml | tdnn |") == 4
