"""Multi-process data-parallel training on torch.distributed (launched by torchrun).

Every process holds the whole model and takes its share of each global batch; gradients are
averaged across processes (all-reduce) before every optimizer step, which is the arithmetic of
DistributedDataParallel applied at the optimizer, so that models keep calling their own
networks and optimizers. Rank 0 alone writes the run directory. gloo serves CPUs, NCCL GPUs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import attrs
import torch
import torch.distributed as dist

from gentk.errors import GentkError
from gentk.interfaces import Optimizer


@attrs.frozen
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def world_from_env() -> World:
    """The process group torchrun describes in the environment (a single process otherwise)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    return World(int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", "0")))


def init(world: World, device: torch.device) -> None:
    if world.enabled and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")


def device_for(world: World, device: torch.device) -> torch.device:
    """One GPU per process: cuda -> cuda:<local rank>."""
    if world.enabled and device.type == "cuda" and device.index is None:
        return torch.device("cuda", world.local_rank)
    return device


def broadcast_state(modules: Mapping[str, torch.nn.Module]) -> None:
    """Make every process start from rank 0's parameters and buffers."""
    for module in modules.values():
        for tensor in module.state_dict().values():
            dist.broadcast(tensor, src=0)


def check_in_sync(modules: Mapping[str, torch.nn.Module], device: torch.device) -> None:
    """Raise when a network's parameters differ between processes: every process applies the same
    averaged gradients, so they never should (a model drawing its updates outside the optimizers
    would break data parallelism silently)."""
    sums = torch.tensor(
        [float(sum(p.detach().double().sum() for p in module.parameters())) for module in modules.values()],
        dtype=torch.float64,
        device=device,
    )  # a checksum each
    extremes = torch.cat([sums, -sums])  # one all-reduce gives the maximum and minus the minimum
    dist.all_reduce(extremes, op=dist.ReduceOp.MAX)
    high, low = extremes[: len(sums)], -extremes[len(sums) :]
    for name, differs in zip(modules, (high != low).tolist(), strict=False):
        if differs:
            raise GentkError(
                f"the parameters of network {name!r} differ between processes",
                hint="every update must go through the model's optimizers, whose steps see "
                "gradients averaged over processes",
            )


def average_gradients_before_steps(optimizers: Mapping[str, Optimizer], world: World) -> None:
    """Hook every optimizer so that each step sees gradients averaged over all processes."""

    def hook(optimizer, args, kwargs):
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        if grads:
            flat = torch.cat([g.reshape(-1) for g in grads])
            dist.all_reduce(flat)
            flat /= world.size
            offset = 0
            for g in grads:
                g.copy_(flat[offset : offset + g.numel()].view_as(g))
                offset += g.numel()

    for optimizer in optimizers.values():
        optimizer.register_step_pre_hook(hook)


def average_figures(figures: Mapping[str, float], world: World) -> dict[str, float]:
    """The mean of each logged figure over processes (so every rank sees the same NaN check)."""
    if not world.enabled or not figures:
        return dict(figures)
    keys = sorted(figures)
    values = torch.tensor([figures[k] for k in keys], dtype=torch.float64)
    dist.all_reduce(values)
    return {k: float(v) / world.size for k, v in zip(keys, values, strict=False)}


def share_text(text: str | None, world: World) -> str:
    """Rank 0's string, on every rank (e.g. the run directory it created)."""
    if not world.enabled:
        return text or ""
    box = [text]
    dist.broadcast_object_list(box, src=0)
    return box[0] or ""


def barrier(world: World) -> None:
    if world.enabled:
        dist.barrier()


def shutdown(world: World) -> None:
    if world.enabled and dist.is_initialized():
        dist.destroy_process_group()
