"""Multi-process data-parallel training on torch.distributed (launched by torchrun).

Every process holds the whole model and takes its share of each global batch; gradients are
averaged across processes (all-reduce) before every optimizer step, which is the arithmetic of
DistributedDataParallel applied at the optimizer, so that models keep calling their own
networks and optimizers. Rank 0 alone writes the run directory. gloo serves CPUs, NCCL GPUs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from types import FrameType

import attrs
import torch
import torch.distributed as dist

from gentk.errors import GentkError
from gentk.interfaces import Optimizer, parameters_of

AVERAGED = "_gentk_gradients_averaged"  # set on an optimizer whose gradients are averaged already


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
    """Join the process group: NCCL with this process's GPU made current (collectives and object
    collectives use the current device), gloo on CPUs."""
    if world.enabled and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(world.local_rank)
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
    sums = torch.stack([_checksum(module, device) for module in modules.values()])  # on the device
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


def _checksum(module: torch.nn.Module, device: torch.device) -> torch.Tensor:
    total = torch.zeros((), dtype=torch.float64, device=device)
    for p in module.parameters():
        total = total + p.detach().double().sum()
    return total


def average_gradients(optimizer: Optimizer, world: World) -> None:
    """Replace the optimizer's gradients by their mean over processes (one all-reduce)."""
    grads = [p.grad for p in parameters_of(optimizer) if p.grad is not None]
    if grads:
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= world.size
        offset = 0
        for g in grads:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()


def average_gradients_before_steps(optimizers: Mapping[str, Optimizer], world: World) -> None:
    """Hook every optimizer so that each step sees gradients averaged over all processes."""

    def hook(optimizer, args, kwargs):
        if not getattr(optimizer, AVERAGED, False):  # fp16 loss scaling averages before unscaling
            average_gradients(optimizer, world)

    for optimizer in optimizers.values():
        optimizer.register_step_pre_hook(hook)


def any_flag(flag: bool, world: World, device: torch.device) -> bool:
    """Whether any process raised the flag (a collective on the backend's device: every process
    must call it)."""
    if not world.enabled:
        return flag
    tensor = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(tensor)
    return bool(tensor.item() > 0)


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


# -- launching --------------------------------------------------------------------------------
def _terminal_foreground() -> bool:
    """Whether this process runs in the foreground of a terminal, where Ctrl-C reaches every process
    of the group (torchrun and its workers included) by itself."""
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except (OSError, ValueError, AttributeError):
        return False


def torchrun_main() -> None:
    """torchrun, ending quietly with 128 + the signal's number when a signal stopped it (its workers
    have printed how to resume) rather than with the traceback of its SignalException."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.run import main

    try:
        main()
    except SignalException as exc:
        sys.exit(128 + int(exc.sigval))


def launch(nproc: int, gentk_args: Sequence[str]) -> int:
    """Run `gentk ARGS` in `nproc` processes under torchrun (gloo on CPU, NCCL on GPUs); the exit code.

    Signals: torchrun passes SIGINT and SIGTERM to its workers (told to, SIGUSR1 as well), which
    save a checkpoint at the same step and exit; it kills them if they take more than 30 seconds.
    This process passes on the first SIGTERM or SIGUSR1 it receives (and a SIGINT that did not come
    from its terminal, which signals the whole group itself), and then ignores further signals
    until the workers are done. An interrupted run exits with 128 + the signal's number."""
    launcher = "from gentk.distributed import torchrun_main; torchrun_main()"
    args = [sys.executable, "-c", launcher, "--standalone", f"--nproc_per_node={nproc}"]
    args += ["-m", "gentk", *gentk_args]
    env = {**os.environ, "TORCHELASTIC_SIGNALS_TO_HANDLE": "SIGTERM,SIGINT,SIGHUP,SIGQUIT,SIGUSR1"}
    received: list[int] = []
    child = subprocess.Popen(args, env=env)

    def forward(signum: int, frame: FrameType | None) -> None:
        first = not received
        received.append(signum)
        if first and not (signum == signal.SIGINT and _terminal_foreground()):
            child.send_signal(signum)
        elif not first and signum != signal.SIGINT:
            os.write(2, b"\nsaving a checkpoint; please wait\n")

    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1)
    previous = {sig: signal.signal(sig, forward) for sig in signals}
    try:
        code = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
    if received and code:
        return 128 + received[0]
    return code
