"""Decoder output distributions p(x|z), shared by the MLP and convolutional decoders.

A likelihood turns a network's raw output into distribution parameters and scores data under
them. Scores are computed in float32 whatever precision the network ran in.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gentk.prob import diag_gaussian_log_prob


def _flat(t: Tensor, event_dims: int) -> Tensor:
    """Merge the trailing `event_dims` data dimensions into one: (..., *shape) -> (..., D)."""
    return t.flatten(-event_dims) if event_dims > 1 else t


class Bernoulli(nn.Module):
    """Independent Bernoulli pixels; the parameters are logits."""

    discrete = True  # log_prob is a log probability mass

    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        self.event_dims = len(shape)

    def forward(self, raw: Tensor) -> Tensor:
        return raw

    def log_prob(self, x: Tensor, logits: Tensor) -> Tensor:
        """x (B, ...), logits (..., B, ...) -> (..., B)."""
        logits = logits.float()
        nll = F.binary_cross_entropy_with_logits(logits, x.float().expand_as(logits), reduction="none")
        return -_flat(nll, self.event_dims).sum(-1)

    def mean(self, logits: Tensor) -> Tensor:
        return torch.sigmoid(logits.float())

    def sample(self, logits: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return torch.bernoulli(self.mean(logits), generator=generator)


class Gaussian(nn.Module):
    """Diagonal Gaussian with a learned log-variance per data dimension (a parameter of the
    decoder, not an output of the network), clamped to [min_logvar, max_logvar]. For images the
    mean is squashed into [0, 1] by a sigmoid; for points it is the raw output."""

    discrete = False  # log_prob is a log density

    def __init__(
        self, shape: tuple[int, ...], *, bounded: bool, init_logvar: float, min_logvar: float, max_logvar: float
    ):
        super().__init__()
        self.event_dims = len(shape)
        self.bounded = bounded
        self.limits = (min_logvar, max_logvar)
        self.logvar = nn.Parameter(torch.full(shape, float(init_logvar)))

    def forward(self, raw: Tensor) -> Tensor:
        return torch.sigmoid(raw) if self.bounded else raw

    def clamped_logvar(self) -> Tensor:
        return self.logvar.float().clamp(*self.limits)

    def log_prob(self, x: Tensor, mean: Tensor) -> Tensor:
        """x (B, ...), mean (..., B, ...) -> (..., B)."""
        flat = lambda t: _flat(t.float(), self.event_dims)  # noqa: E731
        return diag_gaussian_log_prob(flat(x), flat(mean), flat(self.clamped_logvar()))

    def mean(self, mean: Tensor) -> Tensor:
        return mean.float()

    def sample(self, mean: Tensor, generator: torch.Generator | None = None) -> Tensor:
        mean = mean.float()
        noise = torch.randn(mean.shape, generator=generator, device=mean.device)
        x = mean + (0.5 * self.clamped_logvar()).exp() * noise
        return x.clamp(0, 1) if self.bounded else x
