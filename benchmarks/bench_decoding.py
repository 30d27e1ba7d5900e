"""Decoding real-time factor on one core of a packaged model (``asrt package`` output) over cuts with features.

Times (a) the acoustic model's forward pass, (b) greedy CTC (forward + best path) and (c) HLG decoding
(forward + ``HlgDecoder.decode``) with the beam and max-active of the model's ``metadata.json``, as the
evaluation stage (asrt/decode/evaluate.py) does. Feature loading is not timed. Prints Markdown tables.
"""
from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import torch
from benchlib import machine_header, markdown_table, require_files, run_benchmark

from asrt.decode.greedy import ctc_greedy
from asrt.decode.search import HlgDecoder
from asrt.models.checkpoint import load_model
from asrt.packaged.package import read_metadata

MODEL_DIR_FILES = ("model.pt", "tokens.txt", "words.txt", "HLG.fst", "metadata.json")


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model-dir", type=Path, required=True, help="packaged model directory, e.g. exp/default/model")
    p.add_argument("--cuts", type=Path, required=True,
                   help="cuts with features, e.g. data/fbank/mini_cmn_cuts_test.jsonl.gz")
    p.add_argument("--max-utts", type=int, default=None, help="decode only the first N cuts (default: all)")
    p.add_argument("--beam", type=float, default=None, help="override metadata.json's decode.beam")
    p.add_argument("--max-active", type=int, default=None, help="override metadata.json's decode.max_active")
    p.add_argument("--rescore-lm", type=Path, default=None, help="also time decode.method rescore with this "
                   "rescoring LM (stage 4's lm_rescore.bin; its character LM beside it) and the decode section's "
                   "rescoring settings")
    return p.parse_args()


def time_decoding(model, decoder: HlgDecoder, cuts, rescorer: HlgDecoder | None = None) -> dict[str, float]:
    """Decode each cut; return utterances, audio seconds and seconds spent in forward, greedy and HLG search
    (and in ``rescorer``'s lattice search and n-best rescoring)."""
    utts, audio_s, t_model, t_greedy, t_hlg, t_rescore = 0, 0.0, 0.0, 0.0, 0.0, 0.0
    for cut in cuts:
        feats = torch.from_numpy(cut.load_features()).unsqueeze(0)
        lengths = torch.tensor([feats.shape[1]])
        if utts == 0:  # the first forward pays one-time torch set-up costs
            with torch.no_grad():
                model(feats, lengths)
        t0 = time.perf_counter()
        with torch.no_grad():
            lp, out_lens = model(feats, lengths)
        lp = lp[0, : out_lens[0]].numpy()
        t1 = time.perf_counter()
        ctc_greedy(lp)
        t2 = time.perf_counter()
        decoder.decode(lp)
        t3 = time.perf_counter()
        if rescorer is not None:
            rescorer.decode(lp)
            t_rescore += time.perf_counter() - t3
        utts, audio_s = utts + 1, audio_s + cut.duration
        t_model, t_greedy, t_hlg = t_model + t1 - t0, t_greedy + t2 - t1, t_hlg + t3 - t2
    if utts == 0:
        raise ValueError("the cuts manifest is empty")
    return {"utts": utts, "audio_s": audio_s, "model_s": t_model, "greedy_s": t_greedy, "hlg_s": t_hlg,
            "rescore_s": t_rescore}


def main() -> None:
    """Load the packaged model, decode the cuts and print the tables."""
    from lhotse import load_manifest_lazy

    args = parse_args()
    require_files(*(args.model_dir / name for name in MODEL_DIR_FILES),
                  hint="give a packaged model directory written by stage 8 (asrt package)")
    require_files(args.cuts, hint="give a cuts manifest with features written by stage 3 (asrt features)")
    torch.set_num_threads(1)
    metadata = read_metadata(args.model_dir)

    t0 = time.perf_counter()
    model, _ = load_model(args.model_dir / "model.pt")
    t1 = time.perf_counter()
    decoder = HlgDecoder.from_dir(args.model_dir, metadata["decode"], beam=args.beam, max_active=args.max_active)
    t2 = time.perf_counter()
    rescorer = None
    if args.rescore_lm:
        rescorer = HlgDecoder.from_dir(args.model_dir, {**metadata["decode"], "method": "rescore"},
                                       args.rescore_lm, beam=args.beam, max_active=args.max_active)
    r = time_decoding(model, decoder, itertools.islice(load_manifest_lazy(args.cuts), args.max_utts), rescorer)

    print(machine_header(str(torch.get_num_threads())))
    print(f"\nDecoding `{args.cuts}` with `{args.model_dir}` ({metadata['model']}); "
          f"HLG beam {decoder.beam:g}, max-active {decoder.max_active}, acoustic scale {decoder.acoustic_scale:g}\n")
    utts, audio = r["utts"], f"{r['audio_s']:.1f}"
    print(markdown_table(["decoder", "utterances", "audio s", "RTF (lower is better)"], [
        ["acoustic model forward", utts, audio, f"{r['model_s'] / r['audio_s']:.4f}"],
        ["greedy CTC (model + best path)", utts, audio, f"{(r['model_s'] + r['greedy_s']) / r['audio_s']:.4f}"],
        ["HLG (model + HlgDecoder.decode)", utts, audio, f"{(r['model_s'] + r['hlg_s']) / r['audio_s']:.4f}"],
        *([["rescore (model + lattice search + n-best rescoring)", utts, audio,
            f"{(r['model_s'] + r['rescore_s']) / r['audio_s']:.4f}"]] if rescorer else []),
    ]))
    size_mb = (args.model_dir / "HLG.fst").stat().st_size / 1e6
    print()
    print(markdown_table(["load", "seconds"], [
        ["model.pt", f"{t1 - t0:.2f}"],
        [f"HLG.fst ({size_mb:.0f} MB)", f"{t2 - t1:.2f}"],
    ]))


if __name__ == "__main__":
    run_benchmark(main, "bench_decoding")
