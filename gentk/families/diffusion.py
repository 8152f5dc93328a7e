"""Denoising diffusion: denoisers, noise schedules, the training loss and samplers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import torch
    from torch import Tensor


@runtime_checkable
class Denoiser(Protocol):
    """eps_theta(x_t, t, y): noisy images (B, C, H, W), integer step indices (B,), labels (B,) or
    None (None, or the value `num_classes`, is the null label) -> predicted noise (B, C, H, W)."""

    def __call__(self, x: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor: ...


@runtime_checkable
class NoiseSchedule(Protocol):
    """A diffusion noise schedule with its coefficients, indices t = 0..T-1 (index t is the
    paper's step t + 1); tables are float32 (T,) tensors on the schedule's device."""

    num_steps: int
    device: torch.device
    betas: Tensor
    alphas_cumprod: Tensor

    def to(self, device: torch.device | str) -> NoiseSchedule: ...

    def alpha_bar(self, t: Tensor) -> Tensor:
        """alpha-bar in float64 at indices t, where index -1 is the clean data (alpha-bar = 1)."""
        ...

    def q_sample(self, x0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        """A draw from q(x_t | x_0)."""
        ...

    def q_mean_var(self, x0: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and variance of q(x_t | x_0)."""
        ...

    def posterior(self, x0: Tensor, xt: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and variance of q(x_{t-1} | x_t, x_0)."""
        ...


EpsFn = Callable[["Tensor", "Tensor"], "Tensor"]
"""A noise prediction eps(x_t, t): (B, ...), (B,) -> (B, ...), guidance already applied."""

StepHook = Callable[[int, "Tensor"], None]
"""Called with (time, x) at the start (time T) and after each step (time of the new state)."""


@runtime_checkable
class DiffusionSampler(Protocol):
    """A reverse-process stepping rule. The sampling loop starts from N(0, I) at index T-1 and
    calls `step` down `timesteps(T)`; a step goes from index t to index s < t, s = -1 being the
    clean sample. `eps` is the (guided) noise prediction the model provides."""

    def timesteps(self, num_steps: int) -> Sequence[int]:
        """Step indices visited, descending from T-1."""
        ...

    def step(
        self, eps: EpsFn, schedule: NoiseSchedule, x: Tensor, t: int, s: int, generator: torch.Generator
    ) -> Tensor:
        """One reverse step from x at index t to index s."""
        ...

    def sample(
        self,
        eps: EpsFn,
        schedule: NoiseSchedule,
        shape: tuple[int, ...],
        *,
        generator: torch.Generator,
        on_step: StepHook | None = None,
    ) -> Tensor:
        """The whole loop: noise of `shape` -> samples in the model's space ([-1, 1] images)."""
        ...


@runtime_checkable
class DiffusionObjective(Protocol):
    """The training loss: `objective(denoiser, schedule, x0, y, num_classes)` -> a 0-dim loss on
    images x0 (B, C, H, W) in [-1, 1]; labels y (B,) or None for an unconditional model."""

    def __call__(
        self, denoiser: Denoiser, schedule: NoiseSchedule, x0: Tensor, y: Tensor | None = None, num_classes: int = 0
    ) -> Tensor: ...


@runtime_checkable
class DiffusionModel(Protocol):
    """A trained diffusion model as its metrics see it (the `vlb` metric)."""

    schedule: NoiseSchedule
    num_classes: int

    def eval_denoiser(self) -> Denoiser: ...
