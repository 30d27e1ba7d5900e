"""Stage 6: CTC acoustic-model training on one device or many, with checkpoints that make any
interruption resumable.

One code path: a single process is world size 1. Under ``torchrun`` every process trains a
DistributedDataParallel replica (NCCL on GPUs, gloo on CPU) on its share of each epoch (lhotse's
DynamicBucketingSampler with world_size/rank), and each optimiser step sees the global batch: world size x
``train.accum_grad`` sampler batches, the loss normalised by their total number of utterances, so the
gradient is that of one big batch. ``train.amp`` runs the forward pass in bf16 or fp16 (with a GradScaler)
on CUDA; ``train.num_workers`` DataLoader processes load and collate the features.

Layout of ``exp_dir``: ``checkpoints/step-<N>.pt`` (periodic and at each epoch's end, the newest few
kept), ``epoch-<E>.pt`` (weights after each epoch, with its train and dev loss), ``model.pt`` (the final
model: the stage's done marker) and ``tensorboard/``. Rerunning after a kill resumes from the newest
checkpoint, mid-epoch included: the optimiser, scheduler, loss scaler, every rank's random states and the
sampler position (epoch and batches done) are restored, and each batch's SpecAugment masks depend only on
(seed, epoch, rank, batch index), so a resumed run trains on the batches and masks an uninterrupted one
would have, with or without DataLoader workers. Only rank 0 writes; with several nodes, ``exp_dir`` must be
on a file system that every node sees. ``decoding_model`` averages the last ``decode.avg`` epochs' weights
for stages 7 and 8.
"""
from __future__ import annotations

import contextlib
import logging
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from asrt.data import CtcDataset, TokenTable
from asrt.decoding import ctc_greedy
from asrt.fileio import atomic_path
from asrt.mixing import mix_cut_sets
from asrt.models import CtcModel, build_model
from asrt.scoring import ErrorCounts, edit_counts


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` means CUDA when present, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def save_atomic(obj, path: Path) -> None:
    """torch.save to a temporary file, then rename: a killed save never leaves a truncated checkpoint."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_model(path: Path, device: torch.device | str = "cpu") -> tuple[CtcModel, dict]:
    """Load a model file written by training (``model.pt``/``epoch-N.pt``); return (model, its config)."""
    state = torch.load(path, map_location=device, weights_only=False)
    cfg = state["model_config"]
    model = build_model(num_features=state["num_features"], vocab_size=state["vocab_size"], **cfg)
    model.load_state_dict(state["model"])
    return model.to(device).eval(), state


def feature_stats(cuts, max_cuts: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-bin mean and standard deviation of the features of (up to ``max_cuts``) training cuts."""
    total, total_sq, frames = 0.0, 0.0, 0
    for i, cut in enumerate(cuts):
        if i >= max_cuts:
            break
        f = torch.from_numpy(cut.load_features()).double()
        total = total + f.sum(0)
        total_sq = total_sq + (f**2).sum(0)
        frames += f.shape[0]
    mean = total / frames
    return mean.float(), (total_sq / frames - mean**2).clamp(min=0).sqrt().float()


def lr_factor(step: int, warmup_steps: int, total_steps: int, final_fraction: float = 0.02) -> float:
    """Linear warm-up, then cosine decay to ``final_fraction`` of the peak at ``total_steps``."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * progress))


def ctc_loss(model: CtcModel, batch: dict, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Summed CTC loss of a batch, and the model's log-probs and output lengths (CTC in float32 under AMP)."""
    log_probs, out_lens = model(batch["feats"].to(device), batch["feat_lens"].to(device))
    log_probs = log_probs.float()
    loss = torch.nn.functional.ctc_loss(
        log_probs.transpose(0, 1), batch["targets"].to(device), out_lens, batch["target_lens"].to(device),
        blank=0, reduction="sum", zero_infinity=True)
    return loss, log_probs, out_lens


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (torchrun's RANK, LOCAL_RANK, WORLD_SIZE)."""

    rank: int = 0
    local_rank: int = 0
    size: int = 1
    local_size: int = 1

    @property
    def main(self) -> bool:
        """Rank 0 logs, writes checkpoints and models."""
        return self.rank == 0

    @classmethod
    def from_env(cls) -> "World":
        """The world torchrun describes in the environment; one process without it."""
        env = os.environ
        size = int(env.get("WORLD_SIZE", "1"))
        return cls(int(env.get("RANK", "0")), int(env.get("LOCAL_RANK", "0")), size,
                   int(env.get("LOCAL_WORLD_SIZE", str(size))))

    def all_reduce(self, values: list[float], device: torch.device) -> list[float]:
        """Element-wise sums over every rank (the values themselves in a single process)."""
        if self.size == 1:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64, device=device)
        dist.all_reduce(t)
        return t.tolist()

    def gather(self, obj) -> list:
        """Every rank's ``obj``, in rank order."""
        if self.size == 1:
            return [obj]
        out = [None] * self.size
        dist.all_gather_object(out, obj)
        return out

    def broadcast(self, obj):
        """Rank 0's ``obj`` on every rank."""
        if self.size == 1:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        """Wait until every rank gets here."""
        if self.size > 1:
            dist.barrier()


def init_distributed(device_name: str = "auto") -> tuple[World, torch.device, bool]:
    """The world, this process's device (``cuda:LOCAL_RANK`` under torchrun), and whether this call
    started the process group (NCCL for CUDA, gloo for CPU) that the caller must destroy."""
    world = World.from_env()
    device = pick_device(device_name)
    if device.type == "cuda":
        if world.size > 1 or device.index is None:
            device = torch.device("cuda", world.local_rank if world.size > 1 else torch.cuda.current_device())
        torch.cuda.set_device(device)
    started = False
    if world.size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=world.rank, world_size=world.size)
        started = True
    return world, device, started


def amp_dtype(setting, device: torch.device) -> torch.dtype | None:
    """The autocast dtype ``train.amp`` asks for: ``auto`` (bf16 on CUDA where supported, else fp16; none on
    CPU), ``bf16``, ``fp16`` (CUDA only) or ``none``."""
    name = "none" if setting in (None, False) else str(setting).lower()
    if name == "auto":
        if device.type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if name in ("none", "off", "false", "fp32"):
        return None
    if name == "bf16":
        return torch.bfloat16
    if name == "fp16":
        if device.type != "cuda":
            raise ValueError("train.amp: fp16 needs a CUDA device; use bf16 or none on the CPU")
        return torch.float16
    raise ValueError(f"train.amp must be auto, bf16, fp16 or none, not {setting!r}")


def num_loader_workers(setting, device: torch.device, world: World) -> int:
    """``train.num_workers``: a number, or ``auto``: none on the CPU (the training threads use the cores),
    on CUDA up to 8 per process, one core per process left to the training loop."""
    if setting is None or str(setting).lower() == "auto":
        if device.type != "cuda":
            return 0
        cores = len(os.sched_getaffinity(0)) // max(1, world.local_size)
        return max(1, min(8, cores - 1))
    n = int(setting)
    if n < 0:
        raise ValueError(f"train.num_workers must be 0 or more (or auto), not {setting!r}")
    return n


class SeededBatches(torch.utils.data.Sampler):
    """An epoch of a lhotse sampler's batches, from the ``skip``-th on, each paired with a random seed that
    depends only on (seed, epoch, rank, batch index).

    Skipping the batches a checkpoint has trained on walks the cut manifests only (no features are read);
    the seed makes a batch's augmentation the same whichever DataLoader worker builds it.
    """

    def __init__(self, sampler, seed: int, rank: int = 0) -> None:
        self.sampler, self.seed, self.rank = sampler, seed, rank
        self.epoch, self.skip = 0, 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        """Start the next iteration at batch ``skip`` of ``epoch``."""
        self.epoch, self.skip = epoch, skip
        self.sampler.set_epoch(epoch)

    def __iter__(self):
        skip, self.skip = self.skip, 0
        for i, cuts in enumerate(self.sampler):
            if i >= skip:
                seed = np.random.SeedSequence([self.seed, self.epoch, self.rank, i]).generate_state(1)[0]
                yield int(seed), cuts


class SeededDataset(torch.utils.data.Dataset):
    """``dataset[cuts]`` for a ``(seed, cuts)`` item of :class:`SeededBatches`, with Python's, NumPy's and
    torch's random generators seeded for it (and restored afterwards)."""

    def __init__(self, dataset: torch.utils.data.Dataset) -> None:
        self.dataset = dataset

    def __getitem__(self, item):
        seed, cuts = item
        py_state, np_state = random.getstate(), np.random.get_state()
        with torch.random.fork_rng(devices=[]):
            random.seed(seed)
            np.random.seed(seed % 2**32)
            torch.manual_seed(seed)
            try:
                return self.dataset[cuts]
            finally:
                random.setstate(py_state)
                np.random.set_state(np_state)


class EveryNth(torch.utils.data.Sampler):
    """The batches ``rank``, ``rank + n``, ... of a sampler: a rank's share of the dev set, none twice."""

    def __init__(self, sampler, rank: int, n: int) -> None:
        self.sampler, self.rank, self.n = sampler, rank, n

    def __iter__(self):
        for i, cuts in enumerate(self.sampler):
            if i % self.n == self.rank:
                yield cuts


@torch.no_grad()
def validate(model: CtcModel, loader, tokens: TokenTable, device: torch.device,
             world: World = World()) -> tuple[float, ErrorCounts]:
    """Dev loss per utterance and greedy pinyin error counts, summed over every rank's share."""
    model.eval()
    total_loss, utts, counts = 0.0, 0, ErrorCounts()
    for batch in loader:
        loss, log_probs, out_lens = ctc_loss(model, batch, device)
        total_loss += loss.item()
        utts += len(batch["cut_ids"])
        offset = 0
        for i, n in enumerate(batch["target_lens"].tolist()):
            ref = tokens.decode(batch["targets"][offset: offset + n].tolist())
            offset += n
            hyp = tokens.decode(ctc_greedy(log_probs[i, : out_lens[i]].cpu()))
            counts = counts + edit_counts(ref, hyp)
    model.train()
    total_loss, utts, *c = world.all_reduce([total_loss, utts, counts.sub, counts.ins, counts.dele, counts.ref_len],
                                            device)
    return total_loss / max(1, utts), ErrorCounts(*map(round, c))


def accumulate_gradients(model: torch.nn.Module, batches: list[dict], device: torch.device, world: World = World(),
                         amp: torch.dtype | None = None, scaler=None) -> tuple[float, int]:
    """Forward and backward over one optimiser step's batches on this rank; return (summed loss, utterances).

    Each loss is divided by the number of utterances in every rank's batches together (and multiplied by the
    world size, which DDP's gradient averaging divides by again), so the accumulated gradient is that of the
    mean loss per utterance of one batch holding them all. DDP synchronises after the last batch only.
    """
    local = sum(len(b["cut_ids"]) for b in batches)
    total = world.all_reduce([local], device)[0]
    loss_sum = 0.0
    for i, batch in enumerate(batches):
        last = i == len(batches) - 1
        sync = contextlib.nullcontext() if last or not isinstance(model, DistributedDataParallel) else model.no_sync()
        with sync:
            with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
                loss, _, _ = ctc_loss(model, batch, device)
            scaled = loss * (world.size / total)
            (scaler.scale(scaled) if scaler is not None else scaled).backward()
        loss_sum += loss.item()
    return loss_sum, local


def parameter_fingerprint(model: torch.nn.Module) -> torch.Tensor:
    """Three float64 numbers per parameter tensor (sum, sum of squares, position-weighted sum): replicas
    with different parameters have different fingerprints, in practice."""
    rows = []
    for p in model.parameters():
        x = p.detach().double().flatten()
        w = torch.linspace(1.0, 2.0, x.numel(), dtype=torch.float64, device=x.device)
        rows.append(torch.stack([x.sum(), (x * x).sum(), (x * w).sum()]))
    return torch.stack(rows).cpu()


def check_replicas(model: torch.nn.Module, world: World) -> None:
    """Raise RuntimeError on every rank if any rank's parameters differ from rank 0's."""
    prints = world.gather(parameter_fingerprint(model))
    differ = [r for r, fp in enumerate(prints) if not torch.equal(fp, prints[0])]
    if differ:
        raise RuntimeError(f"the parameters of rank(s) {differ} differ from rank 0's: the replicas diverged")


def _latest_checkpoint(ckpt_dir: Path) -> Path | None:
    ckpts = sorted(ckpt_dir.glob("step-*.pt"), key=lambda p: int(p.stem.split("-")[1]))
    return ckpts[-1] if ckpts else None


def _rng_state(device: torch.device) -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict, device: torch.device) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def _resume_position(state: dict, world: World) -> tuple[int, int]:
    """(epoch, batches this rank has done in it) of a checkpoint; converted, approximately, when the
    checkpoint comes from another world size."""
    pos = state.get("position")
    if pos is None:  # a checkpoint of the single-process trainer: lhotse's sampler state
        sd = state["sampler"]
        stats = sd["diagnostics"]["stats_per_epoch"].get(sd["epoch"], {})
        pos = {"epoch": sd["epoch"], "batches": stats.get("kept_batches", 0) + stats.get("discarded_batches", 0),
               "world_size": 1}
    batches = pos["batches"]
    if pos["world_size"] != world.size:
        batches = pos["batches"] * pos["world_size"] // world.size
        logging.warning("The checkpoint was written by %d processes, this run has %d: epoch %d goes on after "
                        "about the same number of batches (%d each), not the same batches",
                        pos["world_size"], world.size, pos["epoch"], batches)
    return pos["epoch"], batches


def train(train_cuts: Path | dict[str, Path], dev_cuts: Path | list[Path], lang_dir: Path, exp_dir: Path,
          config: dict) -> Path:
    """Train (or resume training) the configured CTC model; return the path of the final ``model.pt``.

    Several training cut sets ({name: path}) are mixed by ``train.mux_weights`` (asrt/mixing.py);
    several dev cut sets are validated on together. Under torchrun, every process calls this.
    """
    exp_dir = Path(exp_dir)
    final = exp_dir / "model.pt"
    if final.exists():
        logging.info("%s exists: training is finished", final)
        return final
    world, device, started = init_distributed(config["train"].get("device", "auto"))
    try:
        return _train(train_cuts, dev_cuts, lang_dir, exp_dir, config, world, device)
    finally:
        if started:
            dist.destroy_process_group()


def _train(train_cuts, dev_cuts, lang_dir: Path, exp_dir: Path, config: dict, world: World,
           device: torch.device) -> Path:
    from lhotse import combine, load_manifest_lazy
    from lhotse.dataset import DynamicBucketingSampler, SpecAugment

    if not world.main:  # one log and one progress bar: rank 0's
        logging.getLogger().setLevel(logging.WARNING)
    tcfg, mcfg = config["train"], config["model"]
    final = exp_dir / "model.pt"
    ckpt_dir = exp_dir / "checkpoints"
    if world.main:
        exp_dir.mkdir(parents=True, exist_ok=True)
    if device.type == "cpu":
        torch.set_num_threads(max(1, int(tcfg.get("num_threads", 2)) // world.local_size))
    seed = int(tcfg.get("seed", 42))
    random.seed(seed), np.random.seed(seed), torch.manual_seed(seed)

    tokens = TokenTable(Path(lang_dir) / "tokens.txt")
    if isinstance(train_cuts, (str, Path)):
        train_cuts = {"train": Path(train_cuts)}
    cuts = mix_cut_sets(train_cuts, tcfg.get("mux_weights"))
    num_features = next(iter(cuts)).num_features
    model = build_model(num_features=num_features, vocab_size=len(tokens), **mcfg).to(device)
    if world.rank:  # the replicas start from rank 0's weights (DDP), but draw their own dropout masks
        torch.manual_seed(seed + world.rank)
    num_params = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.AdamW(model.parameters(), lr=float(tcfg["lr"]), weight_decay=float(tcfg["weight_decay"]))
    accum = int(tcfg.get("accum_grad", 1))
    if accum < 1:
        raise ValueError(f"train.accum_grad must be 1 or more, not {accum}")
    total_hours = sum(c.duration for c in cuts) / 3600
    steps_per_epoch = max(1, math.ceil(total_hours * 3600 / float(tcfg["max_duration"]) / world.size / accum))
    epochs = int(tcfg["epochs"])
    total_steps = steps_per_epoch * epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, int(tcfg["warmup_steps"]), total_steps))
    amp = amp_dtype(tcfg.get("amp", "auto"), device)
    scaler = torch.amp.GradScaler(device.type) if amp == torch.float16 else None

    sampler = SeededBatches(
        DynamicBucketingSampler(cuts, max_duration=float(tcfg["max_duration"]), shuffle=True,
                                num_buckets=int(tcfg.get("num_buckets", 10)), seed=seed, drop_last=False,
                                world_size=world.size, rank=world.rank),
        seed, world.rank)
    spec_aug = SpecAugment(**tcfg["spec_augment"]) if tcfg.get("spec_augment") else None
    workers = num_loader_workers(tcfg.get("num_workers", "auto"), device, world)
    loader_opts = {"batch_size": None, "num_workers": workers, "pin_memory": device.type == "cuda",
                   # the workers' base seed comes from here, not from the training loop's generator
                   "generator": torch.Generator().manual_seed(seed)}
    loader = torch.utils.data.DataLoader(SeededDataset(CtcDataset(tokens, spec_aug)), sampler=sampler,
                                         persistent_workers=workers > 0, **loader_opts)
    dev_paths = [dev_cuts] if isinstance(dev_cuts, (str, Path)) else list(dev_cuts)
    dev_set = combine(*map(load_manifest_lazy, dev_paths)) if len(dev_paths) > 1 else load_manifest_lazy(dev_paths[0])
    dev_sampler = DynamicBucketingSampler(dev_set, max_duration=float(tcfg["max_duration"]), shuffle=False,
                                          num_buckets=2, world_size=1, rank=0)
    dev_loader = torch.utils.data.DataLoader(CtcDataset(tokens), sampler=EveryNth(dev_sampler, world.rank, world.size),
                                             **loader_opts)

    epoch, step, batches_done = 1, 0, 0
    latest = world.broadcast(_latest_checkpoint(ckpt_dir) if world.main else None)
    if latest is not None:
        if not latest.exists():
            raise FileNotFoundError(f"rank {world.rank} cannot see {latest}: with several nodes, the experiment "
                                    "directory must be on a file system that every node shares")
        state = torch.load(latest, map_location="cpu", weights_only=False)  # the random states stay CPU tensors
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if scaler is not None and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        rng = state["rng"]
        if isinstance(rng, dict):  # the single-process trainer's
            rng = [rng]
        if len(rng) == world.size:
            _set_rng_state(rng[world.rank], device)
        step = state["step"]
        epoch, batches_done = _resume_position(state, world)
        logging.info("Resuming from %s (epoch %d, step %d)", latest, epoch, step)
    else:
        mean, std = feature_stats(cuts)
        model.set_normalisation(mean.to(device), std.to(device))
    logging.info("Model %s: %.2f M parameters; %.2f h of training audio, ~%d steps/epoch, %d epochs; device %s, "
                 "%d process(es), %d batch(es) per step each, AMP %s, %d loader worker(s) each",
                 mcfg["name"], num_params / 1e6, total_hours, steps_per_epoch, epochs, device, world.size, accum,
                 amp or "off", workers)
    net = model
    if world.size > 1:  # rank 0's weights and buffers are broadcast to every replica here
        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    writer = None
    if world.main:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(exp_dir / "tensorboard"))
    meta = {"model_config": mcfg, "num_features": num_features, "vocab_size": len(tokens)}

    def checkpoint(epoch_now: int, batches_now: int) -> None:
        rng = world.gather(_rng_state(device))
        if world.main:
            save_atomic({**meta, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                         "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict() if scaler else None,
                         "position": {"epoch": epoch_now, "batches": batches_now, "world_size": world.size},
                         "rng": rng, "epoch": epoch_now, "step": step}, ckpt_dir / f"step-{step}.pt")
            keep = int(tcfg.get("keep_checkpoints", 3))
            for old in sorted(ckpt_dir.glob("step-*.pt"), key=lambda p: int(p.stem.split("-")[1]))[:-keep]:
                old.unlink()

    clip = float(tcfg.get("grad_clip", 5.0))
    every = int(tcfg.get("checkpoint_every_steps", 200))
    net.train()
    while epoch <= epochs:
        sampler.set_epoch(epoch, batches_done)
        start, utts, loss_sum = time.time(), 0, 0.0
        bar = tqdm(loader, desc=f"epoch {epoch}/{epochs}", unit="batch", dynamic_ncols=True, disable=not world.main)
        group: list[dict] = []
        for batch in bar:
            group.append(batch)
            if len(group) < accum:
                continue
            loss, n, grad_norm = _optimizer_step(net, group, device, world, amp, scaler, optimizer, scheduler, clip)
            step, batches_done, utts, loss_sum, group = step + 1, batches_done + len(group), utts + n, loss_sum + loss, []
            if world.main:
                bar.set_postfix(loss=f"{loss / n:.2f}", lr=f"{scheduler.get_last_lr()[0]:.2e}")
                if step % 10 == 0:
                    writer.add_scalar("train/loss", loss / n, step)
                    writer.add_scalar("train/lr", scheduler.get_last_lr()[0], step)
                    writer.add_scalar("train/grad_norm", grad_norm, step)
            if step % every == 0:
                checkpoint(epoch, batches_done)
        if group:  # the epoch's last, smaller step
            loss, n, _ = _optimizer_step(net, group, device, world, amp, scaler, optimizer, scheduler, clip)
            step, utts, loss_sum = step + 1, utts + n, loss_sum + loss
        loss_sum, utts = world.all_reduce([loss_sum, utts], device)
        dev_loss, dev_counts = validate(model, dev_loader, tokens, device, world)
        check_replicas(model, world)
        elapsed = time.time() - start
        # PER for pinyin units; for characters or pieces, the error rate of those tokens
        logging.info("epoch %d: train loss %.3f, dev loss %.3f, dev greedy %s %.2f%%, %.1f utt/s; "
                     "the %d replica(s) agree", epoch, loss_sum / max(1, utts), dev_loss,
                     "PER" if tokens.units.is_pinyin else f"{tokens.units.name} error rate",
                     100 * dev_counts.rate, utts / max(elapsed, 1e-9), world.size)
        if world.main:
            writer.add_scalar("dev/loss", dev_loss, step)
            writer.add_scalar("dev/per", 100 * dev_counts.rate, step)
            save_atomic({**meta, "model": model.state_dict(), "epoch": epoch, "step": step,
                         "train_loss": loss_sum / max(1, utts), "dev_loss": dev_loss,
                         "dev_per": 100 * dev_counts.rate}, exp_dir / f"epoch-{epoch}.pt")
        epoch, batches_done = epoch + 1, 0
        checkpoint(epoch, 0)
    if world.main:
        writer.close()
        save_atomic({**meta, "model": model.state_dict(), "epoch": epochs, "step": step}, final)
    world.barrier()
    return final


def _optimizer_step(net, group: list[dict], device: torch.device, world: World, amp, scaler, optimizer, scheduler,
                    clip: float) -> tuple[float, int, float]:
    """One optimiser step on a group of batches; return (summed loss, utterances, gradient norm) of this rank."""
    loss, n = accumulate_gradients(net, group, device, world, amp, scaler)
    if scaler is not None:
        scaler.unscale_(optimizer)
    grad_norm = torch.nn.utils.clip_grad_norm_(net.parameters(), clip)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return loss, n, float(grad_norm)


def average_checkpoints(paths: list[Path]) -> dict:
    """The last checkpoint's contents with its ``model`` weights replaced by the element-wise mean of every
    checkpoint's (integer buffers, such as batch-norm counters, are the last checkpoint's)."""
    if not paths:
        raise ValueError("no checkpoints to average")
    total: dict[str, torch.Tensor] = {}
    for path in paths:
        state = torch.load(path, map_location="cpu", weights_only=False)
        for name, value in state["model"].items():
            if value.is_floating_point():
                total[name] = total[name] + value.double() if name in total else value.double()
            else:
                total[name] = value
    weights = {name: (v / len(paths)).to(state["model"][name].dtype) if v.is_floating_point() else v
               for name, v in total.items()}
    return {**state, "model": weights, "averaged": [Path(p).name for p in paths]}


def decoding_model(exp_dir: Path, avg: int = 1) -> Path:
    """The model stages 7 and 8 use: ``model.pt``, or with ``avg`` > 1 the average of the weights after the
    last ``avg`` epochs (``epoch-<E>.pt``), written once to ``model-avg<avg>.pt``."""
    exp_dir = Path(exp_dir)
    final = exp_dir / "model.pt"
    if not final.exists():
        raise FileNotFoundError(f"{final} does not exist: train the model first (stage 6)")
    if avg <= 1:
        return final
    last = torch.load(final, map_location="cpu", weights_only=False)["epoch"]
    if avg > last:
        raise ValueError(f"decode.avg is {avg}, but the model trained for {last} epochs: set it to {last} or less")
    paths = [exp_dir / f"epoch-{e}.pt" for e in range(last - avg + 1, last + 1)]
    missing = [p.name for p in paths if not p.exists()]
    if missing:
        raise FileNotFoundError(f"cannot average the last {avg} epochs: {', '.join(missing)} missing in {exp_dir}")
    out = exp_dir / f"model-avg{avg}.pt"
    if not out.exists() or out.stat().st_mtime < max(p.stat().st_mtime for p in [final, *paths]):
        logging.info("Averaging %s into %s", ", ".join(p.name for p in paths), out)
        save_atomic(average_checkpoints(paths), out)
    return out
