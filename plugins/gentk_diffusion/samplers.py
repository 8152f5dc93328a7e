"""Reverse-process samplers: ancestral DDPM, DDIM and a score-based predictor-corrector.

Each draws from an `EpsModel` (a noise prediction with its schedule). They run on a
descending sequence of step indices; a step goes from index t to index s < t, where s = -1 is
the clean sample. Classifier-free guidance lives in the noise prediction (`guided_eps`).
"""

from __future__ import annotations

import abc
from collections.abc import Callable

import attrs
import torch
from torch import Tensor

from gentk_diffusion.schedules import DiffusionSchedule, posterior_between

EpsFn = Callable[[Tensor, Tensor], Tensor]
StepHook = Callable[[int, Tensor], None]


@attrs.frozen
class EpsModel:
    """What the samplers draw from: eps(x_t, t) (B, ...), (B,) -> (B, ...) and its schedule."""

    eps: EpsFn
    schedule: DiffusionSchedule


def guided_eps(denoiser, y: Tensor | None, w: float, null: int) -> EpsFn:
    """eps~ = (1 + w) eps(x, c) - w eps(x) (Ho & Salimans 2022), both branches in one batched
    forward pass. w = 0 is the conditional model; y None is the unconditional model."""
    if y is None or w == 0:
        return lambda x, t: denoiser(x, t, y)

    def eps(x: Tensor, t: Tensor) -> Tensor:
        labels = torch.cat([y, torch.full_like(y, null)])  # (2B,)
        cond, uncond = denoiser(torch.cat([x, x]), torch.cat([t, t]), labels).chunk(2)
        return (1 + w) * cond - w * uncond

    return eps


def step_sequence(num_steps: int, steps: int | None) -> list[int]:
    """Evenly spaced step indices from T-1 down to 0 (all T when steps is None or >= T; one step
    is T-1 alone, straight to the clean sample)."""
    if steps is None or steps >= num_steps:
        return list(range(num_steps - 1, -1, -1))
    idx = torch.linspace(num_steps - 1, 0, steps, dtype=torch.float64).round().long()
    return idx.unique_consecutive().tolist()


class DiffusionSampler(abc.ABC):
    """The shared loop: start from N(0, I) at t = T and apply `step` down the step sequence.

    `on_step(time, x)` sees the start noise at time T and each new state x_time, where time is
    the paper's step number (index + 1; 0 is the final sample)."""

    def __init__(self, cfg):
        self.cfg = cfg

    @torch.no_grad()
    def sample(
        self, model: EpsModel, shape: tuple[int, ...], *, generator: torch.Generator, on_step: StepHook | None = None
    ) -> Tensor:
        sched = model.schedule
        x = torch.randn(shape, generator=generator, device=generator.device).to(sched.device)
        seq = step_sequence(sched.num_steps, self.cfg.steps)
        if on_step is not None:
            on_step(sched.num_steps, x)
        for t, s in zip(seq, seq[1:] + [-1], strict=False):
            x = self.step(model, x, t, s, generator)
            if on_step is not None:
                on_step(s + 1, x)
        return x

    def denoise(self, model: EpsModel, x: Tensor, t: int) -> tuple[Tensor, Tensor, Tensor]:
        """(x0_hat, eps, abar_t) at step index t; x0_hat clipped to [-1, 1] when configured, with
        eps made consistent with the clipped x0_hat."""
        sched = model.schedule
        tt = torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)
        eps = model.eps(x, tt).float()
        abar = sched.alpha_bar(tt[:1]).float()  # (1,)
        x0 = (x - (1 - abar).sqrt() * eps) / abar.sqrt()
        if self.cfg.clip_denoised:
            x0 = x0.clamp(-1, 1)
            eps = (x - abar.sqrt() * x0) / (1 - abar).sqrt()
        return x0, eps, abar

    @abc.abstractmethod
    def step(self, model: EpsModel, x: Tensor, t: int, s: int, generator: torch.Generator) -> Tensor:
        """One reverse step from x at index t to index s."""


def _noise(x: Tensor, generator: torch.Generator) -> Tensor:
    return torch.randn(x.shape, generator=generator, device=generator.device).to(x.device)


class AncestralSampler(DiffusionSampler):
    """x_s ~ N(mu~(x0_hat, x_t), sigma^2 I), sigma^2 = beta or beta~ of the (respaced) step."""

    def step(self, model: EpsModel, x: Tensor, t: int, s: int, generator: torch.Generator) -> Tensor:
        x0, _, _ = self.denoise(model, x, t)
        sched = model.schedule
        abar_t, abar_s = sched.alpha_bar(torch.tensor([t, s], device=x.device))
        mean, var_tilde = posterior_between(x0, x, abar_t, abar_s)
        if s < 0:
            return mean
        var = var_tilde if self.cfg.variance == "beta_tilde" else (1 - abar_t / abar_s).float()
        return mean + var.sqrt() * _noise(x, generator)


class DDIMSampler(DiffusionSampler):
    """x_s = sqrt(abar_s) x0_hat + sqrt(1 - abar_s - sigma^2) eps + sigma z (Song et al. 2021, eq. 12)
    with sigma = eta sqrt((1 - abar_s)/(1 - abar_t)) sqrt(1 - abar_t/abar_s)."""

    def __init__(self, cfg):
        super().__init__(cfg)
        self.eta = cfg.eta

    def step(self, model: EpsModel, x: Tensor, t: int, s: int, generator: torch.Generator) -> Tensor:
        x0, eps, abar_t = self.denoise(model, x, t)
        abar_s = model.schedule.alpha_bar(torch.tensor([s], device=x.device)).float()
        sigma = self.eta * ((1 - abar_s) / (1 - abar_t) * (1 - abar_t / abar_s)).sqrt()
        x = abar_s.sqrt() * x0 + (1 - abar_s - sigma**2).clamp(min=0).sqrt() * eps
        return x + sigma * _noise(x, generator) if self.eta > 0 and s >= 0 else x


class LangevinSampler(DDIMSampler):
    """A deterministic DDIM step (predictor), then Langevin updates at the new noise level using the
    learned score grad log p(x_s) = -eps(x_s, s)/sqrt(1 - abar_s) (corrector)."""

    def __init__(self, cfg):
        DiffusionSampler.__init__(self, cfg)
        self.eta = 0.0

    def step(self, model: EpsModel, x: Tensor, t: int, s: int, generator: torch.Generator) -> Tensor:
        x = super().step(model, x, t, s, generator)
        if s < 0:
            return x
        ss = torch.full((x.shape[0],), s, device=x.device, dtype=torch.long)
        abar_s = model.schedule.alpha_bar(ss[:1]).float()
        for _ in range(self.cfg.corrector_steps):
            score = -model.eps(x, ss).float() / (1 - abar_s).sqrt()
            z = _noise(x, generator)
            a = 2 * (self.cfg.snr * _norm(z) / _norm(score)) ** 2  # (B, 1, ...)
            x = x + a * score + (2 * a).sqrt() * z
        return x


def _norm(x: Tensor) -> Tensor:
    """Per-example Euclidean norm, shaped to broadcast against x."""
    return x.flatten(1).norm(dim=1).reshape((-1,) + (1,) * (x.dim() - 1))
