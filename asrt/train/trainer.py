"""Stage 6: CTC acoustic-model training on one device or many, with checkpoints that make any
interruption resumable.

One code path: a single process is world size 1. Under ``torchrun`` every process trains a
DistributedDataParallel replica (NCCL on GPUs, gloo on CPU) on its share of each epoch (lhotse's
DynamicBucketingSampler with world_size/rank; :mod:`asrt.train.distributed`), and each optimiser step sees the
global batch: world size x ``train.accum_grad`` sampler batches, the loss normalised by their total number
of utterances, so the gradient is that of one big batch. ``train.amp`` runs the forward pass in bf16 or
fp16 (with a GradScaler) on CUDA; ``train.num_workers`` DataLoader processes load and collate the features.

The steps, each a function or :class:`Trainer` method: :func:`setup_trainer` (seeds, model, optimiser,
loaders), :meth:`Trainer.resume`, :meth:`Trainer.train_one_epoch`, :meth:`Trainer.end_epoch` (validation
and the epoch's model file), :meth:`Trainer.save_checkpoint`.

Layout of ``exp_dir``: ``checkpoints/step-<N>.pt`` (periodic and at each epoch's end, the newest few
kept), ``epoch-<E>.pt`` (weights after each epoch, with its train and dev loss), ``model.pt`` (the final
model) and ``tensorboard/``. Run again after a kill (``asrt train --resume``, as run.sh does while stage 6
is unfinished), training resumes from the newest checkpoint, mid-epoch included: the optimiser, scheduler,
loss scaler, every rank's random states, the sampler position (epoch and batches done) and the running
epoch's loss totals are restored, and each batch's augmentation (the audio transforms of ``train.augment``,
:mod:`asrt.train.augment`, and the SpecAugment masks) depends only on (seed, epoch, rank, batch index), so a
resumed run trains on the batches and masks an uninterrupted one would have, with or without DataLoader
workers, and writes the same epoch files. Only rank 0 writes; with several nodes, ``exp_dir`` must be
on a file system that every node sees. Model files are read and written by :mod:`asrt.models.checkpoint`.
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

from asrt.config import Section
from asrt.decode.greedy import ctc_greedy
from asrt.decode.scoring import ErrorCounts, edit_counts
from asrt.lang.tokens import TokenTable
from asrt.models import CtcModel, build_model
from asrt.models.checkpoint import save_atomic
from asrt.names import (
    BLANK_ID, CHECKPOINT_DIR, MODEL_FILE, STEP_CHECKPOINT_GLOB, TENSORBOARD_DIR, TOKENS_FILE, checkpoint_step,
    epoch_model_path, step_checkpoint_path,
)
from asrt.train.augment import AudioAugmentation, audio_augmentation
from asrt.train.dataset import CtcDataset
from asrt.train.distributed import World, check_replicas, init_distributed
from asrt.train.mixing import mix_cut_sets
from asrt.train.samplers import EveryNth, SeededBatches, SeededDataset


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


def ctc_loss(model: CtcModel, batch: dict, device: torch.device,
             chunk_frames: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Summed CTC loss of a batch, and the model's log-probs and output lengths (CTC in float32 under AMP;
    a chunked streaming model in chunks of ``chunk_frames`` if given)."""
    log_probs, out_lens = model(batch["feats"].to(device), batch["feat_lens"].to(device), chunk_frames)
    log_probs = log_probs.float()
    loss = torch.nn.functional.ctc_loss(
        log_probs.transpose(0, 1), batch["targets"].to(device), out_lens, batch["target_lens"].to(device),
        blank=BLANK_ID, reduction="sum", zero_infinity=True)
    return loss, log_probs, out_lens


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


@torch.no_grad()
def validate(model: CtcModel, loader, tokens: TokenTable, device: torch.device,
             world: World = World(), chunk_frames: int | None = None) -> tuple[float, ErrorCounts]:
    """Dev loss per utterance and the greedy output's token error counts, summed over every rank's share
    (a chunked streaming model's in chunks of ``chunk_frames`` if given, as it streams)."""
    model.eval()
    total_loss, utts, counts = 0.0, 0, ErrorCounts()
    for batch in loader:
        loss, log_probs, out_lens = ctc_loss(model, batch, device, chunk_frames)
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


def train(train_cuts: Path | dict[str, Path], dev_cuts: Path | list[Path], lang_dir: Path, exp_dir: Path,
          config: dict) -> Path:
    """Train (or resume training) the configured CTC model; return the path of the final ``model.pt``.

    Several training cut sets ({name: path}) are mixed by ``train.mux_weights`` (asrt/train/mixing.py);
    several dev cut sets are validated on together. Under torchrun, every process calls this.
    """
    exp_dir = Path(exp_dir)
    final = exp_dir / MODEL_FILE
    if final.exists():
        logging.info("%s exists: training is finished", final)
        return final
    world, device, started = init_distributed(Section("train", config["train"])["device"])
    try:
        trainer = setup_trainer(train_cuts, dev_cuts, lang_dir, exp_dir, config, world, device)
        epoch, batches_done = trainer.resume()
        trainer.start()
        while epoch <= trainer.epochs:
            utts, elapsed = trainer.train_one_epoch(epoch, batches_done)
            trainer.end_epoch(epoch, utts, elapsed)
            epoch, batches_done = epoch + 1, 0
            trainer.save_checkpoint(epoch, 0)
        trainer.finish(final)
        return final
    finally:
        if started:
            dist.destroy_process_group()


@dataclass
class Trainer:
    """What one training process holds between the steps of training."""

    tcfg: Section
    world: World
    device: torch.device
    exp_dir: Path
    tokens: TokenTable
    cuts: object  # the (mixed) training CutSet
    model: CtcModel
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler | None
    amp: torch.dtype | None
    sampler: SeededBatches
    loader: torch.utils.data.DataLoader
    dev_loader: torch.utils.data.DataLoader
    meta: dict  # what every model file records: the model's config, input and output sizes
    epochs: int
    steps_per_epoch: int
    total_hours: float  # of training audio
    step: int = 0
    # This rank's summed training loss and utterances in the running epoch, so far: in every checkpoint, so
    # that an epoch resumed after a kill reports the train loss of the whole epoch, as an uninterrupted one.
    loss_sum: float = 0.0
    utts: int = 0
    net: torch.nn.Module | None = None  # the model, or its DDP wrapper
    writer: object = None  # rank 0's tensorboard SummaryWriter
    stream_chunk: int | None = None  # a chunked streaming model is also validated in chunks of this many frames

    @property
    def ckpt_dir(self) -> Path:
        """Where the resumable checkpoints go."""
        return self.exp_dir / CHECKPOINT_DIR

    def resume(self) -> tuple[int, int]:
        """Restore the newest checkpoint, if any, or start from scratch (the features' normalisation);
        return (epoch, batches this rank has done in it)."""
        world = self.world
        latest = world.broadcast(latest_checkpoint(self.ckpt_dir) if world.main else None)
        if latest is None:
            mean, std = feature_stats(self.cuts)
            self.model.set_normalisation(mean.to(self.device), std.to(self.device))
            return 1, 0
        if not latest.exists():
            raise FileNotFoundError(f"rank {world.rank} cannot see {latest}: with several nodes, the experiment "
                                    "directory must be on a file system that every node shares")
        # The trainer's own file (random states, optimiser), so not weights_only; they stay CPU tensors.
        state = torch.load(latest, map_location="cpu", weights_only=False)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        if len(state["rng"]) == world.size:
            set_rng_state(state["rng"][world.rank], self.device)
        self.step = state["step"]
        epoch, batches_done = resume_position(state["position"], world)
        # (a checkpoint from before asrt kept the totals has none: that epoch's loss averages what follows)
        self.loss_sum, self.utts = resume_totals(state.get("totals", []), world)
        logging.info("Resuming from %s (epoch %d, step %d)", latest, epoch, self.step)
        return epoch, batches_done

    def start(self) -> None:
        """Log what is trained, wrap the model for DDP (rank 0's weights reach every replica) and open
        rank 0's tensorboard log."""
        num_params = sum(p.numel() for p in self.model.parameters())
        logging.info("Model %s: %.2f M parameters; %.2f h of training audio, ~%d steps/epoch, %d epochs; device %s, "
                     "%d process(es), %d batch(es) per step each, AMP %s, %d loader worker(s) each",
                     self.meta["model_config"]["name"], num_params / 1e6, self.total_hours, self.steps_per_epoch,
                     self.epochs, self.device, self.world.size, int(self.tcfg["accum_grad"]), self.amp or "off",
                     self.loader.num_workers)
        self.net = self.model
        if self.world.size > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = DistributedDataParallel(self.model, device_ids=ids)
        if self.world.main:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.exp_dir / TENSORBOARD_DIR))

    def train_one_epoch(self, epoch: int, batches_done: int) -> tuple[int, float]:
        """Train ``epoch`` from its ``batches_done``-th batch on, adding to the epoch's loss totals; return
        the utterances this call trained on this rank and the seconds it took."""
        accum, every = int(self.tcfg["accum_grad"]), int(self.tcfg["checkpoint_every_steps"])
        self.sampler.set_epoch(epoch, batches_done)
        start, utts = time.time(), 0
        bar = tqdm(self.loader, desc=f"epoch {epoch}/{self.epochs}", unit="batch", dynamic_ncols=True,
                   disable=not self.world.main)
        self.net.train()
        group: list[dict] = []
        for batch in bar:
            group.append(batch)
            if len(group) < accum:
                continue
            loss, n = self.optimizer_step(group)
            batches_done, utts, group = batches_done + len(group), utts + n, []
            if self.world.main:
                bar.set_postfix(loss=f"{loss / n:.2f}", lr=f"{self.scheduler.get_last_lr()[0]:.2e}")
            if self.step % every == 0:
                self.save_checkpoint(epoch, batches_done)
        if group:  # the epoch's last, smaller step
            utts += self.optimizer_step(group)[1]
        return utts, time.time() - start

    def optimizer_step(self, group: list[dict]) -> tuple[float, int]:
        """One optimiser step on a group of batches; return this rank's (summed loss, utterances)."""
        loss, n = accumulate_gradients(self.net, group, self.device, self.world, self.amp, self.scaler)
        self.loss_sum, self.utts = self.loss_sum + loss, self.utts + n
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.net.parameters(), float(self.tcfg["grad_clip"]))
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        if self.world.main and self.step % 10 == 0:
            for name, value in (("loss", loss / n), ("lr", self.scheduler.get_last_lr()[0]),
                                ("grad_norm", float(grad_norm))):
                self.writer.add_scalar(f"train/{name}", value, self.step)
        return loss, n

    def end_epoch(self, epoch: int, trained: int, elapsed: float) -> None:
        """Validate, check that the replicas agree, log, write the epoch's model file and start the next
        epoch's loss totals (``trained`` utterances in ``elapsed`` seconds on this rank: the speed logged)."""
        loss_sum, utts, trained = self.world.all_reduce([self.loss_sum, self.utts, trained], self.device)
        self.loss_sum, self.utts = 0.0, 0
        dev_loss, dev_counts = validate(self.model, self.dev_loader, self.tokens, self.device, self.world)
        check_replicas(self.model, self.world)
        metric = self.tokens.units.token_error_name
        logging.info("epoch %d: train loss %.3f, dev loss %.3f, dev greedy %s %.2f%%, %.1f utt/s; "
                     "the %d replica(s) agree", epoch, loss_sum / max(1, utts), dev_loss, metric,
                     100 * dev_counts.rate, trained / max(elapsed, 1e-9), self.world.size)
        chunked = {}
        if self.stream_chunk:
            _, counts = validate(self.model, self.dev_loader, self.tokens, self.device, self.world, self.stream_chunk)
            chunked = {"dev_chunk_frames": self.stream_chunk, "dev_chunked_token_error_rate": 100 * counts.rate}
            logging.info("epoch %d: dev greedy %s %.2f%% in chunks of %d output frames (as it streams)", epoch,
                         metric, 100 * counts.rate, self.stream_chunk)
        if self.world.main:
            self.writer.add_scalar("dev/loss", dev_loss, self.step)
            self.writer.add_scalar("dev/token_error_rate", 100 * dev_counts.rate, self.step)
            if chunked:
                self.writer.add_scalar("dev/chunked_token_error_rate", chunked["dev_chunked_token_error_rate"], self.step)
            save_atomic({**self.meta, "model": self.model.state_dict(), "epoch": epoch, "step": self.step,
                         "train_loss": loss_sum / max(1, utts), "dev_loss": dev_loss,
                         "dev_token_error_rate": 100 * dev_counts.rate, "dev_token_error_name": metric, **chunked},
                        epoch_model_path(self.exp_dir, epoch))

    def save_checkpoint(self, epoch: int, batches_done: int) -> None:
        """Everything needed to resume at batch ``batches_done`` of ``epoch`` (every rank's random states
        and loss totals included), in ``checkpoints/step-<N>.pt``; the newest ``train.keep_checkpoints``
        are kept."""
        ranks = self.world.gather((rng_state(self.device), (self.loss_sum, self.utts)))
        if not self.world.main:
            return
        rng, totals = [r for r, _ in ranks], [t for _, t in ranks]
        save_atomic({**self.meta, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                     "scheduler": self.scheduler.state_dict(),
                     "scaler": self.scaler.state_dict() if self.scaler else None,
                     "position": {"epoch": epoch, "batches": batches_done, "world_size": self.world.size},
                     "rng": rng, "totals": totals, "epoch": epoch, "step": self.step},
                    step_checkpoint_path(self.ckpt_dir, self.step))
        for old in checkpoints(self.ckpt_dir)[:-int(self.tcfg["keep_checkpoints"])]:
            old.unlink()

    def finish(self, final: Path) -> None:
        """Write the final model (rank 0) once every rank is done."""
        if self.world.main:
            self.writer.close()
            save_atomic({**self.meta, "model": self.model.state_dict(), "epoch": self.epochs, "step": self.step},
                        final)
        self.world.barrier()


def setup_trainer(train_cuts: Path | dict[str, Path], dev_cuts: Path | list[Path], lang_dir: Path, exp_dir: Path,
                  config: dict, world: World, device: torch.device) -> Trainer:
    """Seed this process, then build the model, optimiser, scheduler and data loaders (in this order: the
    model's initial weights come from the seeded generator)."""
    tcfg, mcfg = Section("train", config["train"]), config["model"]
    seed = _seed_process(tcfg, world, device, exp_dir)
    tokens = TokenTable(Path(lang_dir) / TOKENS_FILE)
    cuts = mix_cut_sets({"train": Path(train_cuts)} if isinstance(train_cuts, (str, Path)) else train_cuts,
                        tcfg.get("mux_weights"))
    num_features = next(iter(cuts)).num_features
    model = build_model(num_features=num_features, vocab_size=len(tokens), **mcfg).to(device)
    if world.rank:  # the replicas start from rank 0's weights (DDP), but draw their own dropout masks
        torch.manual_seed(seed + world.rank)
    optimizer = torch.optim.AdamW(model.parameters(), lr=float(tcfg["lr"]), weight_decay=float(tcfg["weight_decay"]))
    accum = int(tcfg["accum_grad"])
    if accum < 1:
        raise ValueError(f"train.accum_grad must be 1 or more, not {accum}")
    total_hours = sum(c.duration for c in cuts) / 3600
    steps_per_epoch = max(1, math.ceil(total_hours * 3600 / float(tcfg["max_duration"]) / world.size / accum))
    epochs = int(tcfg["epochs"])
    total_steps = steps_per_epoch * epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, int(tcfg["warmup_steps"]), total_steps))
    amp = amp_dtype(tcfg["amp"], device)
    scaler = torch.amp.GradScaler(device.type) if amp == torch.float16 else None
    augmentation = audio_augmentation(tcfg["augment"], config["features"], num_features)
    sampler, loader, dev_loader = _make_loaders(cuts, dev_cuts, tokens, tcfg, world, device, seed, augmentation)
    meta = {"model_config": mcfg, "num_features": num_features, "vocab_size": len(tokens)}
    stream_chunk = int(config["decode"]["streaming"]["chunk_frames"]) if getattr(model.encoder, "chunked", False) else None
    return Trainer(tcfg, world, device, Path(exp_dir), tokens, cuts, model, optimizer, scheduler, scaler, amp,
                   sampler, loader, dev_loader, meta, epochs, steps_per_epoch, total_hours, stream_chunk=stream_chunk)


def _seed_process(tcfg: Section, world: World, device: torch.device, exp_dir: Path) -> int:
    """Quiet the other ranks' logs, make the experiment directory, set the CPU threads and seed every
    random generator; return the seed."""
    if not world.main:  # one log and one progress bar: rank 0's
        logging.getLogger().setLevel(logging.WARNING)
    else:
        Path(exp_dir).mkdir(parents=True, exist_ok=True)
    if device.type == "cpu":
        torch.set_num_threads(max(1, int(tcfg["num_threads"]) // world.local_size))
    seed = int(tcfg["seed"])
    random.seed(seed), np.random.seed(seed), torch.manual_seed(seed)
    return seed


def _make_loaders(cuts, dev_cuts: Path | list[Path], tokens: TokenTable, tcfg: Section, world: World,
                  device: torch.device, seed: int, augmentation: AudioAugmentation | None = None):
    """(sampler, training loader, dev loader): bucketed batches of ``train.max_duration`` seconds, this
    rank's share of each; the training batches' audio ``augmentation`` and SpecAugment when configured."""
    from lhotse import combine, load_manifest_lazy
    from lhotse.dataset import DynamicBucketingSampler, SpecAugment

    max_duration = float(tcfg["max_duration"])
    sampler = SeededBatches(
        DynamicBucketingSampler(cuts, max_duration=max_duration, shuffle=True,
                                num_buckets=int(tcfg["num_buckets"]), seed=seed, drop_last=False,
                                world_size=world.size, rank=world.rank),
        seed, world.rank)
    spec_aug = SpecAugment(**tcfg["spec_augment"]) if tcfg["spec_augment"] else None
    logging.info("Augmentation: audio %s; SpecAugment %s",
                 f"{augmentation} (features computed on the fly)" if augmentation else "off",
                 "on" if spec_aug else "off")
    workers = num_loader_workers(tcfg["num_workers"], device, world)
    opts = {"batch_size": None, "num_workers": workers, "pin_memory": device.type == "cuda",
            # the workers' base seed comes from here, not from the training loop's generator
            "generator": torch.Generator().manual_seed(seed)}
    loader = torch.utils.data.DataLoader(SeededDataset(CtcDataset(tokens, spec_aug, augmentation)), sampler=sampler,
                                         persistent_workers=workers > 0, **opts)
    dev_paths = [dev_cuts] if isinstance(dev_cuts, (str, Path)) else list(dev_cuts)
    dev_set = combine(*map(load_manifest_lazy, dev_paths)) if len(dev_paths) > 1 else load_manifest_lazy(dev_paths[0])
    dev_sampler = DynamicBucketingSampler(dev_set, max_duration=max_duration, shuffle=False, num_buckets=2,
                                          world_size=1, rank=0)
    dev_loader = torch.utils.data.DataLoader(CtcDataset(tokens), sampler=EveryNth(dev_sampler, world.rank, world.size),
                                             **opts)
    return sampler, loader, dev_loader


def checkpoints(ckpt_dir: Path) -> list[Path]:
    """The resumable checkpoints in ``ckpt_dir``, oldest first."""
    return sorted(Path(ckpt_dir).glob(STEP_CHECKPOINT_GLOB), key=checkpoint_step)


def latest_checkpoint(ckpt_dir: Path) -> Path | None:
    """The newest resumable checkpoint, or None."""
    found = checkpoints(ckpt_dir)
    return found[-1] if found else None


def rng_state(device: torch.device) -> dict:
    """This process's Python, NumPy, torch (and CUDA) random states."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device) -> None:
    """Restore what :func:`rng_state` saved."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def resume_totals(totals: list[tuple[float, int]], world: World) -> tuple[float, int]:
    """This rank's (summed loss, utterances) of the running epoch from a checkpoint's per-rank totals; from
    another world size, rank 0 takes them all (the epoch's loss is their sum over the ranks either way)."""
    if len(totals) == world.size:
        return tuple(totals[world.rank])
    return (sum(t[0] for t in totals), sum(t[1] for t in totals)) if world.main else (0.0, 0)


def resume_position(pos: dict, world: World) -> tuple[int, int]:
    """(epoch, batches this rank has done in it) of a checkpoint's position; converted, approximately,
    when the checkpoint comes from another world size."""
    batches = pos["batches"]
    if pos["world_size"] != world.size:
        batches = pos["batches"] * pos["world_size"] // world.size
        logging.warning("The checkpoint was written by %d processes, this run has %d: epoch %d goes on after "
                        "about the same number of batches (%d each), not the same batches",
                        pos["world_size"], world.size, pos["epoch"], batches)
    return pos["epoch"], batches
