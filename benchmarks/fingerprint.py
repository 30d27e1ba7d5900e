"""Where two machines' runs of the same recipe part ways: digests of each step of the pipeline, in order.

The same code and config give bit-identical results on one machine but other figures on another CPU kind
(issue 23). This prints, as JSON, a digest per step of a finished recipe run and of a few fixed
computations, in pipeline order, so that two machines' fingerprints show the first step that differs:

- ``synthesis``: three simulated rooms and the first ``SYNTH_UTTS`` utterances of the corpus plan
  synthesised again, in this process (espeak-ng, rooms, noise, channels), and ``audio``: the bytes of the audio files stage 0 wrote, per split;
- ``fbank_of_fixed_signal``: stage 3's feature extractor on a fixed signal (the extractor alone, whatever
  the audio), and ``features``: the stored features of each split's cuts;
- ``matmul``, ``init_params``: a fixed float32 matrix product (the BLAS kernels), the model's initial weights
  under the training seed (torch's generator and its vectorised sampling);
- ``train_losses``, ``params_after``: the loss of each of ``--steps`` AdamW steps on the first training cuts
  (no SpecAugment; dropout drawn from the seeded generator) with stage 6's thread count, and the weights after them.

    benchmarks/fingerprint.py --recipe egs/mini_cmn --config conf/default.yaml > here.json
    benchmarks/fingerprint.py --compare benchmarks/fingerprints/intel_xeon_avx512f.json here.json
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
from benchlib import run_benchmark

from asrt.names import cuts_path
from asrt.version import machine

FIRST_CUTS = 200  # cuts of each split the features digest reads
STEP_CUTS = 16  # cuts per training step
SYNTH_UTTS = 20  # utterances synthesised again


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipe", type=Path, help="recipe directory after stage 3, e.g. egs/mini_cmn")
    p.add_argument("--config", type=Path, help="its config, relative to the recipe directory")
    p.add_argument("--corpus", default="mini_cmn")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--threads", type=int, help="torch threads of the training steps (default: train.num_threads)")
    p.add_argument("--compare", type=Path, nargs=2, metavar="JSON", help="print where two fingerprints differ")
    return p.parse_args()


def digest(*arrays) -> str:
    """sha256 of the bytes of numpy arrays or tensors (first 16 hex digits)."""
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a.detach().numpy() if isinstance(a, torch.Tensor) else a).tobytes())
    return h.hexdigest()[:16]


def audio_digests(corpus_dir: Path) -> dict[str, str]:
    """One digest per split over the bytes of its audio files, in path order."""
    out = {}
    for split_dir in sorted(p for p in (corpus_dir / "audio").iterdir() if p.is_dir()):
        h = hashlib.sha256()
        for f in sorted(split_dir.rglob("*.*")):
            h.update(f.read_bytes())
        out[split_dir.name] = h.hexdigest()[:16]
    return out


def synthesis_digest(corpus_dir: Path, config: dict) -> str:
    """The first utterances of the recipe's corpus plan, synthesised and recorded again."""
    from asrt.corpora import mini_cmn

    cfg = mini_cmn.synth_config(config)
    specs = mini_cmn.plan_corpus(mini_cmn.corpus_sentences(corpus_dir, cfg), cfg)[:SYNTH_UTTS]
    from asrt.corpora.channels import simulate_room_rir

    rooms = [simulate_room_rir(seed) for seed in range(3)]
    return digest(*rooms, *(mini_cmn.render(s, mini_cmn.synthesize_utterance(s, corpus_dir)) for s in specs))


def feature_digests(fbank_dir: Path, corpus: str) -> dict[str, str]:
    """One digest per split over the stored features of its first cuts (all splits of stage 3)."""
    from lhotse import load_manifest_lazy

    out = {}
    for path in sorted(fbank_dir.glob(f"{corpus}_cuts_*.jsonl.gz")):
        cuts = load_manifest_lazy(path)
        out[path.name] = digest(*(c.load_features() for _, c in zip(range(FIRST_CUTS), cuts)))
    return out


def fixed_computations(config: dict) -> dict[str, str]:
    """The feature extractor on a fixed chirp and a fixed float32 matrix product."""
    from asrt.features.extract import make_extractor

    t = np.arange(16000 * 3) / 16000
    chirp = (0.3 * np.sin(2 * np.pi * (100 + 400 * t) * t)).astype(np.float32)
    a = torch.from_numpy(np.cos(np.arange(512 * 512, dtype=np.float32).reshape(512, 512) / 1000))
    return {"fbank_of_fixed_signal": digest(make_extractor(config["features"]).extract(chirp, 16000)),
            "matmul": digest(a @ a)}


def training_steps(config: dict, corpus: str, steps: int, threads: int) -> dict:
    """Initial weights under the training seed, then ``steps`` AdamW steps on the first training cuts."""
    from lhotse import CutSet, load_manifest_lazy

    from asrt.lang.tokens import TokenTable
    from asrt.models import build_model
    from asrt.names import TOKENS_FILE
    from asrt.train.dataset import CtcDataset
    from asrt.train.trainer import ctc_loss

    torch.manual_seed(int(config["train"]["seed"]))
    torch.set_num_threads(threads)
    tokens = TokenTable(Path("data") / "lang" / TOKENS_FILE)
    train_cuts = load_manifest_lazy(cuts_path(Path("data") / "fbank", corpus, "train"))
    cuts = [c for _, c in zip(range(STEP_CUTS * steps), train_cuts)]
    model = build_model(num_features=cuts[0].num_features, vocab_size=len(tokens), **config["model"])
    init = digest(*model.state_dict().values())
    opt = torch.optim.AdamW(model.parameters(), lr=float(config["train"]["lr"]))
    losses, data = [], CtcDataset(tokens)
    model.train()
    for i in range(steps):
        batch = data[CutSet.from_cuts(cuts[STEP_CUTS * i: STEP_CUTS * (i + 1)])]
        loss = ctc_loss(model, batch, torch.device("cpu"))[0]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item().hex())
    return {"init_params": init, "train_losses": losses, "params_after": digest(*model.state_dict().values())}


def fingerprint(args) -> dict:
    from asrt.config import load_config

    os.chdir(args.recipe)  # lhotse manifests hold paths relative to the recipe directory
    config = load_config(args.config)
    corpus_dir = Path("data") / "local" / args.corpus
    out = {"machine": machine(), "synthesis": synthesis_digest(corpus_dir, config), "audio": audio_digests(corpus_dir)}
    fixed = fixed_computations(config)
    out["fbank_of_fixed_signal"] = fixed.pop("fbank_of_fixed_signal")
    out["features"] = feature_digests(Path("data") / "fbank", args.corpus)
    out.update(fixed)
    out.update(training_steps(config, args.corpus, args.steps, args.threads or int(config["train"]["num_threads"])))
    return out


def compare(a: dict, b: dict) -> int:
    """Print each step as same/differs, in pipeline order; 0 when all agree."""
    print(f"A: {a.pop('machine')}\nB: {b.pop('machine')}")
    differ = [k for k in a if a[k] != b.get(k)]
    for key in a:
        print(f"{'differs' if key in differ else 'same':8s} {key}")
    print(f"first difference: {differ[0]}" if differ else "no difference")
    return 1 if differ else 0


def main() -> None:
    args = parse_args()
    if args.compare:
        a, b = (json.loads(p.read_text(encoding="utf-8")) for p in args.compare)
        sys.exit(compare(a, b))
    if not (args.recipe and args.config):
        raise ValueError("give --recipe and --config (or --compare A B)")
    print(json.dumps(fingerprint(args), indent=1))


if __name__ == "__main__":
    run_benchmark(main, "fingerprint")
