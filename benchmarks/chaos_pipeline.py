"""Kill the mini_cmn pipeline with SIGKILL at random moments, rerun it to the end, and compare every output by
content with an uninterrupted run (issue 15).

Two runs of ``egs/mini_cmn/run.sh`` (the CI configuration by default), each with its own data and experiment
directories, RESULTS.md and TMPDIR under ``--work``:

1. ``reference``: stages 0-8 uninterrupted, timing when each stage starts;
2. ``chaos``: ``--kills`` attempts, each killed (its whole process group, SIGKILL) at a random moment of a
   stage: the kills are shared among stages 0-8 (at least ``--kills // 9`` each, the rest drawn in proportion
   to the stages' reference durations), stage by stage, each attempt waiting for its stage to start and
   killing after a delay drawn uniformly from that stage's reference duration; then run.sh runs to the end.

Then every file of the two runs is compared by content: gzip'd JSONL manifests decompressed and parsed (each
run's root directory replaced by ``<root>``), the feature matrices of every cut by value, torch files
(checkpoints, epoch and model files) tensor by tensor with every other field (``train_loss`` included),
audio by format and samples, text, FSTs and every other file byte for byte; timings and provenance are left
out (the RTF columns and commit of RESULTS.md, ``rtf_*`` of summary.json, the package's creation time and
commit, the PEAK chunk's time in float WAVs) and so are the tensorboard logs (wall times, and an
event file per process start). Temporaries (``.<name>.*.tmp*``, ``*.tmp``, ``*.part``, ``.done/*.started``,
anything in the chaos run's TMPDIR that the reference's does not hold too) count as differences. Prints Markdown tables; exits 1 on any difference.

    .venv/bin/python benchmarks/chaos_pipeline.py --seed 15 --kills 20 --work /tmp/asrt-chaos
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from benchlib import markdown_table, run_benchmark

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "egs" / "mini_cmn"
STAGES = range(9)
STAGE_LINE = re.compile(r"\) Stage (\d): (?!.*done before)")  # a stage that runs (not one skipped as done)
TEMPORARY = re.compile(r"^\..+\.tmp.*$|\.tmp$|\.part$|\.started$")
TIMING_KEY = re.compile(r"^rtf")
PROVENANCE = ("created", "commit")  # of metadata.json: when and from which checkout, not what


@dataclass
class Run:
    """One copy of the recipe's outputs: ``data/``, ``exp/``, ``RESULTS.md`` and a TMPDIR under ``root``."""

    root: Path
    config: str
    log: list[str] = field(default_factory=list)

    def command(self) -> list[str]:
        """run.sh with this run's directories."""
        return ["bash", str(RECIPE / "run.sh"), "--config", self.config, "--data-dir", str(self.root / "data"),
                "--exp-dir", str(self.root / "exp"), "--results", str(self.root / "RESULTS.md")]

    def start(self, attempt: int) -> tuple[subprocess.Popen, Path]:
        """Start run.sh in a session of its own, its output in ``logs/<attempt>.log``."""
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)
        log = self.root / "logs" / f"{attempt:02d}.log"
        log.parent.mkdir(exist_ok=True)
        with open(log, "w") as out:
            proc = subprocess.Popen(self.command(), cwd=RECIPE, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True, env={**os.environ, "TMPDIR": str(self.root / "tmp")})
        return proc, log


class StageWatch:
    """The stages an attempt has started running, read from its log as it grows."""

    def __init__(self, log: Path) -> None:
        self.log, self.offset, self.partial, self.started = log, 0, "", []

    def poll(self) -> list[int]:
        """The stages started so far, in order."""
        with open(self.log, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        self.offset += len(data)
        *lines, self.partial = (self.partial + data.decode("utf-8", errors="replace")).split("\n")
        self.started += [int(m.group(1)) for line in lines for m in [STAGE_LINE.search(line)] if m]
        return self.started


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL every process of ``proc``'s session (run.sh, asrt, its workers) and wait until they are gone."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
    while True:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def run_reference(run: Run) -> tuple[dict[int, float], float]:
    """Run stages 0-8 uninterrupted; return each stage's duration and the total wall time."""
    start = time.time()
    proc, log = run.start(0)
    watch, starts = StageWatch(log), {}
    while proc.poll() is None:
        for s in watch.poll():
            starts.setdefault(s, time.time())
        time.sleep(0.2)
    end = time.time()
    if proc.returncode != 0:
        raise RuntimeError(f"the reference run failed; see {log}")
    ends = [starts[s] for s in sorted(starts)][1:] + [end]
    durations = {s: stop - starts[s] for s, stop in zip(sorted(starts), ends)}
    return durations, end - start


def plan_kills(kills: int, durations: dict[int, float], rng: random.Random) -> list[int]:
    """The stage of each kill, in stage order: ``kills // 9`` each, the rest in proportion to the durations."""
    per_stage = Counter({s: kills // len(STAGES) for s in STAGES})
    per_stage.update(rng.choices(list(STAGES), weights=[durations.get(s, 1.0) for s in STAGES],
                                 k=kills - sum(per_stage.values())))
    return sorted(per_stage.elements())


def run_chaos(run: Run, plan: list[int], durations: dict[int, float], rng: random.Random) -> tuple[Counter, float]:
    """Kill an attempt in each planned stage, then run to the end; return where the kills landed (the stage
    running when SIGKILL came) and the total wall time."""
    landed, spent = Counter(), Counter()  # where the kills landed; seconds of each stage run before its kills
    start = time.time()
    for attempt, target in enumerate(plan, 1):
        proc, log = run.start(attempt)
        watch = StageWatch(log)
        while proc.poll() is None and not any(s >= target for s in watch.poll()):
            time.sleep(0.05)
        # A resumed stage has about its duration less what earlier attempts ran of it left (less still on a
        # less loaded machine): the kill comes within the first half of that; if the stage ends before the
        # delay does, the kill comes at the start of the next.
        delay = rng.uniform(0, max(0.5, durations.get(target, 1.0) - spent[target]) / 2)
        spent[target] += delay
        deadline = time.time() + delay
        while time.time() < deadline and proc.poll() is None and watch.poll()[-1] <= target:
            time.sleep(0.05)
        running = watch.poll()
        if proc.poll() is not None:
            if proc.returncode != 0:
                raise RuntimeError(f"attempt {attempt} failed by itself; see {log}")
            print(f"attempt {attempt}: the pipeline finished before the kill planned in stage {target}",
                  file=sys.stderr)
            break
        kill_group(proc)
        landed[running[-1]] += 1
        print(f"attempt {attempt}: SIGKILL in stage {running[-1]} (planned {target}) after "
              f"{time.time() - start:.0f} s", file=sys.stderr)
    proc, log = run.start(len(plan) + 1)
    if proc.wait() != 0:
        raise RuntimeError(f"the final run after the kills failed; see {log}")
    return landed, time.time() - start


# --- comparing two runs by content ---------------------------------------------------------------------------

def _normalised(obj, root: str):
    """``obj`` (parsed JSON or torch contents) with ``root`` in strings replaced and timings dropped."""
    if isinstance(obj, str):
        return obj.replace(root, "<root>")
    if isinstance(obj, dict):
        return {k: _normalised(v, root) for k, v in obj.items() if not TIMING_KEY.match(str(k))}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_normalised(v, root) for v in obj)
    return obj


def same_objects(a, b) -> bool:
    """Deep equality of torch files' contents: tensors and arrays by dtype, shape and value."""
    import numpy as np
    import torch

    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.dtype == b.dtype
                and a.shape == b.shape and torch.equal(a, b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same_objects(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same_objects(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def _jsonl(path: Path, root: Path) -> list:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [_normalised(json.loads(line), str(root)) for line in f]


def _same_features(a: Path, b: Path) -> bool:
    """Whether two cut sets hold the same cuts with the same feature matrices, value by value."""
    import numpy as np
    from lhotse import load_manifest_lazy

    cuts_a, cuts_b = list(load_manifest_lazy(a)), list(load_manifest_lazy(b))
    return len(cuts_a) == len(cuts_b) and all(
        x.id == y.id and np.array_equal(x.load_features(), y.load_features()) for x, y in zip(cuts_a, cuts_b))


def _results_md(path: Path) -> list[str]:
    """RESULTS.md's lines, the commit and the RTF cells of every row blanked."""
    lines, in_main = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("| date |"):
            in_main = "RTF greedy" in line
        elif line.startswith("| 20"):
            cells = line.split("|")
            cells[2] = ""
            line = "|".join(cells[:-3] + ["", "", ""] if in_main else cells)
        lines.append(line)
    return lines


def _same_audio(a: Path, b: Path) -> bool:
    """Same rate, channels, sample format and samples (libsndfile's float WAVs carry the time they were
    written in a PEAK chunk, as gzip does)."""
    import numpy as np
    import soundfile as sf

    ia, ib = sf.info(str(a)), sf.info(str(b))
    if (ia.samplerate, ia.channels, ia.format, ia.subtype, ia.frames) != (
            ib.samplerate, ib.channels, ib.format, ib.subtype, ib.frames):
        return False
    return np.array_equal(sf.read(str(a), dtype="float64")[0], sf.read(str(b), dtype="float64")[0])


def compare_file(rel: Path, a_root: Path, b_root: Path) -> tuple[str, bool]:
    """(the kind of file, whether the two runs' copies are the same in content)."""
    a, b = a_root / rel, b_root / rel
    name = rel.name
    if name.endswith(".jsonl.gz"):
        same = _jsonl(a, a_root) == _jsonl(b, b_root)
        if "_cuts_" in name:
            return "cut set (JSON + feature matrices)", same and _same_features(a, b)
        return "manifest (JSON)", same
    if name.endswith(".pt"):
        import torch

        ta, tb = (_normalised(torch.load(p, map_location="cpu", weights_only=False), str(r))
                  for p, r in ((a, a_root), (b, b_root)))
        kind = "checkpoint" if "checkpoints" in rel.parts else "epoch file" if name.startswith("epoch-") else "model"
        return kind, same_objects(ta, tb)
    if name == "RESULTS.md":
        return "RESULTS.md (RTF aside)", _results_md(a) == _results_md(b)
    if name.endswith(".json"):
        ja, jb = (_normalised(json.loads(p.read_text(encoding="utf-8")), str(r)) for p, r in ((a, a_root), (b, b_root)))
        if name == "metadata.json":
            for j in (ja, jb):
                for key in PROVENANCE:
                    j.pop(key, None)
        return "JSON (timings aside)", ja == jb
    if name == "summary.txt":  # a decode's scores, then its speed
        strip = (lambda p: [x for x in p.read_text(encoding="utf-8").splitlines() if "RTF" not in x])
        return "decode summary (RTF aside)", strip(a) == strip(b)
    if name.endswith(".gz"):
        return "other gzip (decompressed)", gzip.decompress(a.read_bytes()) == gzip.decompress(b.read_bytes())
    if ".done" in rel.parts:
        return "stage marker", a.read_bytes() == b.read_bytes()
    if rel.suffix in (".flac", ".wav"):
        return "audio (samples and format)", a.read_bytes() == b.read_bytes() or _same_audio(a, b)
    suffix = rel.suffix or "(none)"
    kinds = {".fst": "FST", ".lca": "feature archive", ".txt": "text",
             ".arpa": "ARPA LM", ".bin": "KenLM binary", ".yaml": "YAML", ".tsv": "text", ".md": "text"}
    return kinds.get(suffix, f"other ({suffix})"), a.read_bytes() == b.read_bytes()


def outputs(root: Path) -> set[Path]:
    """Every output file under a run's root (relative paths), its logs and tensorboard logs aside."""
    return {p.relative_to(root) for p in root.rglob("*") if p.is_file()
            and p.relative_to(root).parts[0] in ("data", "exp", "RESULTS.md") and "tensorboard" not in p.parts}


def temporaries(root: Path, caches: set[str]) -> list[Path]:
    """What an interrupted write or stage left: temporary names in ``data/`` and ``exp/``, and anything in the
    run's TMPDIR but the ``caches`` an uninterrupted run leaves there too (jieba's, torch's)."""
    found = [p for p in root.rglob("*") if p.relative_to(root).parts[0] in ("data", "exp") and TEMPORARY.search(p.name)]
    return found + [p for p in (root / "tmp").iterdir() if p.name not in caches]


def compare_runs(a_root: Path, b_root: Path) -> tuple[Counter, Counter, list[str]]:
    """(files compared per kind, differences per kind, what differs)."""
    a_files, b_files = outputs(a_root), outputs(b_root)
    compared, differ, problems = Counter(), Counter(), []
    for rel in sorted(a_files ^ b_files):
        differ["only in one run"] += 1
        problems.append(f"{rel}: only in the {'reference' if rel in a_files else 'chaos'} run")
    for rel in sorted(a_files & b_files):
        kind, same = compare_file(rel, a_root, b_root)
        compared[kind] += 1
        if not same:
            differ[kind] += 1
            problems.append(f"{rel}: {kind} differs")
    return compared, differ, problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=15, help="draws the kill plan and the moments of the kills")
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs, shared among stages 0-8")
    parser.add_argument("--work", type=Path, default=Path("/tmp/asrt-chaos"),
                        help="where the two runs go (emptied first: reference/, chaos/)")
    parser.add_argument("--config", default="conf/ci.yaml", help="the recipe config, relative to egs/mini_cmn")
    parser.add_argument("--reference", type=Path,
                        help="a finished reference run of this script (its --work/reference) to compare with "
                             "instead of running one")
    parser.add_argument("--compare-only", action="store_true",
                        help="run nothing: compare the finished reference/ and chaos/ runs in --work again")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    chaos = Run(args.work / "chaos", args.config)
    if args.compare_only:
        args.reference = args.reference or args.work / "reference"
    if args.reference:
        reference = Run(args.reference, args.config)
        timing = json.loads((args.reference / "timing.json").read_text())
        durations, reference_wall = {int(s): d for s, d in timing["durations"].items()}, timing["wall"]
    else:
        reference = Run(args.work / "reference", args.config)
        shutil.rmtree(reference.root, ignore_errors=True)
        print("reference run (uninterrupted) ...", file=sys.stderr)
        durations, reference_wall = run_reference(reference)
        (reference.root / "timing.json").write_text(json.dumps({"durations": durations, "wall": reference_wall}))
    record = chaos.root / "kills.json"
    if args.compare_only:
        kills = json.loads(record.read_text())
        landed = Counter({int(s): n for s, n in kills["landed"].items()})
        chaos_wall, attempts = kills["wall"], kills["attempts"]
    else:
        shutil.rmtree(chaos.root, ignore_errors=True)
        plan = plan_kills(args.kills, durations, rng)
        print(f"chaos run: kills planned in stages {plan}", file=sys.stderr)
        landed, chaos_wall = run_chaos(chaos, plan, durations, rng)
        attempts = len(list((chaos.root / "logs").glob("*.log")))
        record.write_text(json.dumps({"landed": landed, "wall": chaos_wall, "attempts": attempts}))
    compared, differ, problems = compare_runs(reference.root, chaos.root)
    caches = {p.name for p in (reference.root / "tmp").iterdir()}
    left = temporaries(chaos.root, caches) + temporaries(reference.root, caches)
    for problem in problems + [f"temporary left: {p}" for p in left]:
        print(problem, file=sys.stderr)

    print(f"Seed {args.seed}, {sum(landed.values())} SIGKILLs, config {args.config}\n")
    print(markdown_table(["stage", *map(str, STAGES), "total"],
                         [["reference duration (s)", *(f"{durations.get(s, 0):.0f}" for s in STAGES),
                           f"{reference_wall:.0f}"],
                          ["SIGKILLs landed", *(str(landed[s]) for s in STAGES), str(sum(landed.values()))]]))
    print()
    rows = [[kind, str(n), str(differ[kind])] for kind, n in sorted(compared.items())]
    rows += [["only in one run", "-", str(differ["only in one run"])],
             ["temporaries left (chaos run, reference run)", "-", str(len(left))]]
    print(markdown_table(["files compared by content", "files", "differences"], rows))
    print(f"\nWall time: reference {reference_wall / 60:.1f} min; chaos run {chaos_wall / 60:.1f} min "
          f"({attempts} attempts)")
    if problems or left:
        sys.exit(1)


if __name__ == "__main__":
    run_benchmark(main, "chaos_pipeline")
