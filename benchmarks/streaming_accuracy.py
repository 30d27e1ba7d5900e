"""Accuracy of streamed recognition: a cut set's audio streamed through a packaged streaming model in
``--chunk-frames`` chunks (each utterance one segment, as stage 7 decodes it), greedy pinyin scored as PER
and the stream's HLG 1-best as CER, beside the same model decoding the whole utterances offline.

    benchmarks/streaming_accuracy.py --model-dir egs/mini_cmn/exp/streaming/model \
        --cuts egs/mini_cmn/data/fbank/mini_cmn_cuts_dev.jsonl.gz
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from benchlib import machine_header, markdown_table, require_files, run_benchmark
from tqdm import tqdm

from asrt.decode.greedy import ctc_greedy
from asrt.decode.scoring import score_corpus
from asrt.decode.search import HlgDecoder
from asrt.decode.streaming import HlgStream
from asrt.features.extract import model_input
from asrt.packaged.recognizer import Recognizer
from asrt.text.normalize import char_tokens


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model-dir", type=Path, required=True)
    p.add_argument("--cuts", type=Path, required=True, help="a cut set (stage 3), e.g. the dev split's")
    p.add_argument("--chunk-frames", type=int, nargs="+", default=[4], help="chunk sizes in output frames")
    return p.parse_args()


def main() -> None:
    args = parse_args()
    require_files(args.model_dir / "model.pt", args.cuts, hint="run the recipe through stage 8 first")
    from lhotse import load_manifest_lazy

    torch.set_num_threads(1)
    rec = Recognizer(args.model_dir)
    hlg = HlgDecoder.from_dir(args.model_dir, rec.metadata["decode"], method="hlg")
    cuts = list(load_manifest_lazy(args.cuts))
    rows = []
    for chunk in [None, *args.chunk_frames]:  # None: offline, the whole utterance at once
        refs, hyps, refs_ch, hyps_ch, t0 = {}, {}, {}, {}, time.perf_counter()
        for cut in tqdm(cuts, desc=f"chunk {chunk or 'offline'}", unit="utt"):
            samples = model_input(cut).load_audio()[0]
            if chunk is None:
                lp = rec.log_probs(samples)
                pinyin, text = rec.tokens.decode(ctc_greedy(lp)), "".join(hlg.decode(lp))
            else:
                stream = rec.stream(chunk, rules=[])
                stream._search = HlgStream(hlg)
                results = [*stream.accept(samples), *stream.finish()]
                pinyin, text = results[-1].pinyin, results[-1].text
            sup = cut.supervisions[0]
            refs[cut.id], hyps[cut.id] = rec.tokens.units.greedy_scoring(sup, pinyin)
            refs_ch[cut.id], hyps_ch[cut.id] = char_tokens(sup.text), char_tokens(text)
        per, cer = score_corpus(refs, hyps)[0], score_corpus(refs_ch, hyps_ch)[0]
        seconds = sum(c.duration for c in cuts)
        ms = 10 * rec.model.encoder.subsampling_factor * (chunk or 0)
        rows.append([f"{ms} ms" if chunk else "offline", f"{100 * per.rate:.2f}", f"{100 * cer.rate:.2f}",
                     f"{(time.perf_counter() - t0) / seconds:.4f}"])
    print(machine_header("1"))
    print(f"\n{args.model_dir}, {len(cuts)} cuts of {args.cuts.name}; HLG 1-best (no lattice rescoring)\n")
    print(markdown_table(["decoding", "PER", "CER (HLG 1-best)", "RTF"], rows))


if __name__ == "__main__":
    run_benchmark(main, "streaming_accuracy")
