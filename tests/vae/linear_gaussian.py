"""A linear-Gaussian latent model built from the real VAE networks, where log p(x) is exact.

p(z) = N(0, I), p(x|z) = N(W z + b, sigma^2 I), so p(x) = N(b, W W^T + sigma^2 I). With
W = Q diag(s) and orthonormal columns Q, the posterior p(z|x) is a diagonal Gaussian, so the
encoder can represent it exactly: mean S W^T (x - b) / sigma^2, variance S = 1 / (1 + s^2/sigma^2).
"""

import torch

from gentk.interfaces import BuildContext, DataInfo
from gentk.recipe import resolve_component


def build(d: int, z: int, scales: list[float], sigma: float, seed: int = 0, shift: float = 0.0, widen: float = 1.0):
    """(encoder, decoder, exact log p(x) function). The encoder is the exact posterior, moved by
    `shift` (added to the mean) and with its variance multiplied by `widen`."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(d, z, generator=g, dtype=torch.float64))  # (D, Z) orthonormal
    s = torch.tensor(scales, dtype=torch.float64)
    w = q * s  # (D, Z)
    b = torch.randn(d, generator=g, dtype=torch.float64)
    post_var = 1.0 / (1.0 + s**2 / sigma**2)  # (Z,)
    m = post_var[:, None] * w.T / sigma**2  # (Z, D)

    ctx = BuildContext(DataInfo(shape=(d,), kind="points"))
    encoder = resolve_component("encoder", {"use": "mlp_gaussian", "latent_dim": z, "hidden": []}).build(ctx)
    decoder = resolve_component(
        "decoder", {"use": "mlp_gaussian", "hidden": [], "min_logvar": -20.0, "max_logvar": 20.0}
    ).build(ctx, latent_dim=z)
    with torch.no_grad():
        head = encoder.head
        head.weight.zero_()
        head.weight[:z] = m.float()
        head.bias[:z] = (-m @ b + shift).float()
        head.bias[z:] = torch.log(post_var * widen).float()
        linear = decoder.net[0][0]
        linear.weight.copy_(w.float())
        linear.bias.copy_(b.float())
        decoder.likelihood.logvar.fill_(2 * torch.log(torch.tensor(sigma)).item())
    marginal = torch.distributions.MultivariateNormal(b, w @ w.T + sigma**2 * torch.eye(d, dtype=torch.float64))

    def log_px(x: torch.Tensor) -> torch.Tensor:
        return marginal.log_prob(x.double())

    return encoder, decoder, log_px


def sample_x(d: int, n: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))
