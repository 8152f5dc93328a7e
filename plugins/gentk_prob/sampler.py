"""The `langevin` sampler component: `gentk.prob.langevin_run` with its settings from a recipe."""

import torch
from torch import Tensor

from gentk.prob import LangevinResult, Target, langevin_run
from gentk_prob.configs import LangevinConfig


class LangevinSampler:
    """Samples a log-density ((B, ...) -> (B,), or a `LogDensity` object) or a score function
    ((B, ...) -> ∇log p) by Langevin dynamics, or MALA when configured (a `DensitySampler`)."""

    def __init__(self, cfg: LangevinConfig):
        self.cfg = cfg

    def run(
        self,
        target: Target,
        shape: tuple[int, ...],
        *,
        generator: torch.Generator,
        x0: Tensor | None = None,
        steps: int | None = None,
        step_size: float | None = None,
    ) -> LangevinResult:
        """Chains of `shape` (B, ...) from x0, or from N(0, init_std² I) on the generator's device."""
        if x0 is None:
            x0 = self.cfg.init_std * torch.randn(shape, generator=generator, device=generator.device)
        return langevin_run(
            target,
            x0,
            step_size or self.cfg.step_size,
            self.cfg.steps if steps is None else steps,
            generator,
            self.cfg.mala,
        )

    def sample(
        self, target: Target, shape: tuple[int, ...], *, generator: torch.Generator, steps: int | None = None
    ) -> Tensor:
        """The final states (B, ...) of fresh chains of `shape`."""
        return self.run(target, shape, generator=generator, steps=steps).samples
