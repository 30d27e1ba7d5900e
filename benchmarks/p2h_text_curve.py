"""Pinyin to characters against the amount of LM text: gold-pinyin dev CER at fractions of mini_cmn's text.

For each fraction, stages 2, 4 and 5 are built as the recipe builds them (the config's ``lang`` and ``lm``
sections; the default: word 4-gram, pronunciation probabilities) on the training transcripts (the train
table) plus that fraction of the corpus's extra LM text (``text/train.txt``: the People's Daily sentences
outside dev and test). The fractions are prefixes of one seeded shuffle of the sentences, so each smaller
set lies inside the larger ones. With ``--scale-transcripts`` the transcripts shrink with the text (only
those found in a kept sentence stay), so that no text from outside the fraction leaks in. Each split's gold
pinyin is then turned into characters by ``asrt p2h``'s search (``LG_pinyin.fst``, the config's ``decode``
method) and scored as ``bench_p2h.py`` scores it, on one core.

The last lines fit ``CER = a + b ln(words)`` and the same line for sentence accuracy (least squares over
each split's rows, words of LM text as stage 2 segments it) and say how many words each line puts at
``--target-cer`` and ``--target-accuracy``. Run from ``egs/mini_cmn`` after stage 0 (only the tables and
``text/train.txt`` are read; a corpus synthesised before 7b5e3fc has other dev and test sets than the
fixed ones). Each fraction's lang and LM go to ``<work-dir>/<fraction>/``, and a rerun reuses a finished
one: delete them after changing ``--seed`` or the config::

    python ../../benchmarks/p2h_text_curve.py --fractions 0.125 0.25 0.5 1 --work-dir data/p2h_curve
"""
from __future__ import annotations

import argparse
import math
import os
import random
import sys
import time
from pathlib import Path

from benchlib import machine_header, markdown_table, require_files, run_benchmark

HEADER = ["fraction", "extra sentences", "LM text sentences", "LM text words", "split", "CER",
          "sentence accuracy (%)", "ms per sentence", "build s"]


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus-dir", type=Path, default=Path("data/local/mini_cmn"))
    p.add_argument("--config", type=Path, default=Path("conf/default.yaml"), help="recipe YAML (lang, lm, decode)")
    p.add_argument("--fractions", type=float, nargs="+", default=[0.125, 0.25, 0.5, 1.0])
    p.add_argument("--splits", nargs="+", default=["dev"], help="dev to choose; test only to report")
    p.add_argument("--scale-transcripts", action="store_true",
                   help="keep only the training transcripts found in a kept sentence")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--target-cer", type=float, default=3.5)
    p.add_argument("--target-accuracy", type=float, default=75.0, help="sentence accuracy (%%)")
    p.add_argument("--work-dir", type=Path, default=Path("data/p2h_curve"))
    return p.parse_args()


def train_supervisions(table: Path):
    """The train table's utterances as supervisions labelled as stage 2 labels them (text and pinyin)."""
    from lhotse import SupervisionSegment

    from asrt.lang.prepare import label_supervision

    sups = []
    for line in table.read_text(encoding="utf-8").splitlines()[1:]:
        f = line.split("\t")
        sup = label_supervision(SupervisionSegment(id=f[0], recording_id=f[0], start=0.0, duration=1.0,
                                                   text=f[3], custom={"pinyin": f[4]}))
        if sup is not None:
            sups.append(sup)
    return sups


def build(work: Path, sups, sentences: list[str], config: dict) -> str:
    """Stages 2, 4 and 5 on ``sups`` and ``sentences`` in ``work``; the seconds taken (``reused`` when an
    earlier run finished them)."""
    from lhotse import SupervisionSet

    from asrt.fileio import write_text_atomic
    from asrt.lang.prepare import prepare_lang
    from asrt.lm.graph import compile_hlg
    from asrt.lm.ngram import build_lms
    from asrt.names import HLG_FILE, P2H_FILE

    lang, arpa = work / "lang", work / "lm" / "lm.arpa"
    if (lang / P2H_FILE).is_file():
        return "reused"
    start = time.perf_counter()
    work.mkdir(parents=True, exist_ok=True)
    SupervisionSet.from_segments(sups).to_file(work / "supervisions_train.jsonl.gz")
    write_text_atomic(work / "extra_text.txt", "".join(s + "\n" for s in sentences))
    prepare_lang(lang, work / "supervisions_train.jsonl.gz", [work / "extra_text.txt"], config["lang"],
                 config["lm"]["unit"])
    build_lms(lang, arpa, config["lm"])
    compile_hlg(lang, arpa, lang / HLG_FILE, lang / P2H_FILE)
    (lang / HLG_FILE).unlink()  # the audio graph: not searched here, and the largest file
    return f"{time.perf_counter() - start:.0f}"


def text_size(lm_text: Path) -> tuple[int, int]:
    """Sentences and words of a lang directory's ``lm_text.txt``."""
    lines = lm_text.read_text(encoding="utf-8").splitlines()
    return len(lines), sum(len(line.split()) for line in lines)


def fit_log(name: str, words: list[int], values: list[float], target: float, better: int) -> str:
    """The least-squares line ``name = a + b ln(words)``, and the words at which it reaches ``target``;
    ``better`` is -1 for a measure that falls as it improves (CER), +1 for one that rises."""
    n = len(words)
    xs = [math.log(w) for w in words]
    mx, my = sum(xs) / n, sum(values) / n
    b = sum((x - mx) * (y - my) for x, y in zip(xs, values)) / sum((x - mx) ** 2 for x in xs)
    a = my - b * mx
    line = f"{name} = {a:.2f} {b:+.3f} ln(words) (per doubling {b * math.log(2):+.2f})"
    if b * better <= 0:
        return line + f": more text does not improve it, so no size reaches {target}"
    need = math.exp((target - a) / b)
    return line + f": {target} at {need:,.0f} words ({need / words[-1]:.1f}x the largest row)"


def main() -> None:
    from bench_p2h import corpus_rows

    from asrt.config import load_config
    from asrt.decode.p2h import evaluate_p2h
    from asrt.decode.search import PinyinDecoder

    args = parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, for the timings and the shared machine
    extra = args.corpus_dir / "text" / "train.txt"
    require_files(extra, args.corpus_dir / "train.tsv", hint="synthesise mini_cmn first (run.sh --stop-stage 0)")
    config = load_config(args.config)
    all_sups = train_supervisions(args.corpus_dir / "train.tsv")
    shuffled = [line for line in extra.read_text(encoding="utf-8").splitlines() if line.strip()]
    random.Random(args.seed).shuffle(shuffled)
    evals = {split: corpus_rows(args.corpus_dir / f"{split}.tsv") for split in args.splits}
    rows, points = [], {}
    for fraction in sorted(args.fractions):
        if not 0 < fraction <= 1:
            raise ValueError(f"--fractions must lie in (0, 1], not {fraction}")
        kept = shuffled[: round(fraction * len(shuffled))]
        sups = all_sups
        if args.scale_transcripts:
            joined = "\n".join(kept)
            sups = [s for s in all_sups if s.text in joined]
        work = args.work_dir / f"{fraction:g}{'-scaled' if args.scale_transcripts else ''}"
        seconds = build(work, sups, kept, config)
        n_sentences, n_words = text_size(work / "lang" / "lm_text.txt")
        decoder = PinyinDecoder.from_dir(work / "lang", config["decode"])
        for split, sentences in evals.items():
            r = evaluate_p2h(decoder.pinyin_to_text, sentences)
            rows.append([f"{fraction:g}", f"{len(kept):,}", f"{n_sentences:,}", f"{n_words:,}", split,
                         f"{r['cer']:.2f}", f"{r['sentence_accuracy']:.1f}", f"{r['ms_per_sentence']:.2f}",
                         seconds])
            points.setdefault(split, []).append((n_words, r["cer"], r["sentence_accuracy"]))
            print(markdown_table(HEADER, rows[-1:]), flush=True)
    print(machine_header("-"), "; one core")
    transcripts = "scaled with the text" if args.scale_transcripts else "all"
    print(f"\nGold pinyin to characters against LM text ({args.config}; training transcripts: {transcripts})\n")
    print(markdown_table(HEADER, rows))
    for split, pts in points.items():
        if len(pts) >= 2:
            words, cers, accuracies = map(list, zip(*pts))
            print(f"\n{split}: {fit_log('CER', words, cers, args.target_cer, -1)}")
            print(f"{split}: {fit_log('sentence accuracy', words, accuracies, args.target_accuracy, 1)}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    run_benchmark(main, "p2h_text_curve")
