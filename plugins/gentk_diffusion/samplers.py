"""Reverse-process stepping rules: ancestral DDPM, DDIM, a score-based predictor-corrector, and
the sigma-space solvers Euler, Euler-ancestral, Heun and DPM-Solver++ 2M.

Each implements `DiffusionSampler`: it draws from a noise prediction eps(x_t, t) and a
`NoiseSchedule`, and never calls the denoiser network itself. The model supplies eps, with
classifier-free guidance applied by `guided_eps` and the parameterization converted by
`eps_from` (the one guided prediction every sampler uses). They run on a descending sequence of
step indices; a step goes from index t to index s < t, where s = -1 is the clean sample.

Conventions (the same as diffusers' schedulers, whose names the options follow):

- The state between steps is always the variance-preserving x_t = sqrt(abar) x0 +
  sqrt(1 - abar) eps, and the network sees it as it is.
- Sigma-space solvers (Euler, Euler-ancestral, Heun) step x = x_t / sqrt(abar) = x0 + sigma eps
  with sigma = sqrt((1 - abar) / abar), i.e. x = x_t sqrt(1 + sigma^2) (Karras et al. 2022;
  diffusers' `scale_model_input` divides by sqrt(sigma^2 + 1)). DPM-Solver++ works on x_t with
  alpha = 1 / sqrt(1 + sigma^2), sigma_t = sigma alpha and lambda = log(alpha / sigma_t).
- The start is x_t ~ N(0, I) at the first step, i.e. sigma-space noise of standard deviation
  sqrt(1 + sigma_max^2) (diffusers' `init_noise_sigma` for leading spacing; for linspace and
  trailing diffusers uses sigma_max, a relative difference below 1 / (2 sigma_max^2)).
- Steps at fractional indices (Euler's linspace spacing, Karras levels) pass the fractional
  index, as float32, to the network, as diffusers does.
"""

from __future__ import annotations

import abc
import math

import torch
from torch import Tensor

from gentk.families.diffusion import Denoiser, EpsFn, NoiseSchedule, StepHook
from gentk_diffusion.configs import (
    AncestralConfig,
    DDIMConfig,
    DPMSolverConfig,
    EulerAncestralConfig,
    EulerConfig,
    HeunConfig,
    PredictorCorrectorConfig,
)
from gentk_diffusion.parameterization import to_eps
from gentk_diffusion.schedules import alpha_bar_at, interpolated_sigma, posterior_between, sigma_table, sigma_to_t

KARRAS_RHO = 7.0


def guided_eps(denoiser: Denoiser, y: Tensor | None, w: float, null: int) -> EpsFn:
    """(1 + w) f(x, c) - w f(x) (Ho & Salimans 2022; diffusers' guidance_scale is w + 1), both
    branches in one batched forward pass, on the denoiser's raw output f (whatever it predicts:
    the combination is the same in every parameterization, see `parameterization`). w = 0 is the
    conditional model; y None is the unconditional model."""
    if y is None or w == 0:
        return lambda x, t: denoiser(x, t, y)
    labels = torch.cat([y, torch.full_like(y, null)])  # (2B,)

    def eps(x: Tensor, t: Tensor) -> Tensor:
        cond, uncond = denoiser(torch.cat([x, x]), torch.cat([t, t]), labels).chunk(2)
        return (1 + w) * cond - w * uncond

    return eps


def eps_from(predict: EpsFn, prediction: str, schedule: NoiseSchedule) -> EpsFn:
    """The noise prediction implied by a (guided) network output of parameterization `prediction`
    at x_t; alpha-bar at fractional indices as `alpha_bar_at` interpolates it."""
    if prediction == "epsilon":
        return predict

    def eps(x: Tensor, t: Tensor) -> Tensor:
        abar = alpha_bar_at(schedule, t).reshape((-1,) + (1,) * (x.dim() - 1))
        return to_eps(prediction, predict(x, t).float(), x, abar)

    return eps


def spaced_timesteps(
    num_steps: int, steps: int | None, spacing: str = "linspace", *, rounded: bool = True
) -> list[float]:
    """`steps` indices among T = num_steps, descending, as diffusers' `timestep_spacing`:

    linspace   evenly from T-1 to 0 (rounded to integers unless `rounded` is false)
    leading    0, T//N, 2 T//N, ... reversed (diffusers' steps_offset = 0)
    trailing   T - 1, T - 1 - T/N, ... rounded (Lin et al. 2024, table 2)

    None or N >= T: every index. One linspace step is T-1 alone."""
    if steps is None or steps >= num_steps:
        return [float(t) for t in range(num_steps - 1, -1, -1)]
    n = steps
    if spacing == "linspace":
        if n == 1:
            return [float(num_steps - 1)]
        gap = (num_steps - 1) / (n - 1)
        values = [i * gap for i in range(n - 1)] + [float(num_steps - 1)]
        values = [float(round(v)) for v in values] if rounded else values
    elif spacing == "leading":
        values = [float(i * (num_steps // n)) for i in range(n)]
    elif spacing == "trailing":
        gap = num_steps / n
        count = math.ceil(num_steps / gap)
        values = [float(round(num_steps - i * gap) - 1) for i in range(count)][::-1]
    else:
        raise ValueError(f"unknown spacing {spacing!r}: linspace, leading or trailing")
    return values[::-1]


def step_sequence(num_steps: int, steps: int | None) -> list[int]:
    """Evenly spaced integer step indices from T-1 down to 0 (linspace spacing)."""
    return [int(t) for t in spaced_timesteps(num_steps, steps, "linspace")]


def karras_sigmas(sigma_min: float, sigma_max: float, n: int, rho: float = KARRAS_RHO) -> list[float]:
    """n noise levels from sigma_max down to sigma_min, evenly spaced in sigma^(1/rho) (Karras et al.
    2022, eq. 5)."""
    if n == 1:
        return [sigma_max]
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return [(hi + i / (n - 1) * (lo - hi)) ** rho for i in range(n)]


def threshold_x0(x0: Tensor, clip: bool, ratio: float | None) -> Tensor:
    """x0 clipped to [-1, 1] (clip), or dynamically thresholded (ratio p, Saharia et al. 2022):
    s = max(1, p-quantile of |x0| per example), x0 <- clamp(x0, -s, s) / s."""
    if ratio is not None:
        s = torch.quantile(x0.flatten(1).abs().float(), ratio, dim=1).clamp(min=1)
        s = s.reshape((-1,) + (1,) * (x0.dim() - 1)).to(x0.dtype)
        return torch.clamp(x0, -s, s) / s
    return x0.clamp(-1, 1) if clip else x0


def _noise(x: Tensor, generator: torch.Generator) -> Tensor:
    return torch.randn(x.shape, generator=generator, device=generator.device).to(x.device)


def _index(x: Tensor, t: float, integer: bool) -> Tensor:
    """The step index t as a batch (B,): long for integer grids, float32 otherwise."""
    if integer:
        return torch.full((x.shape[0],), int(t), device=x.device, dtype=torch.long)
    return torch.full((x.shape[0],), t, device=x.device, dtype=torch.float32)


class SteppingRule(abc.ABC):
    """The shared loop of the samplers here: start from N(0, I) at the first index and apply
    `step` down `timesteps(schedule)`. Subclasses define `step` (and may override `timesteps`).

    `on_step(time, x)` sees the start noise at time T and each new state x_time, where time is
    the paper's step number (index + 1; 0 is the final sample)."""

    integer_steps = True  # indices passed to the network are integers (long)

    def __init__(
        self, steps: int | None, clip_denoised: bool, spacing: str = "linspace", dynamic_threshold: float | None = None
    ):
        self.steps = steps
        self.clip_denoised = clip_denoised
        self.spacing = spacing
        self.dynamic_threshold = dynamic_threshold

    def timesteps(self, schedule: NoiseSchedule) -> list[float]:
        return spaced_timesteps(schedule.num_steps, self.steps, self.spacing)

    def begin(self) -> None:  # noqa: B027 (a hook: most rules remember nothing)
        """Forget anything remembered from an earlier trajectory (multistep rules)."""

    @abc.abstractmethod
    def step(
        self, eps: EpsFn, schedule: NoiseSchedule, x: Tensor, t: float, s: float, generator: torch.Generator
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
        seq = list(self.timesteps(schedule))
        if on_step is not None:
            on_step(schedule.num_steps, x)
        self.begin()
        for t, s in zip(seq, seq[1:] + [-1.0], strict=True):
            x = self.step(eps, schedule, x, t, s, generator)
            if on_step is not None:
                on_step(s + 1, x)
        return x

    def alpha_bar(self, schedule: NoiseSchedule, t: float) -> Tensor:
        """alpha-bar at index t, a float64 0-dim tensor (1 at index -1)."""
        return schedule.alpha_bar(torch.tensor([int(t)], device=schedule.device))[0].double()

    def denoise(self, eps: EpsFn, schedule: NoiseSchedule, x: Tensor, t: float) -> tuple[Tensor, Tensor, Tensor]:
        """(x0_hat, eps, abar_t) at step index t; x0_hat clipped or thresholded when configured,
        with eps made consistent with it. The coefficients are float64, cast to x's dtype."""
        e = eps(x, _index(x, t, True)).float()
        abar = self.alpha_bar(schedule, t)
        a, s = abar.sqrt().to(x.dtype), (1 - abar).sqrt().to(x.dtype)
        x0 = (x - s * e) / a
        if self.clip_denoised or self.dynamic_threshold is not None:
            x0 = threshold_x0(x0, self.clip_denoised, self.dynamic_threshold)
            e = (x - a * x0) / s
        return x0, e, abar


class AncestralSampler(SteppingRule):
    """x_s ~ N(mu~(x0_hat, x_t), sigma^2 I), sigma^2 = beta or beta~ of the (respaced) step."""

    def __init__(self, cfg: AncestralConfig):
        super().__init__(cfg.steps, cfg.clip_denoised, cfg.spacing, cfg.dynamic_threshold)
        self.variance = cfg.variance

    def step(
        self, eps: EpsFn, schedule: NoiseSchedule, x: Tensor, t: float, s: float, generator: torch.Generator
    ) -> Tensor:
        x0, _, abar_t = self.denoise(eps, schedule, x, t)
        abar_s = self.alpha_bar(schedule, s)
        mean, var_tilde = posterior_between(x0, x, abar_t, abar_s)
        if s < 0:
            return mean
        var = var_tilde if self.variance == "beta_tilde" else (1 - abar_t / abar_s).to(x.dtype)
        return mean + var.sqrt() * _noise(x, generator)


def ddim_update(
    x0: Tensor, eps: Tensor, abar_t: Tensor, abar_s: Tensor, eta: float, s: float, generator: torch.Generator
) -> Tensor:
    """x_s = sqrt(abar_s) x0_hat + sqrt(1 - abar_s - sigma^2) eps + sigma z (Song et al. 2021, eq. 12)
    with sigma = eta sqrt((1 - abar_s)/(1 - abar_t)) sqrt(1 - abar_t/abar_s); float64 alpha-bars."""
    abar_t, abar_s = abar_t.double(), abar_s.double()
    sigma = eta * ((1 - abar_s) / (1 - abar_t) * (1 - abar_t / abar_s)).sqrt()
    direction = (1 - abar_s - sigma**2).clamp(min=0).sqrt()
    x = abar_s.sqrt().to(x0.dtype) * x0 + direction.to(x0.dtype) * eps
    return x + sigma.to(x.dtype) * _noise(x, generator) if eta > 0 and s >= 0 else x


class DDIMSampler(SteppingRule):
    """DDIM (Song, Meng & Ermon 2021): the step of `ddim_update`; eta = 0 is deterministic."""

    def __init__(self, cfg: DDIMConfig):
        super().__init__(cfg.steps, cfg.clip_denoised, cfg.spacing, cfg.dynamic_threshold)
        self.eta = cfg.eta

    def step(
        self, eps: EpsFn, schedule: NoiseSchedule, x: Tensor, t: float, s: float, generator: torch.Generator
    ) -> Tensor:
        x0, e, abar_t = self.denoise(eps, schedule, x, t)
        return ddim_update(x0, e, abar_t, self.alpha_bar(schedule, s), self.eta, s, generator)


class PredictorCorrectorSampler(SteppingRule):
    """A deterministic DDIM step (predictor), then Langevin updates at the new noise level using the
    learned score grad log p(x_s) = -eps(x_s, s)/sqrt(1 - abar_s) (corrector)."""

    def __init__(self, cfg: PredictorCorrectorConfig):
        super().__init__(cfg.steps, cfg.clip_denoised, cfg.spacing, cfg.dynamic_threshold)
        self.corrector_steps = cfg.corrector_steps
        self.snr = cfg.snr

    def step(
        self, eps: EpsFn, schedule: NoiseSchedule, x: Tensor, t: float, s: float, generator: torch.Generator
    ) -> Tensor:
        x0, e, abar_t = self.denoise(eps, schedule, x, t)
        abar_s = self.alpha_bar(schedule, s)
        x = ddim_update(x0, e, abar_t, abar_s, 0.0, s, generator)
        if s < 0:
            return x
        ss = _index(x, s, True)
        noise_std = (1 - abar_s).sqrt().to(x.dtype)
        for _ in range(self.corrector_steps):
            score = -eps(x, ss).float() / noise_std
            z = _noise(x, generator)
            a = 2 * (self.snr * _norm(z) / _norm(score)) ** 2  # (B, 1, ...)
            x = x + a * score + (2 * a).sqrt() * z
        return x


def _norm(x: Tensor) -> Tensor:
    """Per-example Euclidean norm, shaped to broadcast against x."""
    return x.flatten(1).norm(dim=1).reshape((-1,) + (1,) * (x.dim() - 1))


# -- sigma space ------------------------------------------------------------------------------------
class SigmaStepper(SteppingRule):
    """The noise levels of the sigma-space solvers: `steps` spaced indices (fractional for
    linspace) with sigma interpolated linearly, or Karras levels between the first and last of
    them placed at the fractional indices whose log sigma interpolates to them (diffusers'
    `use_karras_sigmas`). `sigma(schedule, t)` is the level at index t, 0 at t = -1."""

    integer_steps = False
    karras_full_range = False  # Karras levels span the whole schedule (DPM-Solver) or the spaced steps

    def __init__(self, cfg: EulerConfig | EulerAncestralConfig | HeunConfig | DPMSolverConfig):
        super().__init__(cfg.steps, cfg.clip_denoised, cfg.spacing, cfg.dynamic_threshold)
        self.karras = cfg.karras
        self._tables: dict[int, Tensor] = {}

    def table(self, schedule: NoiseSchedule) -> Tensor:
        key = id(schedule)
        if key not in self._tables:
            self._tables = {key: sigma_table(schedule)}
        return self._tables[key]

    def spaced(self, schedule: NoiseSchedule) -> list[float]:
        return spaced_timesteps(schedule.num_steps, self.steps, self.spacing, rounded=False)

    def timesteps(self, schedule: NoiseSchedule) -> list[float]:
        ts = self.spaced(schedule)
        if not self.karras:
            return ts
        table = self.table(schedule)
        if self.karras_full_range:
            lo, hi = float(table[0]), float(table[-1])
        else:
            lo, hi = interpolated_sigma(table, ts[-1]), interpolated_sigma(table, ts[0])
        return [sigma_to_t(table, sigma) for sigma in karras_sigmas(lo, hi, len(ts))]

    def sigma(self, schedule: NoiseSchedule, t: float) -> float:
        return interpolated_sigma(self.table(schedule), t, log=self.karras)

    def x0_of(self, eps: EpsFn, schedule: NoiseSchedule, x: Tensor, t: float, sigma: float) -> Tensor:
        """x0_hat in sigma space at index t: x - sigma eps(x_t, t), x = x_t sqrt(1 + sigma^2)."""
        e = eps(x / math.sqrt(1 + sigma**2), _index(x, t, False)).float()
        x0 = x - sigma * e
        if self.clip_denoised or self.dynamic_threshold is not None:
            x0 = threshold_x0(x0, self.clip_denoised, self.dynamic_threshold)
        return x0


class EulerSampler(SigmaStepper):
    """Euler on dx/dsigma = (x - x0_hat)/sigma (diffusers' EulerDiscreteScheduler, s_churn = 0)."""

    def step(
        self, eps: EpsFn, schedule: NoiseSchedule, x: Tensor, t: float, s: float, generator: torch.Generator
    ) -> Tensor:
        sig_t, sig_s = self.sigma(schedule, t), self.sigma(schedule, s)
        xs = x * math.sqrt(1 + sig_t**2)
        derivative = (xs - self.x0_of(eps, schedule, xs, t, sig_t)) / sig_t
        return (xs + derivative * (sig_s - sig_t)) / math.sqrt(1 + sig_s**2)


class EulerAncestralSampler(SigmaStepper):
    """Euler to sigma_down, then noise of standard deviation sigma_up (diffusers'
    EulerAncestralDiscreteScheduler; k-diffusion's sample_euler_ancestral with eta = 1)."""

    def step(
        self, eps: EpsFn, schedule: NoiseSchedule, x: Tensor, t: float, s: float, generator: torch.Generator
    ) -> Tensor:
        sig_t, sig_s = self.sigma(schedule, t), self.sigma(schedule, s)
        xs = x * math.sqrt(1 + sig_t**2)
        sig_up = math.sqrt(sig_s**2 * (sig_t**2 - sig_s**2) / sig_t**2)
        sig_down = math.sqrt(sig_s**2 - sig_up**2)
        derivative = (xs - self.x0_of(eps, schedule, xs, t, sig_t)) / sig_t
        xs = xs + derivative * (sig_down - sig_t)
        if s >= 0:
            xs = xs + _noise(xs, generator) * sig_up
        return xs / math.sqrt(1 + sig_s**2)


class HeunSampler(SigmaStepper):
    """Heun's method (Karras et al. 2022, alg. 1): Euler to sigma_s, a second evaluation there, the
    mean slope; Euler on the last step to sigma = 0 and on steps from above
    `second_order_max_sigma` (without it, diffusers' HeunDiscreteScheduler)."""

    def __init__(self, cfg: HeunConfig):
        super().__init__(cfg)
        self.second_order_max_sigma = cfg.second_order_max_sigma

    def step(
        self, eps: EpsFn, schedule: NoiseSchedule, x: Tensor, t: float, s: float, generator: torch.Generator
    ) -> Tensor:
        sig_t, sig_s = self.sigma(schedule, t), self.sigma(schedule, s)
        xs = x * math.sqrt(1 + sig_t**2)
        dt = sig_s - sig_t
        derivative = (xs - self.x0_of(eps, schedule, xs, t, sig_t)) / sig_t
        guess = xs + derivative * dt
        limit = self.second_order_max_sigma
        if sig_s > 0 and (limit is None or sig_t <= limit):
            second = (guess - self.x0_of(eps, schedule, guess, s, sig_s)) / sig_s
            guess = xs + (derivative + second) / 2 * dt
        return guess / math.sqrt(1 + sig_s**2)


class DPMSolverSampler(SigmaStepper):
    """DPM-Solver++ 2M (Lu et al. 2022, alg. 2; diffusers' DPMSolverMultistepScheduler with
    algorithm_type = "dpmsolver++", solver_order = 2, solver_type = "midpoint"). With alpha_t =
    1/sqrt(1 + sigma^2), sigma_t = sigma alpha_t, lambda = log(alpha_t / sigma_t) and h = lambda_s -
    lambda_t: x_s = (sigma_s/sigma_t) x - alpha_s (e^-h - 1)(D0 + D1/2), D0 = x0_hat(t), D1 =
    (h/h_0)(x0_hat(t) - x0_hat(t_prev)). The first step (no previous prediction) and the last
    (to sigma = 0, which gives x0_hat) are first order. The previous prediction is remembered
    within one `sample` call."""

    karras_full_range = True

    def __init__(self, cfg: DPMSolverConfig):
        super().__init__(cfg)
        self._last: tuple[float, float, Tensor] | None = None  # (previous t, its end index, x0_hat)

    def begin(self) -> None:
        self._last = None

    def spaced(self, schedule: NoiseSchedule) -> list[float]:
        """diffusers' DPMSolverMultistepScheduler spacing: linspace and leading place N + 1 points
        and drop the last (t = 0), trailing is the common one."""
        T, n = schedule.num_steps, self.steps
        assert n is not None
        if self.spacing == "trailing" or n >= T:
            return spaced_timesteps(T, n, self.spacing)
        if self.spacing == "linspace":
            gap = (T - 1) / n
            values = [float(round(i * gap)) for i in range(n)] + [float(T - 1)]
        else:
            values = [float(i * (T // (n + 1))) for i in range(n + 1)]
        return values[::-1][:-1]

    @staticmethod
    def _alpha_sigma(sigma: float) -> tuple[float, float]:
        alpha = 1 / math.sqrt(sigma**2 + 1)
        return alpha, sigma * alpha

    def step(
        self, eps: EpsFn, schedule: NoiseSchedule, x: Tensor, t: float, s: float, generator: torch.Generator
    ) -> Tensor:
        sig_t, sig_s = self.sigma(schedule, t), self.sigma(schedule, s)
        alpha_t, vp_t = self._alpha_sigma(sig_t)
        e = eps(x, _index(x, t, False)).float()
        x0 = (x - vp_t * e) / alpha_t
        if self.clip_denoised or self.dynamic_threshold is not None:
            x0 = threshold_x0(x0, self.clip_denoised, self.dynamic_threshold)
        last, self._last = self._last, (t, s, x0)
        if sig_s == 0:
            return x0
        alpha_s, vp_s = self._alpha_sigma(sig_s)
        lam_t, lam_s = math.log(alpha_t) - math.log(vp_t), math.log(alpha_s) - math.log(vp_s)
        h = lam_s - lam_t
        x_s = (vp_s / vp_t) * x - (alpha_s * (math.exp(-h) - 1.0)) * x0
        if last is not None and last[1] == t:
            alpha_p, vp_p = self._alpha_sigma(self.sigma(schedule, last[0]))
            r0 = (lam_t - (math.log(alpha_p) - math.log(vp_p))) / h
            x_s = x_s - 0.5 * (alpha_s * (math.exp(-h) - 1.0)) * ((1.0 / r0) * (x0 - last[2]))
        return x_s
