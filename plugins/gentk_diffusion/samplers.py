"""Reverse-process stepping rules: ancestral DDPM, DDIM and a score-based predictor-corrector.

Each implements `DiffusionSampler`: it draws from a noise prediction eps(x_t, t) and a
`NoiseSchedule`, and never calls the denoiser network itself. The model supplies eps, with
classifier-free guidance applied by `guided_eps`, the one guided prediction every sampler uses.
They run on a descending sequence of step indices; a step goes from index t to index s < t,
where s = -1 is the clean sample.
"""

from __future__ import annotations

import abc

import torch
from torch import Tensor

from gentk.families.diffusion import Denoiser, EpsFn, NoiseSchedule, StepHook
from gentk_diffusion.configs import AncestralConfig, DDIMConfig, PredictorCorrectorConfig
from gentk_diffusion.schedules import posterior_between


def guided_eps(denoiser: Denoiser, y: Tensor | None, w: float, null: int) -> EpsFn:
    """eps~ = (1 + w) eps(x, c) - w eps(x) (Ho & Salimans 2022), both branches in one batched
    forward pass. w = 0 is the conditional model; y None is the unconditional model."""
    if y is None or w == 0:
        return lambda x, t: denoiser(x, t, y)
    labels = torch.cat([y, torch.full_like(y, null)])  # (2B,)

    def eps(x: Tensor, t: Tensor) -> Tensor:
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


class SteppingRule(abc.ABC):
    """The shared loop of the samplers here: start from N(0, I) at t = T and apply `step` down
    `timesteps(T)`, `steps` evenly spaced indices. Subclasses define `step`.

    `on_step(time, x)` sees the start noise at time T and each new state x_time, where time is
    the paper's step number (index + 1; 0 is the final sample)."""

    def __init__(self, steps: int | None, clip_denoised: bool):
        self.steps = steps
        self.clip_denoised = clip_denoised

    def timesteps(self, num_steps: int) -> list[int]:
        return step_sequence(num_steps, self.steps)

    @abc.abstractmethod
    def step(
        self, eps: EpsFn, schedule: NoiseSchedule, x: Tensor, t: int, s: int, generator: torch.Generator
    ) -> Tensor:
        """One reverse step from x at index t to index s < t (s = -1: the clean sample)."""

    @torch.no_grad()
    def sample(
        self,
        eps: EpsFn,
        schedule: NoiseSchedule,
        shape: tuple[int, ...],
        *,
        generator: torch.Generator,
        on_step: StepHook | None = None,
    ) -> Tensor:
        x = torch.randn(shape, generator=generator, device=generator.device).to(schedule.device)
        seq = self.timesteps(schedule.num_steps)
        if on_step is not None:
            on_step(schedule.num_steps, x)
        for t, s in zip(seq, seq[1:] + [-1], strict=True):
            x = self.step(eps, schedule, x, t, s, generator)
            if on_step is not None:
                on_step(s + 1, x)
        return x

    def denoise(self, eps: EpsFn, schedule: NoiseSchedule, x: Tensor, t: int) -> tuple[Tensor, Tensor, Tensor]:
        """(x0_hat, eps, abar_t) at step index t; x0_hat clipped to [-1, 1] when configured, with
        eps made consistent with the clipped x0_hat."""
        tt = torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)
        e = eps(x, tt).float()
        abar = schedule.alpha_bar(tt[:1]).float()  # (1,)
        x0 = (x - (1 - abar).sqrt() * e) / abar.sqrt()
        if self.clip_denoised:
            x0 = x0.clamp(-1, 1)
            e = (x - abar.sqrt() * x0) / (1 - abar).sqrt()
        return x0, e, abar


def _noise(x: Tensor, generator: torch.Generator) -> Tensor:
    return torch.randn(x.shape, generator=generator, device=generator.device).to(x.device)


class AncestralSampler(SteppingRule):
    """x_s ~ N(mu~(x0_hat, x_t), sigma^2 I), sigma^2 = beta or beta~ of the (respaced) step."""

    def __init__(self, cfg: AncestralConfig):
        super().__init__(cfg.steps, cfg.clip_denoised)
        self.variance = cfg.variance

    def step(
        self, eps: EpsFn, schedule: NoiseSchedule, x: Tensor, t: int, s: int, generator: torch.Generator
    ) -> Tensor:
        x0, _, _ = self.denoise(eps, schedule, x, t)
        abar_t, abar_s = schedule.alpha_bar(torch.tensor([t, s], device=x.device))
        mean, var_tilde = posterior_between(x0, x, abar_t, abar_s)
        if s < 0:
            return mean
        var = var_tilde if self.variance == "beta_tilde" else (1 - abar_t / abar_s).float()
        return mean + var.sqrt() * _noise(x, generator)


def ddim_update(
    x0: Tensor, eps: Tensor, abar_t: Tensor, abar_s: Tensor, eta: float, s: int, generator: torch.Generator
) -> Tensor:
    """x_s = sqrt(abar_s) x0_hat + sqrt(1 - abar_s - sigma^2) eps + sigma z (Song et al. 2021, eq. 12)
    with sigma = eta sqrt((1 - abar_s)/(1 - abar_t)) sqrt(1 - abar_t/abar_s); float32 alpha-bars (1,)."""
    sigma = eta * ((1 - abar_s) / (1 - abar_t) * (1 - abar_t / abar_s)).sqrt()
    x = abar_s.sqrt() * x0 + (1 - abar_s - sigma**2).clamp(min=0).sqrt() * eps
    return x + sigma * _noise(x, generator) if eta > 0 and s >= 0 else x


class DDIMSampler(SteppingRule):
    """DDIM (Song, Meng & Ermon 2021): the step of `ddim_update`; eta = 0 is deterministic."""

    def __init__(self, cfg: DDIMConfig):
        super().__init__(cfg.steps, cfg.clip_denoised)
        self.eta = cfg.eta

    def step(
        self, eps: EpsFn, schedule: NoiseSchedule, x: Tensor, t: int, s: int, generator: torch.Generator
    ) -> Tensor:
        x0, e, abar_t = self.denoise(eps, schedule, x, t)
        abar_s = schedule.alpha_bar(torch.tensor([s], device=x.device)).float()
        return ddim_update(x0, e, abar_t, abar_s, self.eta, s, generator)


class PredictorCorrectorSampler(SteppingRule):
    """A deterministic DDIM step (predictor), then Langevin updates at the new noise level using the
    learned score grad log p(x_s) = -eps(x_s, s)/sqrt(1 - abar_s) (corrector)."""

    def __init__(self, cfg: PredictorCorrectorConfig):
        super().__init__(cfg.steps, cfg.clip_denoised)
        self.corrector_steps = cfg.corrector_steps
        self.snr = cfg.snr

    def step(
        self, eps: EpsFn, schedule: NoiseSchedule, x: Tensor, t: int, s: int, generator: torch.Generator
    ) -> Tensor:
        x0, e, abar_t = self.denoise(eps, schedule, x, t)
        abar_s = schedule.alpha_bar(torch.tensor([s], device=x.device)).float()
        x = ddim_update(x0, e, abar_t, abar_s, 0.0, s, generator)
        if s < 0:
            return x
        ss = torch.full((x.shape[0],), s, device=x.device, dtype=torch.long)
        abar_s = schedule.alpha_bar(ss[:1]).float()
        for _ in range(self.corrector_steps):
            score = -eps(x, ss).float() / (1 - abar_s).sqrt()
            z = _noise(x, generator)
            a = 2 * (self.snr * _norm(z) / _norm(score)) ** 2  # (B, 1, ...)
            x = x + a * score + (2 * a).sqrt() * z
        return x


def _norm(x: Tensor) -> Tensor:
    """Per-example Euclidean norm, shaped to broadcast against x."""
    return x.flatten(1).norm(dim=1).reshape((-1,) + (1,) * (x.dim() - 1))
