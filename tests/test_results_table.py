"""RESULTS.md rows: a new row joins the table even when notes follow it."""
from __future__ import annotations

from pathlib import Path

from asrt.evaluate import RESULTS_HEADER, append_results_row

SUMMARY = {"dev": {"per": 12.345, "cer": 6.5}, "test": {"per": 11.0, "cer": 5.25, "rtf_greedy": 0.00191,
                                                        "rtf_hlg": 0.0182}}


def test_first_row_creates_the_table(tmp_path: Path) -> None:
    md = tmp_path / "RESULTS.md"
    row = append_results_row(md, "default.yaml", "tdnn", SUMMARY)
    assert row.endswith("| default.yaml | tdnn | 12.35 | 6.50 | 11.00 | 5.25 | 0.0019 | 0.0182 |\n")
    assert md.read_text(encoding="utf-8") == "# Results\n\n" + RESULTS_HEADER + row


def test_rows_go_above_the_notes(tmp_path: Path) -> None:
    md = tmp_path / "RESULTS.md"
    old = "| 2026-01-01 | abc1234 | default.yaml | tdnn | 1 | 2 | 3 | 4 | 0.1 | 0.2 |\n"
    notes = "\nEach row is reproducible from its commit.\n"
    md.write_text("# Results\n\n" + RESULTS_HEADER + old + notes, encoding="utf-8")
    row1 = append_results_row(md, "a.yaml", "tdnn", SUMMARY)
    row2 = append_results_row(md, "b.yaml", "tdnn", {"dev": {}, "test": {}})
    assert "| - | - | - | - | - | - |" in row2
    assert md.read_text(encoding="utf-8") == "# Results\n\n" + RESULTS_HEADER + old + row1 + row2 + notes


def test_table_without_final_newline(tmp_path: Path) -> None:
    md = tmp_path / "RESULTS.md"
    old = "| 2026-01-01 | abc1234 | default.yaml | tdnn | 1 | 2 | 3 | 4 | 0.1 | 0.2 |"
    md.write_text(RESULTS_HEADER + old, encoding="utf-8")
    row = append_results_row(md, "a.yaml", "tdnn", SUMMARY)
    assert md.read_text(encoding="utf-8") == RESULTS_HEADER + old + "\n" + row
