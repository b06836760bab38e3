"""torchrun / DDP set-up: NCCL on GPUs (gloo where ranks share a GPU), gloo on CPU; a no-op for a single process."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def init_distributed(device: str) -> DistInfo:
    """Join the process group that torchrun describes in the environment, if there is one."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    backend = "gloo"
    if device == "cuda":
        count = torch.cuda.device_count()
        torch.cuda.set_device(local_rank % count)
        # NCCL needs a GPU of its own per rank; ranks that share one (more ranks than GPUs, e.g. a
        # test on a one-GPU machine) reduce through gloo, which takes CUDA tensors too.
        if int(os.environ.get("LOCAL_WORLD_SIZE", world)) <= count:
            backend = "nccl"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return DistInfo(rank, world, local_rank)


def all_reduce_mean(values: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Mean of ``values`` over ranks (the tensor itself when not distributed)."""
    if not info.enabled:
        return values
    values = values.clone()
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values / info.world


def all_true(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """True on every rank only if ``flag`` is true on every rank (used so all ranks act alike)."""
    if not info.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return bool(t.item() > 0)


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def cleanup(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
