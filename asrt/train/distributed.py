"""Training on several processes (torchrun): this process's place among them, the process group, and the
check that every replica holds the same parameters.

A single process is world size 1, and every method here is then a no-op or the identity, so the training
loop has one code path.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` means CUDA when present, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


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
