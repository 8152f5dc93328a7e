"""The VAE bounds as plain functions of data, an encoder and a decoder.

Encoders map x (B, ...) to (mu, logvar), each (B, Z); decoders map z (..., B, Z) to parameters
and score x (B, ...) under them (`Encoder` and `Decoder` of `gentk.families.vae`). Everything
returned is float32, per example, shape (B,) unless stated, so the same code serves training
(reduce with a mean) and evaluation.
"""

from __future__ import annotations

import torch
from torch import Tensor

from gentk.families.vae import Decoder, Encoder
from gentk.prob import diag_gaussian_log_prob, gaussian_kl, log_mean_exp


def encode(encoder: Encoder, x: Tensor) -> tuple[Tensor, Tensor]:
    """mu, logvar (B, Z) in float32 (the encoder may have run under bf16 autocast)."""
    mu, logvar = encoder(x)
    return mu.float(), logvar.float()


def reparameterize(
    mu: Tensor, logvar: Tensor, k: int | None = None, generator: torch.Generator | None = None
) -> Tensor:
    """z = mu + sigma * eps, eps ~ N(0, I): (B, Z), or (K, B, Z) when `k` is given."""
    shape = mu.shape if k is None else (k, *mu.shape)
    eps = torch.randn(shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + (0.5 * logvar).exp() * eps


def elbo_terms(
    x: Tensor, encoder: Encoder, decoder: Decoder, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """One-sample reconstruction term E_q[log p(x|z)] and the analytic KL(q(z|x) || N(0, I)),
    each (B,). The ELBO is their difference."""
    mu, logvar = encode(encoder, x)
    z = reparameterize(mu, logvar, generator=generator)  # (B, Z)
    rec = decoder.log_prob(x, decoder(z))
    return rec, gaussian_kl(mu, logvar)


def log_weights(
    x: Tensor, mu: Tensor, logvar: Tensor, decoder: Decoder, k: int, generator: torch.Generator | None = None
) -> Tensor:
    """Importance log-weights log p(x, z_k) - log q(z_k|x) for K draws z_k ~ q(z|x), all in one
    batched pass: x (B, ...), mu and logvar (B, Z) -> (K, B)."""
    z = reparameterize(mu, logvar, k, generator)  # (K, B, Z)
    log_px_z = decoder.log_prob(x, decoder(z))  # (K, B)
    log_pz = diag_gaussian_log_prob(z, z.new_zeros(()), z.new_zeros(()))  # (K, B)
    log_qz = diag_gaussian_log_prob(z, mu, logvar)  # (K, B); mu, logvar broadcast over K
    return log_px_z + log_pz - log_qz


def iwae_bound(
    x: Tensor, encoder: Encoder, decoder: Decoder, k: int, generator: torch.Generator | None = None
) -> Tensor:
    """IWAE_K = log (1/K) sum_k p(x, z_k) / q(z_k|x) (Burda et al. 2016), (B,). K = 1 is a
    one-sample ELBO with the KL estimated by sampling instead of analytically."""
    mu, logvar = encode(encoder, x)
    return log_mean_exp(log_weights(x, mu, logvar, decoder, k, generator), dim=0)


@torch.no_grad()
def importance_log_likelihood(
    x: Tensor, encoder: Encoder, decoder: Decoder, k: int, chunk: int, generator: torch.Generator | None = None
) -> Tensor:
    """log p(x) estimated with K importance samples from the encoder, drawn `chunk` at a time so
    memory stays bounded: (B,). The log-weights of all chunks are kept (K x B floats, small)
    and combined with one log-mean-exp."""
    mu, logvar = encode(encoder, x)
    sizes = [min(chunk, k - start) for start in range(0, k, chunk)]
    weights = torch.cat([log_weights(x, mu, logvar, decoder, size, generator) for size in sizes])  # (K, B)
    return log_mean_exp(weights, dim=0)
