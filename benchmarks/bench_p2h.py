"""Pinyin to characters on gold pinyin: asrt's LM path (``asrt p2h --eval``) against Pinyin2Hanzi (PyPI).

Each mini_cmn split's sentences (``data/local/mini_cmn/<split>.tsv``: the characters and the tonal pinyin
the utterances were labelled with) are converted by

- ``asrt p2h``: a packaged model's (or a lang directory's) ``LG_pinyin.fst``, with its ``decode`` method;
- Pinyin2Hanzi 0.1.1's ``dag`` search (its own phrase dictionary; it reads toneless pinyin, so it gets the
  same syllables without tones), the peer the issue measured.

CER, sentence accuracy and milliseconds per sentence, on one core. Run from ``egs/mini_cmn`` after stage 8::

    pip install Pinyin2Hanzi==0.1.1   # the peer (not an asrt dependency)
    python ../../benchmarks/bench_p2h.py --model-dir exp/default/model
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from benchlib import machine_header, markdown_table, require_files, run_benchmark

from asrt.decode.p2h import EvalRow, evaluate_p2h
from asrt.decode.search import PinyinDecoder
from asrt.packaged.package import decode_section
from asrt.text.pinyin import strip_tone


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model-dir", type=Path, required=True, help="packaged model, or a lang dir after stage 5")
    p.add_argument("--config", type=Path, help="recipe YAML whose decode section to use (default: the model's)")
    p.add_argument("--corpus-dir", type=Path, default=Path("data/local/mini_cmn"))
    p.add_argument("--splits", nargs="+", default=["dev", "test"])
    p.add_argument("--no-peer", action="store_true", help="leave Pinyin2Hanzi out")
    return p.parse_args()


def corpus_rows(table: Path) -> list[EvalRow]:
    """The (id, characters, tonal pinyin) of a mini_cmn split table (``utt_id speaker path text pinyin ...``)."""
    require_files(table, hint="synthesise the corpus first (run.sh --stop-stage 0)")
    lines = table.read_text(encoding="utf-8").splitlines()[1:]
    return [EvalRow(f[0], f[3], f[4].split()) for f in (line.split("\t") for line in lines)]


def pinyin2hanzi():
    """Pinyin2Hanzi's dag search as a function of tonal syllables (it is given them without tones)."""
    try:
        from Pinyin2Hanzi import DefaultDagParams, dag
    except ImportError:
        raise RuntimeError("the peer is not installed: pip install Pinyin2Hanzi==0.1.1 (or pass --no-peer)") from None

    params = DefaultDagParams()

    def convert(syllables: list[str]) -> str:
        try:
            result = dag(params, [strip_tone(s) for s in syllables], path_num=1)
        except KeyError:  # a syllable its dictionary lacks
            return ""
        return "".join(result[0].path) if result else ""

    return convert


def main() -> None:
    args = parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    decode_cfg = decode_section(args.model_dir, args.config)
    asrt = PinyinDecoder.from_dir(args.model_dir, decode_cfg)
    systems = {f"asrt p2h ({decode_cfg['method']})": asrt.pinyin_to_text}
    if not args.no_peer:
        systems["Pinyin2Hanzi 0.1.1 (dag, toneless)"] = pinyin2hanzi()
    rows = []
    for split in args.splits:
        sentences = corpus_rows(args.corpus_dir / f"{split}.tsv")
        for name, convert in systems.items():
            r = evaluate_p2h(convert, sentences)
            rows.append([split, name, r["sentences"], f"{r['cer']:.2f}", f"{r['sentence_accuracy']:.1f}",
                         f"{r['ms_per_sentence']:.2f}"])
    print(machine_header("-"), "; one core")
    print(f"\nGold pinyin of mini_cmn's sentences to characters ({args.model_dir})\n")
    print(markdown_table(["split", "system", "sentences", "CER", "sentence accuracy (%)", "ms per sentence"], rows))


if __name__ == "__main__":
    run_benchmark(main, "bench_p2h")
