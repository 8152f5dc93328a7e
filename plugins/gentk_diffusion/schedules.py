"""Noise schedules (Ho et al. 2020; Nichol & Dhariwal 2021) with precomputed coefficients.

Indices run t = 0..T-1; index t is the paper's step t+1, so `q_sample(x0, t)` draws the paper's
x_{t+1} and `posterior(x0, xt, t)` is q(x_t | x_{t+1}, x_0) in the paper's numbering. The
coefficients are computed in float64 and stored in float32.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from gentk.families.diffusion import NoiseSchedule
from gentk_diffusion.configs import CosineScheduleConfig, LinearScheduleConfig


def extract(values: Tensor, t: Tensor, like: Tensor) -> Tensor:
    """Per-step coefficients values[t] (B,) broadcast against a batch `like` (B, ...)."""
    out = values[t]  # (B,)
    return out.reshape(out.shape + (1,) * (like.dim() - out.dim()))


class DiffusionSchedule:
    """Every coefficient of the forward process and its posterior, from the betas (a
    `NoiseSchedule`). The tables are float32 (T,) on `device`, except `alphas_cumprod_padded`
    (T + 1,), kept in float64."""

    num_steps: int
    device: torch.device
    betas: Tensor
    alphas: Tensor
    alphas_cumprod: Tensor
    alphas_cumprod_prev: Tensor
    sqrt_alphas_cumprod: Tensor
    sqrt_one_minus_alphas_cumprod: Tensor
    posterior_variance: Tensor
    posterior_log_variance: Tensor
    alphas_cumprod_padded: Tensor

    def __init__(self, betas: Tensor):
        betas = betas.double()
        alphas = 1.0 - betas
        cumprod = torch.cumprod(alphas, dim=0)
        prev = torch.cat([cumprod.new_ones(1), cumprod[:-1]])
        post_var = betas * (1.0 - prev) / (1.0 - cumprod)
        self.num_steps = len(betas)
        self._table = {
            "betas": betas,
            "alphas": alphas,
            "alphas_cumprod": cumprod,
            "alphas_cumprod_prev": prev,
            "sqrt_alphas_cumprod": cumprod.sqrt(),
            "sqrt_one_minus_alphas_cumprod": (1.0 - cumprod).sqrt(),
            "posterior_variance": post_var,
            # beta~_1 = 0: the log uses beta~_2 at index 0, as Ho et al. do
            "posterior_log_variance": torch.cat([post_var[1:2], post_var[1:]]).log(),
            "alphas_cumprod_padded": torch.cat([cumprod.new_ones(1), cumprod]),  # index t+1 holds abar_t
        }
        self.to("cpu")

    def to(self, device: torch.device | str) -> DiffusionSchedule:
        """Move the coefficient tables (float32) to `device`; returns self."""
        for name, values in self._table.items():
            setattr(self, name, values.to(device=device, dtype=torch.float32))
        self.alphas_cumprod_padded = self._table["alphas_cumprod_padded"].to(device)  # float64
        self.device = torch.device(device)
        return self

    def alpha_bar(self, t: Tensor) -> Tensor:
        """alpha-bar (float64) at indices t, where index -1 means the clean data (alpha-bar = 1)."""
        return self.alphas_cumprod_padded[t + 1]

    def q_sample(self, x0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        """x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise, a draw from q(x_t | x_0)."""
        return (
            extract(self.sqrt_alphas_cumprod, t, x0) * x0 + extract(self.sqrt_one_minus_alphas_cumprod, t, x0) * noise
        )

    def q_mean_var(self, x0: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and variance of q(x_t | x_0)."""
        return extract(self.sqrt_alphas_cumprod, t, x0) * x0, extract(1.0 - self.alphas_cumprod, t, x0)

    def posterior(self, x0: Tensor, xt: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and variance of q(x_{t-1} | x_t, x_0) (eq. 6-7 of Ho et al.)."""
        padded = self.alphas_cumprod_padded
        return posterior_between(x0, xt, extract(padded, t + 1, xt), extract(padded, t, xt))

    def predict_x0(self, xt: Tensor, t: Tensor, eps: Tensor) -> Tensor:
        """x0 implied by a noise prediction: (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)."""
        return (xt - extract(self.sqrt_one_minus_alphas_cumprod, t, xt) * eps) / extract(
            self.sqrt_alphas_cumprod, t, xt
        )


def posterior_between(x0: Tensor, xt: Tensor, abar_t: Tensor, abar_s: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and variance of q(x_s | x_t, x_0) for steps s < t with alpha-bars abar_s > abar_t.

    With beta = 1 - abar_t/abar_s (one step of a possibly respaced chain):
    mean = sqrt(abar_s) beta/(1 - abar_t) x0 + sqrt(1 - beta)(1 - abar_s)/(1 - abar_t) x_t and
    variance = beta (1 - abar_s)/(1 - abar_t).
    """
    abar_t, abar_s = abar_t.double(), abar_s.double()  # 1 - abar loses digits in float32 near t = 0
    beta = 1.0 - abar_t / abar_s
    coef_x0 = abar_s.sqrt() * beta / (1.0 - abar_t)
    coef_xt = (1.0 - beta).sqrt() * (1.0 - abar_s) / (1.0 - abar_t)
    var = beta * (1.0 - abar_s) / (1.0 - abar_t)
    return coef_x0.to(xt.dtype) * x0 + coef_xt.to(xt.dtype) * xt, var.to(xt.dtype)


def linear(cfg: LinearScheduleConfig) -> DiffusionSchedule:
    """Betas spaced linearly from beta_start to beta_end (Ho et al. 2020)."""
    return DiffusionSchedule(torch.linspace(cfg.beta_start, cfg.beta_end, cfg.num_steps, dtype=torch.float64))


def cosine(cfg: CosineScheduleConfig) -> DiffusionSchedule:
    """abar_t = f(t)/f(0), f(t) = cos^2(((t/T + s)/(1 + s)) pi/2) (Nichol & Dhariwal 2021)."""
    steps = torch.arange(cfg.num_steps + 1, dtype=torch.float64) / cfg.num_steps
    f = torch.cos((steps + cfg.offset) / (1 + cfg.offset) * math.pi / 2).pow(2)
    abar = f / f[0]
    betas = (1.0 - abar[1:] / abar[:-1]).clamp(max=cfg.max_beta)
    return DiffusionSchedule(betas)


def sigma_table(schedule: NoiseSchedule) -> Tensor:
    """sigma_t = sqrt((1 - abar_t) / abar_t) at every index t = 0..T-1, float64 (T,), on the CPU:
    the noise level of x_t / sqrt(abar_t) = x0 + sigma_t eps (Karras et al. 2022; diffusers' sigmas)."""
    abar = schedule.alpha_bar(torch.arange(schedule.num_steps, device=schedule.device)).double().cpu()
    return ((1 - abar) / abar).sqrt()


def interpolated_sigma(table: Tensor, t: float, *, log: bool = False) -> float:
    """The noise level at a step index t in [0, T-1], fractional or not: the table's entry at an
    integer, else linear interpolation of sigma between its neighbours (diffusers' default
    `interpolation_type = "linear"`), or of log sigma with `log` (the inverse of diffusers'
    `_sigma_to_t`, which places Karras levels). Index -1 (the clean data) is sigma 0."""
    if t < 0:
        return 0.0
    last = len(table) - 1
    low = min(int(math.floor(t)), last - 1) if last > 0 else 0
    w = t - low
    if w == 0 or last == 0:
        return float(table[low])
    lo, hi = table[low], table[low + 1]
    if log:
        return math.exp((1 - w) * math.log(lo) + w * math.log(hi))
    return float((1 - w) * lo + w * hi)


def sigma_to_t(table: Tensor, sigma: float) -> float:
    """The fractional index whose log sigma interpolates to `sigma` (diffusers' `_sigma_to_t`)."""
    log_sigmas = table.log()
    log_sigma = math.log(max(sigma, 1e-10))
    low = int(torch.searchsorted(log_sigmas, torch.tensor([log_sigma], dtype=torch.float64), right=True)) - 1
    low = min(max(low, 0), len(table) - 2)
    lo, hi = float(log_sigmas[low]), float(log_sigmas[low + 1])
    w = min(max((lo - log_sigma) / (lo - hi), 0.0), 1.0)
    return (1 - w) * low + w * (low + 1)


def alpha_bar_at(schedule: NoiseSchedule, t: Tensor) -> Tensor:
    """alpha-bar (float64) at step indices t (B,): the table at integer indices (-1: 1), and
    1 / (1 + sigma^2) with sigma linearly interpolated (`interpolated_sigma`) at fractional ones."""
    if not t.is_floating_point():
        return schedule.alpha_bar(t)
    whole = t.round()
    if torch.equal(whole, t):
        return schedule.alpha_bar(whole.long())
    table = sigma_table(schedule)
    sigma = torch.tensor([interpolated_sigma(table, float(v)) for v in t.tolist()], dtype=torch.float64)
    return (1 / (1 + sigma**2)).to(t.device)
