"""The variational bound of a trained DDPM in bits/dim (Ho et al. 2020, eq. 5 and section 3.3)."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from einops import rearrange
from torch import Tensor

from gentk.data import to_float
from gentk.errors import GentkError
from gentk.families.diffusion import Denoiser, DiffusionModel, NoiseSchedule
from gentk.interfaces import DataInfo, Model, Split
from gentk.prob import gaussian_kl
from gentk.progress import Phase, phase
from gentk_diffusion.configs import VLBConfig
from gentk_diffusion.parameterization import to_x0
from gentk_diffusion.schedules import extract

BIN = 1.0 / 255.0  # half the width of one of 256 pixel levels in [-1, 1]


def discretized_gaussian_log_likelihood(x: Tensor, mean: Tensor, log_var: Tensor) -> Tensor:
    """log P(x) of pixels x in [-1, 1] on 256 levels under N(mean, exp(log_var)) integrated over
    each level's bin; the outermost bins extend to -inf and +inf. Elementwise, in x's dtype.

    Computed in float64 on the tail side: a bin above the mean is Phi(-l) - Phi(-u) (survival
    functions, both small, no cancellation), one below is Phi(u) - Phi(l), as logs:
    log(Phi(a) - Phi(b)) = log Phi(a) + log1p(-exp(log Phi(b) - log Phi(a))). The float32
    difference of CDFs (clamped at 1e-12) was off by nats where log P < -12."""
    dtype = torch.promote_types(torch.promote_types(x.dtype, mean.dtype), log_var.dtype)
    x, mean, log_var = x.double(), mean.double(), log_var.double()
    inv_std = torch.exp(-0.5 * log_var)
    upper = (x - mean + BIN) * inv_std
    lower = (x - mean - BIN) * inv_std
    above = lower > 0  # the whole bin above the mean: use the upper tail
    hi = torch.where(above, -lower, upper)  # log P = log(Phi(hi) - Phi(lo)), hi > lo
    lo = torch.where(above, -upper, lower)
    log_hi, log_lo = torch.special.log_ndtr(hi), torch.special.log_ndtr(lo)
    middle = log_hi + torch.log1p(-torch.exp(log_lo - log_hi))
    first = torch.special.log_ndtr(upper)  # the lowest level: P(z < u)
    last = torch.special.log_ndtr(-lower)  # the highest level: P(z > l)
    out = torch.where(x < -0.999, first, torch.where(x > 0.999, last, middle))
    return out.to(dtype)


def strata(num_terms: int, k: int | None, batch: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Step indices (K, B) in 1..num_terms and their weights (K, 1): one uniform draw from each of
    K equal strata, weighted by the stratum's size, so sum_k w_k f(t_k) is unbiased for the sum."""
    k = num_terms if k is None else min(k, num_terms)
    edges = torch.linspace(1, num_terms + 1, k + 1, dtype=torch.float64).floor().long()  # (K+1,)
    sizes = edges[1:] - edges[:-1]  # (K,)
    u = torch.rand((k, batch), generator=generator, device=generator.device).cpu().double()
    t = edges[:-1, None] + (u * sizes[:, None]).floor().long()  # (K, B)
    return t, sizes[:, None].double()


class VLB:
    """`evaluate(model, split, info, generator)` -> bits/dim of the bound with its standard error,
    for a model that is a `DiffusionModel`."""

    def __init__(self, cfg: VLBConfig):
        self.cfg = cfg

    @torch.no_grad()
    def evaluate(self, model: Model, data: Split, info: DataInfo, *, generator: torch.Generator) -> Mapping[str, float]:
        if not isinstance(model, DiffusionModel):
            raise GentkError("the vlb metric needs a diffusion model", hint="use it with model `ddpm`")
        n = min(self.cfg.n_examples, len(data))
        labels = data.y if self.cfg.conditional and model.num_classes else None
        parts = []
        num_terms = model.schedule.num_steps - 1
        per_batch = (num_terms if self.cfg.timesteps is None else min(self.cfg.timesteps, num_terms)) + 1
        with phase("vlb", math.ceil(n / self.cfg.batch_size) * per_batch, unit="term") as bar:
            for start in range(0, n, self.cfg.batch_size):
                stop = min(n, start + self.cfg.batch_size)
                x0 = to_float(data.x[start:stop], info).to(model.device) * 2 - 1  # (B, C, H, W)
                y = labels[start:stop].to(model.device) if labels is not None else None
                parts.append(self._bound(model, x0, y, generator, bar))
        nats = torch.cat(parts)  # (n, 3): L_T, sum of L_{t-1}, L_0 in nats per image
        bits = nats / (info.numel * math.log(2))
        total = bits.sum(dim=1)
        stderr = total.std(unbiased=True).item() / math.sqrt(n) if n > 1 else 0.0
        means = bits.mean(dim=0)
        return {
            "bpd": total.mean().item(),
            "bpd_stderr": stderr,
            "prior_bpd": means[0].item(),
            "diffusion_bpd": means[1].item(),
            "decoder_bpd": means[2].item(),
        }

    def _bound(
        self, model: DiffusionModel, x0: Tensor, y: Tensor | None, generator: torch.Generator, bar: Phase
    ) -> Tensor:
        """Per-image terms (B, 3) in nats: L_T, the (estimated) sum of L_{t-1}, and L_0; `bar`
        advances once per network evaluation."""
        sched = model.schedule
        net = model.eval_denoiser()
        pred = model.prediction
        b = x0.shape[0]
        last = torch.full((b,), sched.num_steps - 1, device=x0.device, dtype=torch.long)
        mean_t, var_t = sched.q_mean_var(x0, last)
        prior = gaussian_kl(_flat(mean_t), _flat(var_t.log().expand_as(x0)))  # (B,)

        steps, weights = strata(sched.num_steps - 1, self.cfg.timesteps, b, generator)
        middle = torch.zeros(b, device=x0.device)
        for t, w in zip(steps.to(x0.device), weights.to(x0.device), strict=False):
            middle += w.float() * self._kl_term(net, pred, sched, x0, y, t, generator)
            bar.advance()
        decoder = self._decoder_nll(net, pred, sched, x0, y, generator)
        bar.advance()
        return torch.stack([prior, middle, decoder], dim=1)

    def _reverse(
        self,
        net: Denoiser,
        prediction: str,
        sched: NoiseSchedule,
        x0: Tensor,
        y: Tensor | None,
        t: Tensor,
        generator: torch.Generator,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """x_t ~ q(x_t|x_0), and the model's mean and log-variance of p(x_{t-1}|x_t); `prediction`
        is what the denoiser predicts (converted to x0)."""
        noise = torch.randn(x0.shape, generator=generator, device=generator.device).to(x0.device)
        xt = sched.q_sample(x0, t, noise)
        abar = sched.alpha_bar(t).reshape((-1,) + (1,) * (x0.dim() - 1))
        x0_hat = to_x0(prediction, net(xt, t, y).float(), xt, abar)
        mean, _ = sched.posterior(x0_hat, xt, t)
        table = (sched.betas if self.cfg.variance == "beta" else sched.posterior_variance).clone()
        table[0] = sched.posterior_variance[1]  # beta~_1 = 0: the decoder uses beta~_2, as Ho et al. do
        return xt, mean, extract(table.log(), t, x0).expand_as(x0)

    def _kl_term(
        self,
        net: Denoiser,
        prediction: str,
        sched: NoiseSchedule,
        x0: Tensor,
        y: Tensor | None,
        t: Tensor,
        generator: torch.Generator,
    ) -> Tensor:
        """L_{t-1} = KL(q(x_{t-1}|x_t, x_0) || p(x_{t-1}|x_t)) per image (B,)."""
        xt, mean_p, log_var_p = self._reverse(net, prediction, sched, x0, y, t, generator)
        mean_q, var_q = sched.posterior(x0, xt, t)
        return gaussian_kl(_flat(mean_q), _flat(var_q.log().expand_as(x0)), _flat(mean_p), _flat(log_var_p))

    def _decoder_nll(
        self,
        net: Denoiser,
        prediction: str,
        sched: NoiseSchedule,
        x0: Tensor,
        y: Tensor | None,
        generator: torch.Generator,
    ) -> Tensor:
        """L_0 = -log p(x_0|x_1) under the discretised Gaussian decoder, per image (B,)."""
        t = torch.zeros(x0.shape[0], device=x0.device, dtype=torch.long)
        _, mean, log_var = self._reverse(net, prediction, sched, x0, y, t, generator)
        return -_flat(discretized_gaussian_log_likelihood(x0, mean, log_var)).sum(dim=1)


def _flat(x: Tensor) -> Tensor:
    return rearrange(x, "b ... -> b (...)")
