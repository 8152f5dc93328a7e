"""L_simple (Ho et al. 2020, eq. 14): || eps - eps_theta(sqrt(abar_t) x0 + sqrt(1 - abar_t) eps, t) ||^2."""

from __future__ import annotations

import torch
from torch import Tensor

from gentk.families.diffusion import Denoiser, NoiseSchedule
from gentk_diffusion.configs import DDPMObjectiveConfig


def drop_labels(y: Tensor, p: float, null: int) -> Tensor:
    """Replace each label by the null label `null` with probability p."""
    if p <= 0:
        return y
    drop = torch.rand(y.shape, device=y.device) < p
    return torch.where(drop, torch.full_like(y, null), y)


class DDPMObjective:
    """`objective(denoiser, schedule, x0, y=None, num_classes=0) -> scalar loss` (a `DiffusionObjective`).

    x0 (B, C, H, W) in [-1, 1]; t is drawn uniformly from all T steps and eps from N(0, I) with
    torch's global generator (seeded by the engine). Labels are dropped to the null label
    `num_classes` with probability `p_uncond`.
    """

    def __init__(self, cfg: DDPMObjectiveConfig):
        self.p_uncond = cfg.p_uncond

    def __call__(
        self, denoiser: Denoiser, schedule: NoiseSchedule, x0: Tensor, y: Tensor | None = None, num_classes: int = 0
    ) -> Tensor:
        t = torch.randint(0, schedule.num_steps, (x0.shape[0],), device=x0.device)  # (B,)
        noise = torch.randn_like(x0)
        if y is not None:
            y = drop_labels(y, self.p_uncond, num_classes)
        pred = denoiser(schedule.q_sample(x0, t, noise), t, y)
        return (pred.float() - noise).pow(2).mean()
