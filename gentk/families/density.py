"""Sampling and scoring exact densities: Langevin-type samplers, and datasets whose points come
from a known density."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from gentk.interfaces import Dataset, LogDensity

if TYPE_CHECKING:
    import torch
    from torch import Tensor

    from gentk.prob import LangevinResult


@runtime_checkable
class DensitySampler(Protocol):
    """Draws from an exact, differentiable log-density by running chains (shape (B, ...)).

    `run` continues chains from `x0` (B, ...) (persistent chains), or starts fresh ones of `shape`
    when `x0` is None, for `steps` steps (None: the sampler's own number; 0: only the start); its
    result holds the final states `samples` (B, ...) and, for Metropolis-adjusted samplers, the
    share of accepted proposals (`acceptance`, else None). `sample` runs fresh chains of `shape`
    and returns their final states."""

    def run(
        self,
        target: LogDensity,
        shape: tuple[int, ...],
        *,
        generator: torch.Generator,
        x0: Tensor | None = None,
        steps: int | None = None,
    ) -> LangevinResult: ...

    def sample(
        self, target: LogDensity, shape: tuple[int, ...], *, generator: torch.Generator, steps: int | None = None
    ) -> Tensor: ...


@runtime_checkable
class ExactDensityDataset(Dataset, Protocol):
    """A dataset whose points are drawn from a density known exactly (the toy 2-D Gaussian
    mixtures, say): `density()` is that density, for scoring samples against the truth, as a
    Langevin target, or to check the data themselves."""

    def density(self) -> LogDensity: ...
