"""PER and CER of ``asrt recognize`` on the same mini_cmn test utterances recorded in each condition.

Each test utterance of the recipe's corpus is spoken again exactly as stage 0 spoke it (same voice, rate,
room and noise: :func:`asrt.corpora.mini_cmn.plan_corpus`), then written in every condition of
:data:`asrt.corpora.channels.CONDITIONS` that is not a room (16 kHz, 8 kHz mu-law and GSM, 44.1 kHz stereo,
48 kHz) and recognised from the file the way ``asrt recognize`` does (``asrt.audio.load_audio``: any rate,
channels averaged, then the packaged model with HLG decoding). Only the channel differs between the
columns, so the differences are the channel's. Run from ``egs/mini_cmn`` after stage 8::

    python ../../benchmarks/bench_conditions.py --model-dir exp/default/model --config conf/default.yaml
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch
from benchlib import machine_header, markdown_table, run_benchmark
from tqdm import tqdm

from asrt.audio import load_audio
from asrt.config import load_config
from asrt.corpora import channels, mini_cmn
from asrt.decode.scoring import ErrorCounts, edit_counts
from asrt.packaged.recognizer import Recognizer
from asrt.text.normalize import char_tokens

REFERENCE = "16k"
MAX_GAP = 3.0  # issue 13: PER at 8 kHz and 44.1 kHz stereo within 3 points of 16 kHz


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model-dir", type=Path, required=True, help="packaged model, e.g. exp/default/model")
    p.add_argument("--config", type=Path, required=True, help="the recipe config whose corpus to use")
    p.add_argument("--corpus-dir", type=Path, default=Path("data/local/mini_cmn"))
    p.add_argument("--split", default="test", choices=("dev", "test"))
    p.add_argument("--max-utts", type=int, default=None, help="only the first N utterances of the split")
    return p.parse_args()


def score_conditions(recognizer: Recognizer, specs: list, corpus_dir: Path, names: list[str]) -> dict:
    """{condition: (PER counts, CER counts)} of every spec spoken once and written in each condition."""
    counts = {n: [ErrorCounts(), ErrorCounts()] for n in names}
    with tempfile.TemporaryDirectory() as tmp:
        for spec in tqdm(specs, desc="utterances", unit="utt", mininterval=10):
            audio = mini_cmn.synthesize_utterance(spec, corpus_dir)
            for name in names:
                path = Path(tmp) / (name + channels.FILE_SUFFIX[channels.CONDITIONS[name].format])
                rendered = channels.render(audio, name, np.random.default_rng([spec.seed, 1]))
                channels.write_condition(path, rendered, name)
                r = recognizer.recognize(load_audio(path))
                counts[name][0] += edit_counts(spec.pinyin.split(), r.pinyin)
                counts[name][1] += edit_counts(char_tokens(spec.text), char_tokens(r.text))
    return counts


def main() -> None:
    args = parse_args()
    torch.set_num_threads(1)
    cfg = mini_cmn.synth_config(load_config(args.config))
    specs = [s for s in mini_cmn.plan_corpus(mini_cmn.corpus_sentences(args.corpus_dir, cfg), cfg)
             if s.split == args.split][: args.max_utts]
    names = [n for n, c in channels.CONDITIONS.items() if not c.room]
    counts = score_conditions(Recognizer(args.model_dir), specs, args.corpus_dir, names)
    ref_per = 100 * counts[REFERENCE][0].rate
    rows = [[n, len(specs), f"{100 * per.rate:.2f}", f"{100 * cer.rate:.2f}", f"{100 * per.rate - ref_per:+.2f}"]
            for n, (per, cer) in counts.items()]
    print(machine_header(str(torch.get_num_threads())))
    print(f"\n`asrt recognize` on the same {len(specs)} mini_cmn {args.split} utterances in each condition "
          f"({args.model_dir})\n")
    print(markdown_table(["condition", "utterances", "PER", "CER", f"PER - {REFERENCE}"], rows))
    worst = max(100 * counts[n][0].rate - ref_per for n in names)
    print(f"\nlargest PER gap to {REFERENCE}: {worst:+.2f} points "
          f"({'within' if worst <= MAX_GAP else 'OVER'} the {MAX_GAP:g}-point target)")


if __name__ == "__main__":
    run_benchmark(main, "bench_conditions")
