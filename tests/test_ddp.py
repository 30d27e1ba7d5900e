"""Distributed training (asrt/train/trainer.py): two gloo processes on the CPU keep identical parameters, learn,
and resume exactly from a checkpoint; gradient accumulation, checkpoint averaging and the AMP setting."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ROOT, free_port

import asrt.models.checkpoint as C
import asrt.train.trainer as T
from asrt.config import load_config
from asrt.models import build_model

TOKENS = ["a1", "ba2", "ci3", "de4", "e5", "fu1", "ge2", "hu3"]
NUM_FEATURES = 20
FRAMES_PER_TOKEN = 16


def write_corpus(out: Path, num_train: int = 48, num_dev: int = 8) -> tuple[Path, Path, Path]:
    """Synthetic features in which each token is a burst of its own bins: train and dev cuts, a lang dir."""
    from lhotse import CutSet, MonoCut, SupervisionSegment
    from lhotse.features import Features
    from lhotse.features.io import LilcomChunkyWriter

    rng = np.random.default_rng(0)
    out.mkdir(parents=True, exist_ok=True)
    lang = out / "lang"
    lang.mkdir()
    (lang / "tokens.txt").write_text("".join(f"{t} {i}\n" for i, t in enumerate(["<blk>", *TOKENS])))
    paths = []
    with LilcomChunkyWriter(out / "feats") as writer:
        for split, n in (("train", num_train), ("dev", num_dev)):
            cuts = []
            for i in range(n):
                ids = rng.integers(0, len(TOKENS), size=rng.integers(2, 4))
                frames = [rng.normal(0, 0.3, (4, NUM_FEATURES))]
                for t in ids:
                    f = rng.normal(0, 0.3, (FRAMES_PER_TOKEN, NUM_FEATURES))
                    f[:, 2 * t: 2 * t + 3] += 3.0
                    frames += [f, rng.normal(0, 0.3, (4, NUM_FEATURES))]
                feats = np.concatenate(frames).astype(np.float32)
                cut_id = f"{split}-{i:03d}"
                duration = feats.shape[0] * 0.01
                features = Features(type="synthetic", num_frames=feats.shape[0], num_features=NUM_FEATURES,
                                    frame_shift=0.01, sampling_rate=16000, start=0.0, duration=duration,
                                    storage_type=writer.name, storage_path=str(writer.storage_path),
                                    storage_key=writer.write(cut_id, feats))
                sup = SupervisionSegment(cut_id, cut_id, 0.0, duration, text="".join(TOKENS[t] for t in ids),
                                         custom={"pinyin": " ".join(TOKENS[t] for t in ids)})
                cuts.append(MonoCut(cut_id, 0.0, duration, 0, features=features, supervisions=[sup]))
            path = out / f"cuts_{split}.jsonl.gz"
            CutSet.from_cuts(cuts).to_file(path)
            paths.append(path)
    return paths[0], paths[1], lang


def tiny_config(**train) -> dict:
    """The default config with a tiny tdnn (dropout and SpecAugment on, to exercise the random states)."""
    config = load_config()
    config["model"] = {"name": "tdnn", "channels": 32, "num_layers": 2, "kernel_size": 3, "dropout": 0.1,
                       "frontend": "conv1d"}
    config["train"].update({"device": "cpu", "num_threads": 2, "epochs": 3, "max_duration": 3.0, "num_buckets": 2,
                            "lr": 0.005, "warmup_steps": 2, "checkpoint_every_steps": 3, "keep_checkpoints": 100,
                            "num_workers": 0, "spec_augment": {"time_warp_factor": 0, "num_feature_masks": 1,
                                                               "features_mask_size": 3, "num_frame_masks": 1,
                                                               "frames_mask_size": 5, "p": 1.0}})
    config["train"].update(train)
    return config


class Interrupted(Exception):
    """Raised in rank 0 right after it wrote a given checkpoint, as a crash would interrupt training."""


def _worker(rank: int, world: int, port: int, args: tuple, dump_dir: str | None, stop_at: str | None) -> None:
    """One DDP process of :func:`spawn_training`: torchrun's environment, then ``asrt.train.trainer.train``."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_WORLD_SIZE=str(world))
    import asrt.train.trainer as train_module

    if dump_dir:  # every replica's parameters whenever training compares them
        check, calls = train_module.check_replicas, []

        def spy(model, w):
            calls.append(1)
            torch.save({k: v.clone() for k, v in model.named_parameters()}, Path(dump_dir) / f"r{rank}-{len(calls)}.pt")
            check(model, w)
        train_module.check_replicas = spy
    if stop_at and rank == 0:
        save = train_module.save_atomic

        def save_then_crash(obj, path):
            save(obj, path)
            if Path(path).name == stop_at:
                raise Interrupted(stop_at)
        train_module.save_atomic = save_then_crash
    train_module.train(*args)


def spawn_training(args: tuple, dump_dir: Path | None = None, stop_at: str | None = None) -> None:
    """Train with two gloo processes (torch.multiprocessing), as torchrun would start them."""
    torch.multiprocessing.spawn(_worker, args=(2, free_port(), args, str(dump_dir) if dump_dir else None, stop_at),
                                nprocs=2, join=True)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, Path, Path]:
    return write_corpus(tmp_path_factory.mktemp("ddp_corpus"))


@pytest.fixture(scope="module")
def ddp_run(corpus, tmp_path_factory) -> tuple[Path, Path]:
    """An uninterrupted two-process run: its experiment dir and the replicas' parameter dumps."""
    train_cuts, dev_cuts, lang = corpus
    exp, dumps = tmp_path_factory.mktemp("ddp_exp"), tmp_path_factory.mktemp("ddp_dumps")
    spawn_training((train_cuts, dev_cuts, lang, exp, tiny_config()), dump_dir=dumps)
    return exp, dumps


def test_replicas_stay_identical_and_learn(ddp_run) -> None:
    exp, dumps = ddp_run
    assert (exp / "model.pt").exists()
    for epoch in (1, 2, 3):
        r0, r1 = torch.load(dumps / f"r0-{epoch}.pt"), torch.load(dumps / f"r1-{epoch}.pt")
        assert r0.keys() == r1.keys()
        assert all(torch.equal(r0[k], r1[k]) for k in r0), f"replicas differ after epoch {epoch}"
    losses = [torch.load(exp / f"epoch-{e}.pt", weights_only=False)["train_loss"] for e in (1, 2, 3)]
    assert losses[2] < losses[0] * 0.8, losses
    ckpt = torch.load(exp / "checkpoints" / "step-3.pt", weights_only=False)
    assert ckpt["position"]["world_size"] == 2 and len(ckpt["rng"]) == 2


def test_interrupted_ddp_run_resumes_exactly_under_torchrun(corpus, ddp_run, tmp_path) -> None:
    train_cuts, dev_cuts, lang = corpus
    # Interrupt a new run right after its first checkpoint in the middle of epoch 2.
    positions = {p.name: torch.load(p, weights_only=False)["position"]
                 for p in (ddp_run[0] / "checkpoints").glob("step-*.pt")}
    stop_at = min((name for name, pos in positions.items() if pos["epoch"] == 2 and pos["batches"] > 0),
                  key=lambda name: int(name[5:-3]))
    exp = tmp_path / "exp"
    with pytest.raises(Exception, match="Interrupted"):
        spawn_training((train_cuts, dev_cuts, lang, exp, tiny_config()), stop_at=stop_at)
    assert not (exp / "model.pt").exists()
    # Resume with the real launcher and the command line, loading features in a DataLoader worker.
    config = tmp_path / "config.yaml"
    import yaml

    cfg = tiny_config(num_workers=1)
    config.write_text(yaml.safe_dump({"model": cfg["model"], "train": cfg["train"]}))
    torchrun = Path(sys.executable).with_name("torchrun")
    proc = subprocess.run([str(torchrun), "--standalone", "--nproc-per-node", "2", "-m", "asrt.cli", "train",
                           "--train-cuts", str(train_cuts), "--dev-cuts", str(dev_cuts), "--lang-dir", str(lang),
                           "--exp-dir", str(exp), "--config", str(config), "--resume"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "Resuming from" in proc.stderr and stop_at in proc.stderr
    resumed = torch.load(exp / "model.pt", weights_only=False)["model"]
    uninterrupted = torch.load(ddp_run[0] / "model.pt", weights_only=False)["model"]
    assert all(torch.equal(resumed[k], uninterrupted[k]) for k in uninterrupted)
    assert epoch_files(exp) == epoch_files(ddp_run[0])  # epoch 2's train loss included


def epoch_files(exp: Path) -> dict[str, dict]:
    """Every ``epoch-<E>.pt`` of ``exp``: its plain numbers, and its weights as lists (comparable with ==)."""
    out = {}
    for path in sorted(exp.glob("epoch-*.pt")):
        state = torch.load(path, weights_only=True)
        out[path.name] = {**state, "model": {k: v.tolist() for k, v in state["model"].items()}}
    return out


def test_an_epoch_resumed_after_a_kill_reports_the_loss_of_the_whole_epoch(corpus, tmp_path, monkeypatch) -> None:
    """The running epoch's loss totals are in every checkpoint: the epoch files of a run interrupted in the
    middle of an epoch and resumed equal an uninterrupted run's, train loss included."""
    T.train(*corpus, tmp_path / "full", tiny_config(epochs=2))
    positions = {p.name: torch.load(p, weights_only=False)["position"]
                 for p in (tmp_path / "full" / "checkpoints").glob("step-*.pt")}
    stop_at = min((name for name, pos in positions.items() if pos["epoch"] == 2 and pos["batches"] > 0),
                  key=lambda name: int(name[5:-3]))
    save = T.save_atomic

    def save_then_crash(obj, path):
        save(obj, path)
        if Path(path).name == stop_at:
            raise Interrupted(path)
    monkeypatch.setattr(T, "save_atomic", save_then_crash)
    with pytest.raises(Interrupted):
        T.train(*corpus, tmp_path / "exp", tiny_config(epochs=2))
    monkeypatch.undo()
    T.train(*corpus, tmp_path / "exp", tiny_config(epochs=2))
    resumed, uninterrupted = epoch_files(tmp_path / "exp"), epoch_files(tmp_path / "full")
    assert {n: e["train_loss"] for n, e in resumed.items()} == {n: e["train_loss"] for n, e in uninterrupted.items()}
    assert resumed == uninterrupted


def test_loss_totals_from_another_world_size_go_to_rank_0() -> None:
    totals = [(10.0, 4), (6.0, 3)]
    assert T.resume_totals(totals, T.World(1, 1, 2, 2)) == (6.0, 3)
    assert T.resume_totals(totals, T.World()) == (16.0, 7)
    assert T.resume_totals(totals[:1], T.World(1, 1, 2, 2)) == (0.0, 0)
    assert T.resume_totals(totals[:1], T.World(0, 0, 2, 2)) == (10.0, 4)


def _batch(lengths: list[int], seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    n, t = len(lengths), 64
    targets = [torch.randint(1, len(TOKENS) + 1, (k,), generator=g) for k in lengths]
    return {"feats": torch.randn(n, t, NUM_FEATURES, generator=g), "feat_lens": torch.full((n,), t),
            "targets": torch.cat(targets), "target_lens": torch.tensor(lengths), "cut_ids": [f"u{i}" for i in range(n)]}


def _split(batch: dict, k: int) -> tuple[dict, dict]:
    cut = int(batch["target_lens"][:k].sum())
    first = {"feats": batch["feats"][:k], "feat_lens": batch["feat_lens"][:k], "targets": batch["targets"][:cut],
             "target_lens": batch["target_lens"][:k], "cut_ids": batch["cut_ids"][:k]}
    second = {"feats": batch["feats"][k:], "feat_lens": batch["feat_lens"][k:], "targets": batch["targets"][cut:],
              "target_lens": batch["target_lens"][k:], "cut_ids": batch["cut_ids"][k:]}
    return first, second


@pytest.mark.parametrize("k", [2, 1])  # two equal halves, and a 1 + 3 split
def test_accumulated_halves_give_the_full_batch_gradient(k: int) -> None:
    torch.manual_seed(0)
    model = build_model("tdnn", num_features=NUM_FEATURES, vocab_size=len(TOKENS) + 1, channels=32, num_layers=2,
                        kernel_size=3, dropout=0.0, frontend="conv1d")
    model.eval()  # batch-norm statistics are per batch, which no accumulation reproduces
    full = _batch([3, 2, 4, 3], seed=1)
    device = torch.device("cpu")

    def grads(batches):
        model.zero_grad()
        loss, n = T.accumulate_gradients(model, batches, device)
        return loss, n, {name: p.grad.clone() for name, p in model.named_parameters()}

    loss_full, n_full, g_full = grads([full])
    loss_acc, n_acc, g_acc = grads(list(_split(full, k)))
    assert n_full == n_acc == 4 and loss_acc == pytest.approx(loss_full, rel=1e-5)
    for name in g_full:
        torch.testing.assert_close(g_acc[name], g_full[name], rtol=1e-4, atol=1e-6, msg=name)


def _save_model_file(path: Path, model, epoch: int) -> dict:
    state = {"model_config": {"name": "tdnn", "channels": 32, "num_layers": 2, "kernel_size": 3, "dropout": 0.0,
                              "frontend": "conv1d"},
             "num_features": NUM_FEATURES, "vocab_size": len(TOKENS) + 1, "epoch": epoch, "step": 10 * epoch,
             "model": {k: v.clone() for k, v in model.state_dict().items()}}
    C.save_atomic(state, path)
    return state["model"]


def test_checkpoint_averaging_and_the_decoding_model(tmp_path: Path) -> None:
    model = build_model("tdnn", num_features=NUM_FEATURES, vocab_size=len(TOKENS) + 1, channels=32, num_layers=2,
                        kernel_size=3, dropout=0.0, frontend="conv1d")
    weights = []
    for epoch in (1, 2, 3):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
            for name, b in model.named_buffers():
                if name.endswith("num_batches_tracked"):
                    b.fill_(epoch * 7)
        weights.append(_save_model_file(tmp_path / f"epoch-{epoch}.pt", model, epoch))
    _save_model_file(tmp_path / "model.pt", model, 3)

    assert C.decoding_model(tmp_path, 1) == tmp_path / "model.pt"
    path = C.decoding_model(tmp_path, 2)
    assert path == tmp_path / "model-avg2.pt"
    avg = torch.load(path, weights_only=False)
    assert avg["averaged"] == ["epoch-2.pt", "epoch-3.pt"] and avg["epoch"] == 3
    for name, value in avg["model"].items():
        if value.is_floating_point():
            torch.testing.assert_close(value, (weights[1][name] + weights[2][name]) / 2)
        else:
            assert torch.equal(value, weights[2][name]), name  # integer buffers: the last epoch's
    loaded, _ = C.load_model(path)  # a model file like any other
    assert loaded.encoder is not None
    mtime = path.stat().st_mtime_ns
    assert C.decoding_model(tmp_path, 2) == path and path.stat().st_mtime_ns == mtime  # up to date: kept
    with pytest.raises(ValueError, match="3 epochs"):
        C.decoding_model(tmp_path, 4)
    (tmp_path / "epoch-1.pt").unlink()
    with pytest.raises(FileNotFoundError, match="epoch-1.pt"):
        C.decoding_model(tmp_path, 3)


def test_amp_setting() -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert T.amp_dtype("auto", cpu) is None and T.amp_dtype("none", cuda) is None and T.amp_dtype(None, cpu) is None
    assert T.amp_dtype("bf16", cpu) == torch.bfloat16 and T.amp_dtype("fp16", cuda) == torch.float16
    with pytest.raises(ValueError, match="CUDA"):
        T.amp_dtype("fp16", cpu)
    with pytest.raises(ValueError, match="auto, bf16, fp16 or none"):
        T.amp_dtype("fp8", cpu)
