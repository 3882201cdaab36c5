"""One training process among several (torchrun) or alone: its rank, its device, and the few
collective operations training needs. NCCL between GPUs, gloo between CPU processes."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from generator.nets.device import resolve_device


@dataclass(frozen=True)
class Process:
    """Where this process stands: rank 0 of 1 when not launched by torchrun."""

    device: torch.device  # this process's device: cuda:LOCAL_RANK under torchrun on GPUs
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes checkpoints and logs."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def all_reduce_sum(self, values: torch.Tensor) -> torch.Tensor:
        """The element-wise sum of `values` over every process (itself when alone)."""
        if not self.distributed:
            return values
        out = values.detach().clone().to(self.device)
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        return out.to(values.device)

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


def launched_by_torchrun() -> bool:
    return "WORLD_SIZE" in os.environ and "RANK" in os.environ


def start_process(device_spec: str = "auto") -> Process:
    """Join torchrun's process group when launched by it (rank and world from its environment),
    else a single process on `device_spec`. Under torchrun each process takes the GPU of its
    local rank; without CUDA (or with --device cpu) the processes talk over gloo."""
    if not launched_by_torchrun() or int(os.environ["WORLD_SIZE"]) == 1:
        return Process(device=resolve_device(device_spec))
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    wanted = resolve_device(device_spec)
    if wanted.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise ValueError(
                f"local rank {local_rank} has no GPU: this node has {torch.cuda.device_count()}; "
                "give torchrun --nproc_per_node at most that many"
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        device, backend = torch.device("cpu"), "gloo"
    if not dist.is_initialized():
        # a generous timeout: rank 0 may be writing a large checkpoint while the others wait
        dist.init_process_group(backend, timeout=dt.timedelta(minutes=30))
    return Process(rank=rank, world_size=world, local_rank=local_rank, device=device)


def end_process(process: Process) -> None:
    if process.distributed and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
