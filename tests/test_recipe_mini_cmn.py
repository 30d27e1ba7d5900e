"""The whole mini_cmn recipe on its CI config: every stage for real, resume after a kill, idempotent
reruns, and ``asrt recognize`` on the packaged model.

The tests share one recipe run (the session fixture ``work`` of conftest.py) and run in file order.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from conftest import RECIPE, run_recipe

from asrt.audio import load_audio
from asrt.decode.results import RESULTS_HEADER
from asrt.names import SAMPLE_RATE, cuts_path

SPLITS = ("train", "dev", "test")


def tree_digest(*dirs: Path) -> dict[str, str]:
    """sha256 of every file under ``dirs`` (markers and tensorboard logs excluded)."""
    out = {}
    for d in dirs:
        for p in sorted(d.rglob("*")):
            if p.is_file() and "tensorboard" not in p.parts:
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def test_data_stages(work: Path) -> None:
    data = work / "data"
    for split in ("train", "dev", "test"):
        assert (data / "fbank" / f"mini_cmn_cuts_{split}.jsonl.gz").exists()
    tokens = (data / "lang" / "tokens.txt").read_text().splitlines()
    assert tokens[0] == "<blk> 0" and "lv4" in {t.split()[0] for t in tokens}
    assert (data / "lang" / "HLG.fst").stat().st_size > 0
    assert (data / "lm_word" / "lm.arpa").read_text().startswith("\\data\\")


def recipe_cmd(work: Path, *args: str) -> list[str]:
    """run.sh on the CI config with all outputs under ``work`` (as conftest.run_recipe runs it)."""
    return ["bash", str(RECIPE / "run.sh"), "--config", "conf/ci.yaml", "--data-dir", str(work / "data"),
            "--exp-dir", str(work / "exp"), "--results", str(work / "RESULTS.md"), *args]


def test_deleting_a_marker_redoes_its_stage(work: Path) -> None:
    """The markers are the one record of a finished stage: without stage 3's and 4's, those stages run
    again from scratch (and, being deterministic, write what they wrote before)."""
    data = work / "data"
    markers = {3: data / ".done" / "stage3", 4: data / "lm_word" / ".done" / "stage4"}  # stage 4's: its LM's
    outputs = [cuts_path(data / "fbank", "mini_cmn", s) for s in SPLITS] + [data / "lm_word" / "lm.arpa"]
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in outputs}
    for marker in markers.values():
        marker.unlink()
    proc = run_recipe(work, "--stage", "3", "--stop-stage", "4")
    assert "Stage 3: fbank features" in proc.stderr and "Stage 4: KenLM" in proc.stderr
    assert "done before" not in proc.stderr and "resuming" not in proc.stderr, proc.stderr[-3000:]
    for marker in markers.values():
        assert marker.exists() and not marker.with_name(marker.name + ".started").exists()
    for path, (mtime, content) in before.items():
        assert path.stat().st_mtime_ns != mtime, f"{path} was not written again"
        unzip = gzip.decompress if path.suffix == ".gz" else bytes  # gzip headers hold the time
        assert unzip(path.read_bytes()) == unzip(content), path
    redone = {p: p.stat().st_mtime_ns for p in outputs}
    again = run_recipe(work, "--stage", "3", "--stop-stage", "4")  # markers back: nothing to do
    assert again.stderr.count("done before") == 2
    assert {p: p.stat().st_mtime_ns for p in outputs} == redone


def test_killed_stage_resumes_what_it_left(work: Path) -> None:
    """Stage 3 run afresh removes the earlier run's cuts first; killed after a split, it leaves
    .done/stage3.started, and its next run gets --resume and keeps the splits it finished."""
    data, done = work / "data", work / "data" / ".done"
    cuts = {s: cuts_path(data / "fbank", "mini_cmn", s) for s in SPLITS}
    (done / "stage3").unlink()
    proc = subprocess.Popen(recipe_cmd(work, "--stage", "3", "--stop-stage", "3"), cwd=RECIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    assert wait_for(lambda: (done / "stage3.started").exists(), proc)
    assert wait_for(lambda: not cuts["test"].exists(), proc)  # the earlier run's cuts are gone
    assert wait_for(lambda: cuts["train"].exists(), proc)  # the first split is finished
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (done / "stage3.started").exists() and not (done / "stage3").exists()
    finished = {s: p.stat().st_mtime_ns for s, p in cuts.items() if p.exists()}
    resumed = run_recipe(work, "--stage", "3", "--stop-stage", "3")
    assert "Stage 3: fbank features" in resumed.stderr and "resuming its unfinished run" in resumed.stderr
    assert (done / "stage3").exists() and not (done / "stage3.started").exists()
    assert all(p.exists() for p in cuts.values())
    assert {s: cuts[s].stat().st_mtime_ns for s in finished} == finished  # kept, not computed again


def wait_for(condition, proc: subprocess.Popen, timeout: float = 600) -> bool:
    """Poll ``condition`` until it holds; fail if ``proc`` ends first or ``timeout`` passes."""
    deadline = time.time() + timeout
    while not condition():
        assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
        assert time.time() < deadline, "timed out"
        time.sleep(0.05)
    return True


def test_training_resumes_after_kill(work: Path) -> None:
    # Its own experiment directory: the shared one may hold a finished model already (the `model_dir`
    # fixture trains it when a test of another file needs it first).
    exp = work / "exp_resume"
    cmd = ["bash", str(RECIPE / "run.sh"), "--config", "conf/ci.yaml", "--data-dir", str(work / "data"),
           "--exp-dir", str(exp), "--stage", "6", "--stop-stage", "6"]
    proc = subprocess.Popen(cmd, cwd=RECIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.time() + 600
    while not list((exp / "checkpoints").glob("step-*.pt")):
        assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
        assert time.time() < deadline, "no checkpoint within 10 minutes"
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)  # kill the whole stage mid-epoch, as a crash would
    proc.wait()
    assert not (exp / "model.pt").exists()
    done = run_recipe(work, "--stage", "6", "--stop-stage", "6", "--exp-dir", str(exp))
    assert "Resuming from" in done.stderr
    assert (exp / "model.pt").exists()


def test_decode_score_package(work: Path) -> None:
    run_recipe(work, "--stage", "6")  # trains unless stage 6 is done (the `model_dir` fixture may have run it)
    summary = json.loads((work / "exp" / "decode" / "summary.json").read_text())
    # Chance PER over ~1800 tonal syllables is ~100 %; a model that learned anything is far below.
    assert summary["dev"]["per"] < 70, summary
    assert summary["test"]["cer"] <= 100, summary
    row = (work / "RESULTS.md").read_text().split(RESULTS_HEADER)[-1].splitlines()[0]
    assert row.startswith("| ") and "| ci.yaml | tdnn |" in row
    for name in ("model.pt", "tokens.txt", "words.txt", "lexicon.txt", "HLG.fst", "metadata.json", "config.yaml"):
        assert (work / "exp" / "model" / name).exists(), name
    assert (work / "exp" / "decode" / "test" / "hlg_char.errs.txt").exists()


def test_rerun_is_fast_and_changes_nothing(work: Path) -> None:
    before = tree_digest(work / "data" / "lang", work / "data" / "manifests", work / "exp" / "model")
    results_before = (work / "RESULTS.md").read_text()
    start = time.time()
    run_recipe(work)
    assert time.time() - start < 60
    assert tree_digest(work / "data" / "lang", work / "data" / "manifests", work / "exp" / "model") == before
    assert (work / "RESULTS.md").read_text() == results_before


def test_recognize_any_format_and_length(work: Path, tmp_path: Path) -> None:
    corpus = work / "data" / "local" / "mini_cmn"
    rows = [r.split("\t") for r in (corpus / "test.tsv").read_text().splitlines()[1:]]
    # v2 corpus files come at several rates and channel counts: read them as the models hear them
    rate = SAMPLE_RATE
    audio = load_audio(corpus / rows[0][2])
    # 8 kHz stereo 16-bit WAV of a test utterance.
    stereo8k = tmp_path / "stereo8k.wav"
    sf.write(stereo8k, np.stack([audio[::2], audio[::2]], axis=1), 8000, subtype="PCM_16")
    # About 60 s: test utterances joined with short pauses.
    pieces, total = [], 0.0
    for row in rows:
        a = load_audio(corpus / row[2])
        pieces += [a, np.zeros(rate // 2, dtype=np.float32)]
        total += len(a) / rate + 0.5
        if total >= 60:
            break
    long_wav = tmp_path / "long.flac"
    sf.write(long_wav, np.concatenate(pieces), rate)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all")
    cmd = [sys.executable, "-m", "asrt.cli", "recognize", "--model-dir", str(work / "exp" / "model"),
           str(stereo8k), str(tmp_path / "missing.wav"), str(bad), str(long_wav)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if "error" in line]
    assert len(errors) == 2 and "missing.wav" in errors[0] and "bad.wav" in errors[1], proc.stderr
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["file"] for r in results] == [str(stereo8k), str(long_wav)]
    assert abs(results[0]["duration"] - len(audio) / rate) < 0.05
    assert results[1]["duration"] >= 60
    assert all(set(r) == {"file", "pinyin", "text", "duration"} for r in results)
    # The long input is recognised throughout, not just its first piece.
    assert len(results[1]["pinyin"]) > 0.5 * sum(len(r[4].split()) for r in rows[: len(pieces) // 2])


def test_pinyin_to_text(work: Path) -> None:
    cmd = [sys.executable, "-m", "asrt.cli", "p2h", "--model-dir", str(work / "exp" / "model"),
           "zhong1", "guo2", "ren2", "min2"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "中国人民"
    bad = subprocess.run(cmd[:-4] + ["xx9"], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1 and "xx9" in bad.stderr
    lines = subprocess.run(cmd[:-4], input="ni3 hao3\nzhong1 guo2\n", capture_output=True, text=True, timeout=300)
    assert lines.returncode == 0 and lines.stdout.splitlines() == ["你好", "中国"], lines.stderr


def test_p2h_eval_on_the_test_text(work: Path, tmp_path: Path) -> None:
    rows = (work / "data" / "local" / "mini_cmn" / "test.tsv").read_text(encoding="utf-8").splitlines()[1:]
    table = tmp_path / "test.tsv"
    table.write_text("".join(f"{r.split(chr(9))[0]}\t{r.split(chr(9))[3]}\t{r.split(chr(9))[4]}\n" for r in rows),
                     encoding="utf-8")
    cmd = [sys.executable, "-m", "asrt.cli", "p2h", "--model-dir", str(work / "exp" / "model"), "--eval", str(table)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    match = re.fullmatch(rf"{re.escape(str(table))}: (\d+) sentences, CER ([\d.]+), sentence accuracy ([\d.]+) %, "
                         r"([\d.]+) ms per sentence", proc.stdout.strip())
    assert match and int(match[1]) == len(rows), proc.stdout
    assert float(match[2]) < 20 and float(match[3]) > 30  # gold pinyin through the CI recipe's word LM
    table.write_text("u1\t你好\tni3\n", encoding="utf-8")
    bad = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1 and "one syllable per character" in bad.stderr
