"""Stage 6: CTC acoustic-model training with checkpoints that make any interruption resumable.

Layout of ``exp_dir``: ``checkpoints/step-<N>.pt`` (periodic and at each epoch's end, the newest few
kept), ``epoch-<E>.pt`` (weights after each epoch), ``model.pt`` (the final model: the stage's done
marker), ``tensorboard/`` and ``train.log``. Rerunning after a kill resumes from the newest checkpoint,
mid-epoch included: the sampler, optimiser, scheduler and random states are all restored.
"""
from __future__ import annotations

import logging
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
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
    """Summed CTC loss of a batch, and the model's log-probs and output lengths."""
    log_probs, out_lens = model(batch["feats"].to(device), batch["feat_lens"].to(device))
    loss = torch.nn.functional.ctc_loss(
        log_probs.transpose(0, 1), batch["targets"].to(device), out_lens, batch["target_lens"].to(device),
        blank=0, reduction="sum", zero_infinity=True)
    return loss, log_probs, out_lens


@torch.no_grad()
def validate(model: CtcModel, loader, tokens: TokenTable, device: torch.device) -> tuple[float, ErrorCounts]:
    """Dev loss per utterance and greedy pinyin error counts."""
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
    return total_loss / max(1, utts), counts


def _latest_checkpoint(ckpt_dir: Path) -> Path | None:
    ckpts = sorted(ckpt_dir.glob("step-*.pt"), key=lambda p: int(p.stem.split("-")[1]))
    return ckpts[-1] if ckpts else None


def _rng_state() -> dict:
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def _set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


def train(train_cuts: Path | dict[str, Path], dev_cuts: Path | list[Path], lang_dir: Path, exp_dir: Path,
          config: dict) -> Path:
    """Train (or resume training) the configured CTC model; return the path of the final ``model.pt``.

    Several training cut sets ({name: path}) are mixed by ``train.mux_weights`` (asrt/mixing.py);
    several dev cut sets are validated on together.
    """
    from lhotse import combine, load_manifest_lazy
    from lhotse.dataset import DynamicBucketingSampler, SpecAugment

    exp_dir = Path(exp_dir)
    final = exp_dir / "model.pt"
    if final.exists():
        logging.info("%s exists: training is finished", final)
        return final
    tcfg, mcfg = config["train"], config["model"]
    exp_dir.mkdir(parents=True, exist_ok=True)
    ckpt_dir = exp_dir / "checkpoints"
    device = pick_device(tcfg.get("device", "auto"))
    if device.type == "cpu":
        torch.set_num_threads(int(tcfg.get("num_threads", 2)))
    seed = int(tcfg.get("seed", 42))
    random.seed(seed), np.random.seed(seed), torch.manual_seed(seed)

    tokens = TokenTable(Path(lang_dir) / "tokens.txt")
    if isinstance(train_cuts, (str, Path)):
        train_cuts = {"train": Path(train_cuts)}
    cuts = mix_cut_sets(train_cuts, tcfg.get("mux_weights"))
    first = next(iter(cuts))
    num_features = first.num_features
    model = build_model(num_features=num_features, vocab_size=len(tokens), **mcfg).to(device)
    num_params = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.AdamW(model.parameters(), lr=float(tcfg["lr"]), weight_decay=float(tcfg["weight_decay"]))
    total_hours = sum(c.duration for c in cuts) / 3600
    steps_per_epoch = max(1, math.ceil(total_hours * 3600 / float(tcfg["max_duration"])))
    epochs = int(tcfg["epochs"])
    total_steps = steps_per_epoch * epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, int(tcfg["warmup_steps"]), total_steps))
    sampler = DynamicBucketingSampler(cuts, max_duration=float(tcfg["max_duration"]), shuffle=True,
                                      num_buckets=int(tcfg.get("num_buckets", 10)), seed=seed, drop_last=False)
    spec_aug = SpecAugment(**tcfg["spec_augment"]) if tcfg.get("spec_augment") else None
    loader = torch.utils.data.DataLoader(CtcDataset(tokens, spec_aug), sampler=sampler, batch_size=None, num_workers=0)
    dev_paths = [dev_cuts] if isinstance(dev_cuts, (str, Path)) else list(dev_cuts)
    dev_set = combine(*map(load_manifest_lazy, dev_paths)) if len(dev_paths) > 1 else load_manifest_lazy(dev_paths[0])
    dev_sampler = DynamicBucketingSampler(dev_set, max_duration=float(tcfg["max_duration"]),
                                          shuffle=False, num_buckets=2)
    dev_loader = torch.utils.data.DataLoader(CtcDataset(tokens), sampler=dev_sampler, batch_size=None, num_workers=0)

    epoch, step = 1, 0
    latest = _latest_checkpoint(ckpt_dir)
    if latest is not None:
        state = torch.load(latest, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        sampler.load_state_dict(state["sampler"])
        _set_rng_state(state["rng"])
        epoch, step = state["epoch"], state["step"]
        logging.info("Resuming from %s (epoch %d, step %d)", latest, epoch, step)
    else:
        mean, std = feature_stats(cuts)
        model.set_normalisation(mean.to(device), std.to(device))
    logging.info("Model %s: %.2f M parameters; %.2f h of training audio, ~%d steps/epoch, %d epochs, device %s",
                 mcfg["name"], num_params / 1e6, total_hours, steps_per_epoch, epochs, device)

    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(exp_dir / "tensorboard"))
    meta = {"model_config": mcfg, "num_features": num_features, "vocab_size": len(tokens)}

    def checkpoint(epoch_now: int) -> None:
        save_atomic({**meta, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                     "scheduler": scheduler.state_dict(), "sampler": sampler.state_dict(),
                     "rng": _rng_state(), "epoch": epoch_now, "step": step}, ckpt_dir / f"step-{step}.pt")
        keep = int(tcfg.get("keep_checkpoints", 3))
        for old in sorted(ckpt_dir.glob("step-*.pt"), key=lambda p: int(p.stem.split("-")[1]))[:-keep]:
            old.unlink()

    model.train()
    every = int(tcfg.get("checkpoint_every_steps", 200))
    resumed = latest is not None
    while epoch <= epochs:
        if not resumed:  # a restored sampler continues where its checkpoint left off
            sampler.set_epoch(epoch)
        resumed = False
        start, utts, loss_sum, frames_sum = time.time(), 0, 0.0, 0
        bar = tqdm(loader, desc=f"epoch {epoch}/{epochs}", unit="batch", dynamic_ncols=True)
        for batch in bar:
            loss, _, _ = ctc_loss(model, batch, device)
            n = len(batch["cut_ids"])
            optimizer.zero_grad(set_to_none=True)
            (loss / n).backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), float(tcfg.get("grad_clip", 5.0)))
            optimizer.step()
            scheduler.step()
            step += 1
            utts += n
            loss_sum += loss.item()
            bar.set_postfix(loss=f"{loss.item() / n:.2f}", lr=f"{scheduler.get_last_lr()[0]:.2e}")
            if step % 10 == 0:
                writer.add_scalar("train/loss", loss.item() / n, step)
                writer.add_scalar("train/lr", scheduler.get_last_lr()[0], step)
                writer.add_scalar("train/grad_norm", float(grad_norm), step)
            if step % every == 0:
                checkpoint(epoch)
        dev_loss, dev_counts = validate(model, dev_loader, tokens, device)
        elapsed = time.time() - start
        logging.info("epoch %d: train loss %.3f, dev loss %.3f, dev greedy PER %.2f%%, %.1f utt/s",
                     epoch, loss_sum / max(1, utts), dev_loss, 100 * dev_counts.rate, utts / max(elapsed, 1e-9))
        writer.add_scalar("dev/loss", dev_loss, step)
        writer.add_scalar("dev/per", 100 * dev_counts.rate, step)
        save_atomic({**meta, "model": model.state_dict(), "epoch": epoch, "step": step}, exp_dir / f"epoch-{epoch}.pt")
        epoch += 1
        sampler.set_epoch(epoch)
        checkpoint(epoch)
    writer.close()
    save_atomic({**meta, "model": model.state_dict(), "epoch": epochs, "step": step}, final)
    return final
