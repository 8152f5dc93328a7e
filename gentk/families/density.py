"""Sampling and scoring exact densities: Langevin-type samplers and models with a log-density."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import torch
    from torch import Tensor

    from gentk.prob import LangevinResult


@runtime_checkable
class DensitySampler(Protocol):
    """Draws from a differentiable log-density (or an object with `log_prob`) by running chains:
    `run` continues chains from `x0` (persistent chains) or starts them afresh."""

    def run(
        self,
        target: Any,
        shape: tuple[int, ...],
        *,
        generator: torch.Generator,
        x0: Tensor | None = None,
        steps: int | None = None,
        step_size: float | None = None,
    ) -> LangevinResult: ...

    def sample(self, target: Any, shape: tuple[int, ...], *, generator: torch.Generator) -> Tensor: ...
