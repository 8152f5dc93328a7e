"""Backward passes and optimizer steps, as models' train steps call them (`ctx.update`).

In fp32 and bf16 an update is the plain zero_grad / backward / (clip) / step. In fp16 the loss is
scaled before the backward pass so that small gradients do not underflow (torch.amp.GradScaler,
one per optimizer, since optimizers of a model step at different times, e.g. a GAN's critic and
generator): the gradients are unscaled before clipping, a step whose gradients overflowed is
skipped and the scale lowered. The scales are part of the checkpoint, so a resumed run goes on
with the same scale and stays exact.

With several processes, gradients are averaged in each optimizer's step pre-hook (see
gentk.distributed); in fp16 that would come after the scaler's local overflow check, so processes
could disagree on skipping a step. Here the average is taken first, before unscaling, and the hook
is told not to average again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

import torch
from torch import Tensor

from gentk.distributed import AVERAGED
from gentk.errors import GentkError
from gentk.interfaces import Optimizer, parameters_of


class ScaledUpdates:
    """fp16 updates with a dynamic loss scale per optimizer; `average` (several processes) averages
    an optimizer's gradients over processes in place."""

    def __init__(
        self,
        device: torch.device,
        optimizers: Mapping[str, Optimizer],
        average: Callable[[Optimizer], None] | None = None,
    ):
        for name, opt in optimizers.items():
            if not isinstance(opt, torch.optim.Optimizer):
                raise GentkError(
                    f"precision = 'fp16' scales the loss through torch.amp, which needs torch optimizers; "
                    f"optimizer {name!r} is a {type(opt).__name__}",
                    hint="use precision = 'bf16' or 'fp32' with this model",
                )
        self.names = {id(opt): name for name, opt in optimizers.items()}
        self.scalers = {name: torch.amp.GradScaler(device.type) for name in optimizers}
        self.average = average

    def __call__(self, loss: Tensor, optimizer: Optimizer, clip_norm: float | None = None) -> Tensor | None:
        scaler = self.scalers[self.names[id(optimizer)]]
        torch_optimizer = cast(torch.optim.Optimizer, optimizer)  # checked in __init__
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if self.average is not None:
            self.average(optimizer)
            setattr(optimizer, AVERAGED, True)
        norm = None
        if clip_norm is not None:
            scaler.unscale_(torch_optimizer)
            norm = torch.nn.utils.clip_grad_norm_(parameters_of(optimizer), clip_norm)
        scaler.step(torch_optimizer)  # skipped when the gradients overflowed
        scaler.update()
        setattr(optimizer, AVERAGED, False)
        if norm is not None:  # a skipped step's norm is inf: report 0 rather than stop the run
            norm = torch.where(torch.isfinite(norm), norm, torch.zeros_like(norm))
        return norm

    def state_dict(self) -> dict[str, Any]:
        return {name: scaler.state_dict() for name, scaler in self.scalers.items()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for name, scaler in self.scalers.items():
            if name in state:
                scaler.load_state_dict(state[name])
