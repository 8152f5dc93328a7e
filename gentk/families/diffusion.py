"""Denoising diffusion: denoisers, noise schedules, the training loss and samplers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import torch
    from torch import Tensor


@runtime_checkable
class Denoiser(Protocol):
    """The network f_theta(x_t, t, y): noisy images (B, C, H, W), step indices (B,) (integers;
    float for samplers between the training steps, Karras levels say), labels (B,) or None (None,
    or the value `num_classes`, is the null label) -> its prediction (B, C, H, W): the noise eps,
    the clean image x0 or the velocity v, as the objective that trains it says (its `prediction`).
    A model that trains its denoiser needs a torch `nn.Module` (the `ddpm` model checks)."""

    def __call__(self, x: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor: ...


@runtime_checkable
class NoiseSchedule(Protocol):
    """A diffusion noise schedule with its coefficients, indices t = 0..T-1 (index t is the
    paper's step t + 1); tables are float32 (T,) tensors on the schedule's device.

    betas                 beta_t of each step
    posterior_variance    beta~_t = beta_t (1 - abar_{t-1}) / (1 - abar_t), 0 at index 0
    """

    num_steps: int
    device: torch.device
    betas: Tensor
    posterior_variance: Tensor

    def to(self, device: torch.device | str) -> NoiseSchedule:
        """The schedule with its tables on `device` (may be self, moved)."""
        ...

    def alpha_bar(self, t: Tensor) -> Tensor:
        """alpha-bar in float64 at indices t, where index -1 is the clean data (alpha-bar = 1)."""
        ...

    def q_sample(self, x0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        """A draw from q(x_t | x_0): sqrt(abar_t) x0 + sqrt(1 - abar_t) noise."""
        ...

    def q_mean_var(self, x0: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and variance of q(x_t | x_0)."""
        ...

    def posterior(self, x0: Tensor, xt: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and variance of q(x_{t-1} | x_t, x_0)."""
        ...

    def predict_x0(self, xt: Tensor, t: Tensor, eps: Tensor) -> Tensor:
        """The x0 a noise prediction implies: (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)."""
        ...


EpsFn = Callable[["Tensor", "Tensor"], "Tensor"]
"""A noise prediction eps(x_t, t): (B, ...), step indices (B,) -> (B, ...), guidance applied and
converted to eps whatever the denoiser predicts. Indices are integers (long) or, for samplers
between training steps, float32; x_t is always the variance-preserving state
sqrt(abar) x0 + sqrt(1 - abar) eps (a sigma-space sampler divides by sqrt(1 + sigma^2) first)."""

StepHook = Callable[[float, "Tensor"], None]
"""Called with (time, x) at the start (time T) and after each step (time of the new state), where
time is the paper's step number: index + 1 (fractional between training steps), 0 being the final
sample; x is the variance-preserving state whatever space the sampler steps in."""


@runtime_checkable
class DiffusionSampler(Protocol):
    """A reverse-process stepping rule. The sampling loop starts from N(0, I) at the first index
    and calls `step` down `timesteps(schedule)`; a step goes from index t to index s < t, s = -1
    being the clean sample. The state between steps is the variance-preserving x_t. `eps` is the
    (guided) noise prediction the model provides: a sampler never calls the denoiser itself (a
    step may call `eps` more than once: a corrector, Heun's second evaluation). A multistep rule
    may remember the previous step's prediction within one `sample` call."""

    def timesteps(self, schedule: NoiseSchedule) -> Sequence[float]:
        """Step indices visited, descending (integers, or fractional between training steps);
        their number is the number of steps."""
        ...

    def step(
        self, eps: EpsFn, schedule: NoiseSchedule, x: Tensor, t: float, s: float, generator: torch.Generator
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
    images x0 (B, C, H, W) in [-1, 1]; labels y (B,) or None for an unconditional model.
    `prediction` is what it trains the denoiser to predict: "epsilon", "x0" or "v"."""

    prediction: str

    def __call__(
        self, denoiser: Denoiser, schedule: NoiseSchedule, x0: Tensor, y: Tensor | None = None, num_classes: int = 0
    ) -> Tensor: ...


@runtime_checkable
class DiffusionModel(Protocol):
    """A capability of a `Model`: a trained diffusion model as its metrics see it (the `vlb`
    metric). `num_classes` is 0 for an unconditional model; the denoiser reads labels 0..K-1
    and the null label K. `prediction` is what the denoiser predicts ("epsilon", "x0", "v")."""

    schedule: NoiseSchedule
    num_classes: int
    prediction: str

    def eval_denoiser(self) -> Denoiser:
        """The network to evaluate with (the weight average, say), in eval mode."""
        ...
