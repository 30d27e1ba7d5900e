"""A rehearsal of the pipeline at real corpus size: time and peak memory of stages 1, 2, 3, 6's data loader
and 7 for AISHELL-1-sized and multi_cn-sized manifests, built from a small real corpus by reference.

No real corpus fits here, so the manifests of N utterances point at the files of a measured slice (a
recipe's own data directory, by default mini_cmn's), cycled: every recording, supervision and cut is real
lhotse data with a new id, only the audio repeats. Each step runs in its own process and reports its own
peak resident memory (``ru_maxrss``) and wall time:

- ``headers``: stage 1's per-file work (lhotse ``Recording.from_file`` on real files, in stage 1's threads),
  measured on the slice and per file, to extrapolate to N files;
- ``manifests``: the rest of stage 1 at N (recordings and supervisions built and written, eagerly, as stage 1 does);
- ``label``: stage 2's labelling of N supervisions (normalisation, pypinyin in context; at most
  ``--label-max``, larger sizes extrapolated linearly from it);
- ``cuts``: stage 3's eager cut set of N utterances with its speed-perturbed copies (what is in memory while
  features are computed), and ``fbank``: features of the slice's first ``--fbank-utts`` utterances on one core
  (time and disk per hour of audio);
- ``sampler``: an epoch of the training sampler (DynamicBucketingSampler over the lazy cut manifest, the
  recipe config's batch size and buckets) over N feature cuts, and ``loader``: ``--loader-batches`` batches
  loaded and collated with SpecAugment by one loader process (seconds of audio per second);
- ``decode``: stage 7 (``asrt.decode.evaluate``) on a test set of ``--test-utts`` utterances with the
  packaged model's graph, once per method (``hlg``, ``rescore``), one thread.

Example (about 25 minutes on 2 cores; writes a few GB under --work)::

    benchmarks/rehearse_scale.py --data-dir egs/mini_cmn/data --model-dir egs/mini_cmn/exp/default/model \\
        --config egs/aishell/conf/default.yaml --sizes 120098 1000000 --work /tmp/scale --out /tmp/scale/table.md
"""
from __future__ import annotations

import argparse
import itertools
import json
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchlib import machine_header, markdown_table, print_report, require_files, run_benchmark

from asrt.names import cuts_path, manifest_path

CORPUS = "scale"  # the corpus name of the rehearsal's manifests
SLICE = "mini_cmn"  # the corpus name in --data-dir


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, required=True, help="the slice: a recipe's data directory after stage 3")
    p.add_argument("--model-dir", type=Path, required=True, help="a packaged model (stage 8) for the decode step")
    p.add_argument("--config", type=Path, required=True, help="recipe config: its features and train sections")
    p.add_argument("--work", type=Path, required=True, help="where the rehearsal's manifests and features go")
    p.add_argument("--sizes", type=int, nargs="+", default=[120098, 1000000], help="utterances per training set")
    p.add_argument("--real-hours", type=float, nargs="+", default=[150, 1000],
                   help="hours of speech of the real training sets of --sizes (fbank time and disk scale with these)")
    p.add_argument("--label-max", type=int, default=200000, help="largest size stage 2 labels for real")
    p.add_argument("--header-files", type=int, default=2000)
    p.add_argument("--fbank-utts", type=int, default=1000)
    p.add_argument("--loader-batches", type=int, default=30)
    p.add_argument("--test-utts", type=int, default=7176)
    p.add_argument("--step", help=argparse.SUPPRESS)  # run one step in this process (the parent's children)
    p.add_argument("--n", type=int, help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, help="also write the tables to this Markdown file")
    return p.parse_args(argv)


def slice_path(args, kind: str, split: str = "train") -> Path:
    return manifest_path(args.data_dir / "manifests", SLICE, kind, split)


def cycled(items: list, n: int):
    """(index, item) for n items, cycling through ``items``."""
    return zip(range(n), itertools.cycle(items))


def step_headers(args) -> dict:
    """Stage 1's per-file work on real files: lhotse reading each audio file's header, in stage 1's threads."""
    from lhotse import Recording, load_manifest

    from asrt.corpora.utterances import HEADER_THREADS

    files = [r.sources[0].source for r in itertools.islice(load_manifest(slice_path(args, "recordings")), args.n)]
    with ThreadPoolExecutor(HEADER_THREADS) as pool:
        list(pool.map(Recording.from_file, files))
    return {"files": len(files)}


def step_manifests(args) -> dict:
    """Stage 1's manifests of ``n`` utterances (eager, as :func:`asrt.corpora.utterances.write_utterance_manifests`)."""
    from lhotse import RecordingSet, SupervisionSet, load_manifest
    from lhotse.utils import fastcopy

    from asrt.corpora.manifests import write_manifests

    recordings = list(load_manifest(slice_path(args, "recordings")))
    by_recording = {s.recording_id: s for s in load_manifest(slice_path(args, "supervisions"))}
    recs, sups = [], []
    for i, rec in cycled(recordings, args.n):
        uid = f"{CORPUS}{i:07d}"
        recs.append(fastcopy(rec, id=uid))
        sups.append(fastcopy(by_recording[rec.id], id=uid, recording_id=uid))
    write_manifests(args.work / "manifests", CORPUS, f"n{args.n}", RecordingSet.from_recordings(recs),
                    SupervisionSet.from_segments(sups))
    return {"hours": sum(r.duration for r in recs) / 3600}


def step_label(args) -> dict:
    """Stage 2's labelling of the ``n`` supervisions."""
    from asrt.lang.prepare import label_supervisions

    manifests = args.work / "manifests"
    kept, dropped = label_supervisions(manifest_path(manifests, CORPUS, "supervisions", f"n{args.n}"),
                                       manifest_path(manifests, CORPUS, "supervisions_labelled", f"n{args.n}"))
    return {"kept": kept, "dropped": dropped}


def step_cuts(args) -> dict:
    """Stage 3's eager cut set of the ``n`` utterances with the config's speed-perturbed copies."""
    from asrt.config import load_config
    from asrt.features.extract import split_cuts

    perturb = tuple(load_config(args.config)["features"]["speed_perturb"] or ())
    cuts = split_cuts(args.work / "manifests", CORPUS, f"n{args.n}", perturb)
    return {"cuts": len(cuts)}


def step_fbank(args) -> dict:
    """Stage 3 on the first ``n`` utterances (one core, no perturbation): features and their disk."""
    from asrt.config import load_config
    from asrt.features.extract import compute_fbank
    from asrt.names import feature_storage

    out = args.work / "fbank"
    compute_fbank(args.work / "manifests", CORPUS, f"n{args.n}", out, load_config(args.config)["features"])
    storage = feature_storage(out, CORPUS, f"n{args.n}")  # lhotse adds .lca to it (a directory with --num-jobs)
    files = [p for q in storage.parent.glob(storage.name + "*") for p in ([q] if q.is_file() else q.rglob("*"))]
    return {"feature_bytes": sum(p.stat().st_size for p in files if p.is_file())}


def write_feature_cuts(args, n: int, split: str) -> Path:
    """``n`` cuts with features by reference to the slice's ``split`` cuts, written lazily; their path."""
    from lhotse import CutSet, load_manifest
    from lhotse.utils import fastcopy

    path = cuts_path(args.work / "fbank", CORPUS, f"{split}{n}")
    if not path.exists():
        slice_cuts = list(load_manifest(cuts_path(args.data_dir / "fbank", SLICE, split)))
        with CutSet.open_writer(path) as writer:
            for i, cut in cycled(slice_cuts, n):
                uid = f"{CORPUS}{i:07d}"
                writer.write(fastcopy(cut, id=uid, supervisions=[fastcopy(cut.supervisions[0], id=uid)]))
    return path


def training_sampler(args, path: Path):
    """The training sampler stage 6 uses, with the config's batch size and buckets, over the lazy cuts."""
    from lhotse import load_manifest_lazy
    from lhotse.dataset import DynamicBucketingSampler

    from asrt.config import load_config

    train = load_config(args.config)["train"]
    return DynamicBucketingSampler(load_manifest_lazy(path), max_duration=float(train["max_duration"]), shuffle=True,
                                   num_buckets=int(train["num_buckets"]), seed=0, drop_last=False)


def step_sampler(args) -> dict:
    """An epoch of the training sampler over ``n`` feature cuts (cut metadata only, no features read)."""
    path = write_feature_cuts(args, args.n, "train")
    t0 = time.perf_counter()
    batches = sum(1 for _ in training_sampler(args, path))
    return {"batches": batches, "epoch_seconds": time.perf_counter() - t0, "manifest_bytes": path.stat().st_size}


def step_loader(args) -> dict:
    """``n`` batches of the training sampler loaded, collated and SpecAugmented in this one process."""
    from lhotse.dataset import SpecAugment

    from asrt.config import load_config
    from asrt.lang.tokens import TokenTable
    from asrt.names import TOKENS_FILE
    from asrt.train.dataset import CtcDataset

    train = load_config(args.config)["train"]
    dataset = CtcDataset(TokenTable(args.model_dir / TOKENS_FILE), SpecAugment(**train["spec_augment"]))
    sampler = training_sampler(args, write_feature_cuts(args, max(args.sizes), "train"))
    audio, t0 = 0.0, time.perf_counter()
    for cuts in itertools.islice(sampler, args.n):
        dataset[cuts]
        audio += sum(c.duration for c in cuts)
    return {"audio_seconds": audio, "load_seconds": time.perf_counter() - t0}


def step_decode(args) -> dict:
    """Stage 7 on ``n`` test utterances (the slice's test cuts, cycled) by each method, one thread."""
    import tempfile

    from lhotse import load_manifest

    from asrt.decode.evaluate import evaluate
    from asrt.packaged.package import read_metadata

    path = write_feature_cuts(args, args.n, "test")
    hours = sum(c.duration for c in load_manifest(path)) / 3600
    out = {"hours": hours}
    for method in ("rescore", "hlg"):
        decode_cfg = dict(read_metadata(args.model_dir)["decode"], method=method)
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory(dir=args.work) as tmp:
            summary = evaluate(args.model_dir / "model.pt", args.model_dir, {"test": path}, Path(tmp), decode_cfg, 1)
        out[method] = {"seconds": time.perf_counter() - t0, "rtf_hlg": summary["test"]["rtf_hlg"]}
    return out


STEPS = {name[len("step_"):]: fn for name, fn in globals().items() if name.startswith("step_")}


def run_step(args, step: str, n: int) -> dict:
    """Run one step in a child process; its figures with ``seconds`` (wall) and ``peak_gb`` (its peak RSS)."""
    argv = [sys.executable, __file__, *sys.argv[1:], "--step", step, "--n", str(n)]
    t0 = time.perf_counter()
    done = subprocess.run(argv, check=True, stdout=subprocess.PIPE, text=True)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    figures.setdefault("seconds", time.perf_counter() - t0)
    print(f"{step} n={n}: {figures}", file=sys.stderr)
    return figures


def child(args) -> None:
    """The ``--step`` process: run the step, print its figures and its own peak RSS as one JSON line."""
    t0 = time.perf_counter()
    figures = STEPS[args.step](args)
    figures["seconds"] = time.perf_counter() - t0
    figures["peak_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(json.dumps(figures))


def rehearse(args) -> list[list[str]]:
    """Every step at every size; rows of (stage, utterances, how, seconds, peak GB, disk)."""
    headers = run_step(args, "headers", args.header_files)
    per_file = headers["seconds"] / headers["files"]
    run_step(args, "manifests", args.fbank_utts)
    base_gb = run_step(args, "label", args.fbank_utts)["peak_gb"]
    fbank = run_step(args, "fbank", args.fbank_utts)
    fbank_hours = run_step(args, "manifests", args.fbank_utts)["hours"]
    from asrt.config import load_config

    copies = 1 + len(load_config(args.config)["features"]["speed_perturb"] or ())
    rows, largest = [], None
    for n, real_hours in zip(args.sizes, args.real_hours):
        m = run_step(args, "manifests", n)
        rows.append(["1: audio headers", n, f"{per_file * 1e3:.2f} ms per file (measured on {headers['files']}) x {n}",
                     f"{per_file * n:.0f}", f"{headers['peak_gb']:.2f}", "-"])
        rows.append(["1: manifests", n, f"measured ({m['hours']:.0f} h by reference)", f"{m['seconds']:.0f}",
                     f"{m['peak_gb']:.2f}", "-"])
        if n <= args.label_max:
            measured = {"2: labels": run_step(args, "label", n), "3: cut set in memory": run_step(args, "cuts", n)}
            for stage, fig in measured.items():
                how = f"measured ({fig['cuts']} cuts)" if "cuts" in fig else "measured"
                rows.append([stage, n, how, f"{fig['seconds']:.0f}", f"{fig['peak_gb']:.2f}", "-"])
            largest = (n, measured)
        else:  # time and memory above the interpreter's (the small label run's peak) grow with the count
            k = n / largest[0]
            for stage, fig in largest[1].items():
                rows.append([stage, n, f"{largest[0]} measured, x {k:.2f}", f"{fig['seconds'] * k:.0f}",
                             f"{base_gb + (fig['peak_gb'] - base_gb) * k:.2f}", "-"])
        audio_hours = real_hours * copies
        rows.append(["3: fbank", n, f"{fbank['seconds'] / fbank_hours:.0f} s per hour on 1 core (measured on "
                     f"{args.fbank_utts} utterances, {fbank_hours:.2f} h) x {real_hours} h x {copies} copies",
                     f"{fbank['seconds'] / fbank_hours * audio_hours:.0f}", f"{fbank['peak_gb']:.2f}",
                     f"{fbank['feature_bytes'] / fbank_hours * audio_hours / 2**30:.1f} GB"])
        s = run_step(args, "sampler", n)
        rows.append(["6: sampler, an epoch", n, f"measured ({s['batches']} batches)", f"{s['epoch_seconds']:.0f}",
                     f"{s['peak_gb']:.2f}", f"{s['manifest_bytes'] / 2**20:.0f} MB of cuts"])
    loader = run_step(args, "loader", args.loader_batches)
    rows.append(["6: loader, 1 process", "-", f"{loader['audio_seconds'] / loader['load_seconds']:.0f} s of audio per "
                 f"second (measured, {args.loader_batches} batches)", f"{loader['load_seconds']:.0f}",
                 f"{loader['peak_gb']:.2f}", "-"])
    d = run_step(args, "decode", args.test_utts)
    for method in ("hlg", "rescore"):
        rows.append([f"7: decode {method}, 1 thread", args.test_utts, f"measured ({d['hours']:.1f} h, RTF "
                     f"{d[method]['rtf_hlg']:.4f})", f"{d[method]['seconds']:.0f}", f"{d['peak_gb']:.2f}", "-"])
    return rows


def main() -> None:
    args = parse_args()
    if args.step:
        child(args)
        return
    require_files(args.data_dir / "fbank", args.model_dir / "model.pt", args.config, hint="run the recipe first")
    args.work.mkdir(parents=True, exist_ok=True)
    rows = rehearse(args)
    text = (f"{machine_header('1 per step')}\n\n"
            f"{markdown_table(['stage', 'utterances', 'how', 'seconds', 'peak GB', 'disk'], rows)}\n")
    print_report(text, args.out)


if __name__ == "__main__":
    run_benchmark(main, "rehearse_scale")
