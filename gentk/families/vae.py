"""Latent-variable models: encoders q(z|x), decoders p(x|z) and their bounds."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import torch
    from torch import Tensor


@runtime_checkable
class Encoder(Protocol):
    """q(z|x): x (B, ...) -> the mean and log-variance of a diagonal Gaussian, each (B, Z).

    `latent_dim` is Z. The `vae` model trains encoders as `torch.nn.Module`s."""

    latent_dim: int

    def __call__(self, x: Tensor) -> tuple[Tensor, Tensor]: ...


@runtime_checkable
class Decoder(Protocol):
    """p(x|z): z (..., B, Z) -> distribution parameters (..., B, ...) that score and draw data.

    `discrete` says whether `log_prob` is a log probability mass (Bernoulli pixels, a likelihood
    of binarised data) rather than a log density. The `vae` model trains decoders as
    `torch.nn.Module`s."""

    discrete: bool

    def __call__(self, z: Tensor) -> Tensor: ...

    def log_prob(self, x: Tensor, params: Tensor) -> Tensor:
        """log p(x|z) summed over data dimensions: x (B, ...), params (..., B, ...) -> (..., B)."""
        ...

    def mean(self, params: Tensor) -> Tensor:
        """The decoder's mean (..., B, ...); images in [0, 1]."""
        ...

    def sample(self, params: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """A draw from p(x|z), (..., B, ...)."""
        ...


@runtime_checkable
class VAEObjective(Protocol):
    """A bound on log p(x): `objective(x, encoder, decoder, generator=None)` -> named tensors,
    "loss" a 0-dim tensor to minimise, the others per-example (B,) figures for the log."""

    def __call__(
        self, x: Tensor, encoder: Encoder, decoder: Decoder, *, generator: torch.Generator | None = None
    ) -> dict[str, Tensor]: ...


@runtime_checkable
class LatentVariableModel(Protocol):
    """A model with an encoder and a decoder (what the `nll` metric scores)."""

    encoder: Encoder
    decoder: Decoder
