"""VAE-family objectives (`gentk.families.vae.VAEObjective`).

`objective(x, encoder, decoder, *, generator=None) -> dict[str, Tensor]` with
  "loss": a 0-dim tensor to minimise (the negated batch mean of the objective), and
  per-example (B,) figures for the log: "elbo", "rec", "kl" (ELBO family) or "iwae".
`generator` draws the reparameterisation noise (None: torch's global generator).
"""

from __future__ import annotations

import torch
from torch import Tensor

from gentk.families.vae import Decoder, Encoder
from gentk_vae.bounds import elbo_terms, iwae_bound
from gentk_vae.configs import BetaELBOConfig, ELBOConfig, IWAEConfig


class BetaELBO:
    """E_q[log p(x|z)] - beta * KL(q(z|x) || N(0, I)); beta = 1 is the ELBO (Kingma & Welling
    2014), beta > 1 the beta-VAE (Higgins et al. 2017). The KL is analytic."""

    def __init__(self, beta: float = 1.0):
        self.beta = beta

    def __call__(
        self, x: Tensor, encoder: Encoder, decoder: Decoder, *, generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        rec, kl = elbo_terms(x, encoder, decoder, generator)  # (B,) each
        loss = -(rec - self.beta * kl).mean()
        return {"loss": loss, "elbo": rec - kl, "rec": rec, "kl": kl}


def elbo(cfg: ELBOConfig) -> BetaELBO:
    """The `elbo` objective: the ELBO, beta = 1."""
    return BetaELBO()


def beta_elbo(cfg: BetaELBOConfig) -> BetaELBO:
    """The `beta_elbo` objective: the KL term weighted by `cfg.beta`."""
    return BetaELBO(beta=cfg.beta)


class IWAE:
    """The importance-weighted bound with K samples (Burda et al. 2016), one batched pass."""

    def __init__(self, cfg: IWAEConfig):
        self.k = cfg.k

    def __call__(
        self, x: Tensor, encoder: Encoder, decoder: Decoder, *, generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        bound = iwae_bound(x, encoder, decoder, self.k, generator)  # (B,)
        return {"loss": -bound.mean(), "iwae": bound}
