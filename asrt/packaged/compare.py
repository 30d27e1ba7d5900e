"""Cross-corpus comparison: every packaged model decodes every test set; PER and CER as a matrix.

Rows are training corpora (one packaged model each, ``exp/<config>/model`` from stage 8), columns are
test corpora (one cut set with features each, ``data/fbank/<corpus>_cuts_test.jsonl.gz`` from stage 3).
Each model decodes with its own package: its weights, its tokens and its own HLG graph (lexicon and
LM of its training corpus), exactly as stage 7 decodes. Decoding and scoring are stage 7's
(:func:`asrt.decode.evaluate.decode_and_score`), so a diagonal cell equals that recipe's own test result.

Written into ``out_dir``: ``<row>/<col>/`` (hypotheses, per-utterance errors and ``summary.json`` of one
pair, reused when rerun unless the model or the cut set is newer), ``matrix.json``, ``matrix.md`` and
``matrix.png`` (two heatmaps, CER and PER).
"""
from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from asrt.fileio import atomic_path, write_text_atomic
from asrt.names import HLG_FILE, MATRIX_FILES, METADATA_FILE, MODEL_FILE, SUMMARY_FILE, TOKENS_FILE, WORDS_FILE

METRICS = (("cer", "CER (%), HLG decoding, characters"), ("per", "PER (%), greedy CTC, tonal pinyin"))
# Heatmap geometry in inches (at DPI dots per inch): fixed margins plus a fixed size per cell, so the
# PNG's size follows from the matrix's shape alone (see heatmap_size).
DPI = 100
CELL_W, CELL_H = 1.0, 0.5
LEFT, RIGHT, TOP, BOTTOM, GAP = 1.9, 0.3, 0.5, 1.0, 1.9
# Colours run from 0 to 100 % errors (higher saturates), the same in every figure.
VMAX = 100.0
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


@dataclass(frozen=True)
class Labelled:
    """A model directory or a cut set, with the corpus name it is shown under."""

    label: str
    path: Path


def parse_labelled(spec: str, what: str) -> Labelled:
    """``LABEL=PATH`` (e.g. ``aishell=egs/aishell/exp/default/model``) as a :class:`Labelled`."""
    label, sep, path = spec.partition("=")
    if not sep or not path or not _LABEL.match(label):
        raise ValueError(f"{what} {spec!r} is not LABEL=PATH with a label of letters, digits, _ . + or - "
                         f"(e.g. aishell=egs/aishell/exp/default/model)")
    return Labelled(label, Path(path))


def check_inputs(models: list[Labelled], tests: list[Labelled]) -> None:
    """Fail, before any decoding, on a repeated label, a missing model package or a missing cut set."""
    for what, items in (("model", models), ("test set", tests)):
        if not items:
            raise ValueError(f"no {what} given: pass at least one --{what.split()[0]} LABEL=PATH")
        labels = [i.label for i in items]
        repeated = sorted({x for x in labels if labels.count(x) > 1})
        if repeated:
            raise ValueError(f"{what} label(s) {', '.join(repeated)} given more than once; labels name rows "
                             f"and columns, so each must be unique")
    for m in models:
        missing = [n for n in (MODEL_FILE, METADATA_FILE, TOKENS_FILE, WORDS_FILE, HLG_FILE)
                   if not (m.path / n).is_file()]
        if missing:
            raise FileNotFoundError(f"model {m.label}: {m.path} is not a packaged model directory (no "
                                    f"{', '.join(missing)}); run stage 8 of its recipe (./run.sh --stage 8)")
    for t in tests:
        if not t.path.is_file():
            raise FileNotFoundError(f"test set {t.label}: cut set {t.path} does not exist; run stage 3 of its "
                                    f"recipe, or pass data/fbank/<corpus>_cuts_test.jsonl.gz of a recipe")


def load_test_cuts(path: Path):
    """The cuts of ``path`` with their feature files found wherever this is run from.

    Stage 3 stores feature paths relative to the recipe directory it ran in (``data/fbank/...``). The
    recipe directory is the nearest directory above the manifest under which those paths exist (then
    the current directory), and the paths are made absolute from there.
    """
    from lhotse import load_manifest_lazy

    cuts = load_manifest_lazy(path)
    first = next(iter(cuts), None)
    if first is None:
        raise ValueError(f"cut set {path} holds no cuts")
    if not first.has_features:
        raise ValueError(f"cut set {path} has no features; pass the cuts of stage 3 "
                         f"(data/fbank/<corpus>_cuts_<split>.jsonl.gz)")
    storage = Path(first.features.storage_path)
    if storage.is_absolute():
        if not storage.exists():
            raise FileNotFoundError(f"features of {path} are missing ({storage}); rerun stage 3 of its recipe")
        return cuts
    for base in (*Path(path).resolve().parents, Path.cwd()):
        if (base / storage).exists():
            return cuts.with_features_path_prefix(str(base))
    raise FileNotFoundError(f"features of {path} ({storage}) are not under any directory above it nor under "
                            f"the current one; rerun stage 3 of its recipe")


def _up_to_date(result: Path, *inputs: Path) -> bool:
    return result.exists() and all(result.stat().st_mtime >= p.stat().st_mtime for p in inputs)


def compare(models: list[Labelled], tests: list[Labelled], out_dir: Path, num_threads: int = 1) -> dict:
    """Decode every test set with every model; write the matrix files; return the matrix.

    The matrix is ``{"rows": [...], "cols": [...], "models": {row: path}, "tests": {col: path},
    "per": {row: {col: %}}, "cer": {...}, "utterances": {col: n}}``.
    """
    from asrt.packaged.recognizer import Recognizer

    check_inputs(models, tests)
    out_dir = Path(out_dir)
    torch.set_num_threads(num_threads)
    cut_sets = {t.label: load_test_cuts(t.path) for t in tests}
    matrix = {"rows": [m.label for m in models], "cols": [t.label for t in tests],
              "models": {m.label: str(m.path) for m in models}, "tests": {t.label: str(t.path) for t in tests},
              "per": {}, "cer": {}, "utterances": {}}
    pairs = tqdm(total=len(models) * len(tests), desc="model x test set", unit="pair")
    for m in models:
        recognizer = None  # loaded only if some pair of this model still needs decoding
        matrix["per"][m.label], matrix["cer"][m.label] = {}, {}
        for t in tests:
            pair_dir = out_dir / m.label / t.label
            summary_path = pair_dir / SUMMARY_FILE
            pairs.set_postfix_str(f"{m.label} on {t.label}")
            if _up_to_date(summary_path, m.path / MODEL_FILE, t.path):
                result = json.loads(summary_path.read_text())
            else:
                if recognizer is None:
                    recognizer = Recognizer(m.path)
                _check_features(recognizer.feature_dim, m, t, cut_sets[t.label])
                result = recognizer.decode_and_score(cut_sets[t.label], pair_dir, num_threads,
                                                     desc=f"{m.label} on {t.label}")
                result["utterances"] = sum(1 for _ in cut_sets[t.label])
                write_text_atomic(summary_path, json.dumps(result, indent=2) + "\n")
            matrix["per"][m.label][t.label] = result["per"]
            matrix["cer"][m.label][t.label] = result["cer"]
            matrix["utterances"][t.label] = result["utterances"]
            pairs.update()
    pairs.close()
    out_dir.mkdir(parents=True, exist_ok=True)
    md, js, png = (out_dir / name for name in MATRIX_FILES)
    write_text_atomic(js, json.dumps(matrix, indent=2) + "\n")
    write_text_atomic(md, format_markdown(matrix))
    draw_heatmap(matrix, png)
    logging.info("Wrote %s, %s and %s", md, js, png)
    return matrix


def _check_features(want: int, model: Labelled, test: Labelled, cuts) -> None:
    """A model (taking ``want``-dimensional features) can only decode features of the kind it was trained on."""
    have = next(iter(cuts)).num_features
    if want != have:
        raise ValueError(f"model {model.label} takes {want}-dimensional features but test set {test.label} has "
                         f"{have}; compute the test set's features with the model's features config")


def _fmt(x: float | None) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.2f}"


def format_markdown(matrix: dict) -> str:
    """The matrix as Markdown: one table per metric, in-domain cells (row label = column label) in bold."""
    rows, cols = matrix["rows"], matrix["cols"]
    lines = ["# Cross-corpus comparison", "",
             "Rows: the corpus a model was trained on. Columns: the corpus it was tested on. "
             "**Bold**: in-domain (trained and tested on the same corpus).", ""]
    for key, title in METRICS:
        lines += [f"## {title}", "", "| trained on \\ tested on | " + " | ".join(cols) + " |",
                  "|---|" + "---|" * len(cols)]
        for r in rows:
            cells = []
            for c in cols:
                v = _fmt(matrix[key][r].get(c))
                cells.append(f"**{v}**" if r == c else v)
            lines.append(f"| {r} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["Models: " + "; ".join(f"{r} = `{matrix['models'][r]}`" for r in rows),
              "",
              "Test sets: " + "; ".join(f"{c} = `{matrix['tests'][c]}` ({matrix['utterances'][c]} utterances)"
                                        for c in cols), ""]
    return "\n".join(lines)


def heatmap_size(n_rows: int, n_cols: int) -> tuple[int, int]:
    """Width and height in pixels of the heatmap PNG of an ``n_rows`` x ``n_cols`` matrix."""
    width = LEFT + 2 * n_cols * CELL_W + GAP + RIGHT
    height = TOP + n_rows * CELL_H + BOTTOM
    return round(width * DPI), round(height * DPI)


def draw_heatmap(matrix: dict, out: Path) -> None:
    """Two annotated heatmaps side by side (CER, PER), darker = more errors (0-100 %), in-domain cells outlined."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.patches import Rectangle

    rows, cols = matrix["rows"], matrix["cols"]
    w_px, h_px = heatmap_size(len(rows), len(cols))
    fig = plt.figure(figsize=(w_px / DPI, h_px / DPI), dpi=DPI)
    panel_w, panel_h = len(cols) * CELL_W, len(rows) * CELL_H
    for i, (key, title) in enumerate(METRICS):
        left = LEFT + i * (panel_w + GAP)
        ax = fig.add_axes((left * DPI / w_px, BOTTOM * DPI / h_px, panel_w * DPI / w_px, panel_h * DPI / h_px))
        values = np.array([[matrix[key][r].get(c, np.nan) for c in cols] for r in rows], dtype=float)
        ax.imshow(values, cmap="Reds", vmin=0.0, vmax=VMAX, aspect="auto")
        ax.set_xticks(range(len(cols)), cols, rotation=30, ha="right", fontsize=8)
        ax.set_yticks(range(len(rows)), rows, fontsize=8)
        ax.set_xlabel("test corpus", fontsize=9)
        ax.set_ylabel("training corpus", fontsize=9)
        ax.set_title(title.split(",")[0], fontsize=10)
        for y, r in enumerate(rows):
            for x, c in enumerate(cols):
                v = values[y, x]
                ax.text(x, y, _fmt(None if np.isnan(v) else float(v)), ha="center", va="center", fontsize=8,
                        color="white" if np.isfinite(v) and v > 0.6 * VMAX else "black")
                if r == c:
                    ax.add_patch(Rectangle((x - 0.5, y - 0.5), 1, 1, fill=False, lw=2, ec="black"))
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)
    plt.close(fig)
