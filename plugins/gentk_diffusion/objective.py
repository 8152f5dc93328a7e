"""The denoising loss: L_simple (Ho et al. 2020, eq. 14) and its weighted variants in the epsilon,
x0 or v parameterization (see `gentk_diffusion.parameterization`)."""

from __future__ import annotations

import torch
from torch import Tensor

from gentk.families.diffusion import Denoiser, NoiseSchedule
from gentk_diffusion.configs import DDPMObjectiveConfig
from gentk_diffusion.parameterization import loss_weight, target


def drop_labels(y: Tensor, p: float, null: int) -> Tensor:
    """Replace each label by the null label `null` with probability p."""
    if p <= 0:
        return y
    drop = torch.rand(y.shape, device=y.device) < p
    return torch.where(drop, torch.full_like(y, null), y)


class DDPMObjective:
    """`objective(denoiser, schedule, x0, y=None, num_classes=0) -> scalar loss` (a `DiffusionObjective`).

    x0 (B, C, H, W) in [-1, 1]; t is drawn uniformly from all T steps and eps from N(0, I) with
    torch's global generator (seeded by the engine). The loss is the mean over examples of
    w(t) times the mean squared error between the denoiser's output and the target of the
    `prediction` (eps, x0 or v). Labels are dropped to the null label `num_classes` with
    probability `p_uncond`.
    """

    def __init__(self, cfg: DDPMObjectiveConfig):
        self.p_uncond = cfg.p_uncond
        self.prediction: str = cfg.prediction
        self.weighting = cfg.weighting
        self.snr_gamma = cfg.snr_gamma

    def __call__(
        self, denoiser: Denoiser, schedule: NoiseSchedule, x0: Tensor, y: Tensor | None = None, num_classes: int = 0
    ) -> Tensor:
        t = torch.randint(0, schedule.num_steps, (x0.shape[0],), device=x0.device)  # (B,)
        noise = torch.randn_like(x0)
        if y is not None:
            y = drop_labels(y, self.p_uncond, num_classes)
        pred = denoiser(schedule.q_sample(x0, t, noise), t, y)
        shape = (-1,) + (1,) * (x0.dim() - 1)
        abar = schedule.alpha_bar(t).reshape(shape)  # (B, 1, ...) float64
        err = (pred.float() - target(self.prediction, x0.float(), noise.float(), abar)).pow(2)
        if self.weighting == "uniform":
            return err.mean()
        weight = loss_weight(
            self.weighting,
            self.prediction,
            abar,
            schedule.alpha_bar(t - 1).reshape(shape),
            num_steps=schedule.num_steps,
            decoder_var=float(schedule.posterior_variance[1]),
            gamma=self.snr_gamma,
        )
        return (weight.float() * err).mean()
