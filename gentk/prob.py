"""Probability tools the objectives build on (SPEC section 1).

Every log-domain reduction goes through logsumexp, so nothing overflows for log-weights of
magnitude 1e4.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

LOG_2PI = math.log(2 * math.pi)


def log_mean_exp(x: Tensor, dim: int = -1, keepdim: bool = False) -> Tensor:
    """log((1/K) sum_k exp(x_k)) along `dim`, computed stably."""
    return torch.logsumexp(x, dim=dim, keepdim=keepdim) - math.log(x.shape[dim])


def gaussian_kl(mu_q: Tensor, logvar_q: Tensor, mu_p: Tensor | None = None, logvar_p: Tensor | None = None) -> Tensor:
    """KL(N(mu_q, diag exp(logvar_q)) || N(mu_p, diag exp(logvar_p))), summed over the last dim.
    Without `mu_p`/`logvar_p` the second distribution is N(0, I)."""
    if mu_p is None:
        mu_p = torch.zeros_like(mu_q)
    if logvar_p is None:
        logvar_p = torch.zeros_like(logvar_q)
    kl = 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p).pow(2)) / logvar_p.exp() - 1.0)
    return kl.sum(dim=-1)


def diag_gaussian_log_prob(x: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """log N(x; mu, diag exp(logvar)) summed over the last dim (broadcasting)."""
    return -0.5 * (LOG_2PI + logvar + (x - mu).pow(2) / logvar.exp()).sum(dim=-1)
