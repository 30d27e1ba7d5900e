"""Build time and peak memory of stages 2 (LM text, lexicon), 4 (LM) and 5 (graphs) at real-corpus scale.

A real corpus's LM text is its training transcripts: about 120k sentences for AISHELL-1, about 1M for the
union of corpora (multi_cn). Here that many sentences are simulated from People's Daily (mini_cmn's text):
sentences drawn with replacement, each with its clauses (split at ，；：) in a random order, so that counts
and n-grams grow with the size but the vocabulary stays People's Daily's (a real corpus brings more
words, so its graphs are larger). Each size and LM unit is built in a fresh process, whose peak resident
memory is reported (``ru_maxrss`` of the child from ``wait4``, lmplz's included). Run from ``egs/mini_cmn`` after stage 0::

    python ../../benchmarks/bench_lm_build.py --sentences 120000 1000000 --units word char
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import machine_header, markdown_table, require_files, run_benchmark

CLAUSE = re.compile(r"(?<=[，；：])")
HEADER = ["sentences", "lm.unit", "stage 2 s", "stage 4 s", "stage 5 s", "HLG.fst MB", "peak GB"]


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--text", type=Path, default=Path("data/local/mini_cmn/text/train.txt"),
                   help="the sentences to simulate from (one per line)")
    p.add_argument("--sentences", type=int, nargs="+", default=[120000])
    p.add_argument("--units", nargs="+", default=["word", "char"], choices=["word", "char"])
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--one", nargs=3, metavar=("TEXT", "UNIT", "WORKDIR"), help=argparse.SUPPRESS)
    return p.parse_args()


def simulate(sentences: list[str], n: int, seed: int) -> list[str]:
    """``n`` sentences drawn from ``sentences`` with replacement, each with its clauses shuffled."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        clauses = [c for c in CLAUSE.split(rng.choice(sentences)) if c]
        rng.shuffle(clauses)
        out.append("".join(clauses))
    return out


def build_one(text: Path, unit: str, work: Path) -> dict[str, float]:
    """Stages 2, 4 and 5 on ``text`` (as a corpus's extra LM text) in ``work``; seconds per stage."""
    from lhotse import SupervisionSet

    from asrt.config import load_config
    from asrt.lang.prepare import prepare_lang
    from asrt.lm.graph import compile_hlg
    from asrt.lm.ngram import build_lms

    sups = work / "sups.jsonl.gz"
    SupervisionSet.from_segments([]).to_file(sups)
    lang, lm_dir = work / "lang", work / f"lm_{unit}"
    times = {}
    start = time.perf_counter()
    prepare_lang(lang, sups, [text], load_config(None)["lang"], unit)
    times["stage 2"] = time.perf_counter() - start
    start = time.perf_counter()
    build_lms(lang, lm_dir / "lm.arpa", {**load_config(None)["lm"], "unit": unit})
    times["stage 4"] = time.perf_counter() - start
    start = time.perf_counter()
    compile_hlg(lang, lm_dir / "lm.arpa", lang / "HLG.fst", lang / "LG_pinyin.fst")
    times["stage 5"] = time.perf_counter() - start
    times["HLG MB"] = (lang / "HLG.fst").stat().st_size / 1e6
    return times


def main() -> None:
    args = parse_args()
    if args.one:
        text, unit, work = args.one
        print(json.dumps(build_one(Path(text), unit, Path(work))))
        return
    require_files(args.text, hint="synthesise mini_cmn first (run.sh --stop-stage 0)")
    base = [line for line in args.text.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = []
    for n in args.sentences:
        with tempfile.TemporaryDirectory(prefix="asrt-lm-build-") as tmp:
            text = Path(tmp) / "text.txt"
            text.write_text("".join(s + "\n" for s in simulate(base, n, args.seed)), encoding="utf-8")
            for unit in args.units:
                work = Path(tmp) / unit
                work.mkdir()
                out = work / "times.json"
                proc = subprocess.Popen([sys.executable, __file__, "--one", str(text), unit, str(work)],
                                        stdout=out.open("w"), stderr=subprocess.PIPE, text=True)
                _, status, usage = os.wait4(proc.pid, 0)  # the child's own peak memory (lmplz's included)
                if status != 0:
                    raise RuntimeError(f"{n} sentences, {unit}: {proc.stderr.read()[-2000:]}")
                t = json.loads(out.read_text().strip().splitlines()[-1])
                rows.append([f"{n:,}", unit, f"{t['stage 2']:.0f}", f"{t['stage 4']:.0f}", f"{t['stage 5']:.0f}",
                             f"{t['HLG MB']:.0f}", f"{usage.ru_maxrss / 1e6:.1f}"])
                print(markdown_table(HEADER, rows[-1:]), flush=True)
    print(machine_header("-"))
    print(f"\nLM builds from {args.text} simulated to each size\n")
    print(markdown_table(HEADER, rows))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    run_benchmark(main, "bench_lm_build")
