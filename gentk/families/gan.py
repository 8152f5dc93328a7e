"""Adversarial training: generators, critics and the objectives of the game between them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from torch import Tensor, nn


@runtime_checkable
class Generator(Protocol):
    """G(z, y): noise (B, Z) and optional labels (B,) -> samples (B, ...); a torch module.

    `latent_dim` is Z; `output_range` is the (low, high) of image samples ((-1, 1) for tanh
    outputs), or None for outputs that need no rescaling (points); `conditional` says whether it
    reads labels. The GAN model trains `parameters()` with the generator's optimizer."""

    latent_dim: int
    output_range: tuple[float, float] | None
    conditional: bool

    def __call__(self, z: Tensor, y: Tensor | None = None) -> Tensor: ...

    def parameters(self, recurse: bool = True) -> Iterator[nn.Parameter]: ...


@runtime_checkable
class Critic(Protocol):
    """D(x, y): samples (B, ...) and optional labels (B,) -> one unbounded score per sample (B,);
    a torch module.

    `conditional` says whether it reads labels. `num_aux_classes` is the number K of classes its
    auxiliary head predicts (AC-GAN), 0 without one; `forward_aux` returns the scores and that
    head's class logits (B, K), or None when K is 0. The GAN model trains `parameters()` with the
    critic's optimizer; objectives that clip weights pick layers from `modules()`."""

    conditional: bool
    num_aux_classes: int

    def __call__(self, x: Tensor, y: Tensor | None = None) -> Tensor: ...

    def forward_aux(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor | None]: ...

    def parameters(self, recurse: bool = True) -> Iterator[nn.Parameter]: ...

    def modules(self) -> Iterator[nn.Module]: ...


@runtime_checkable
class AdversarialObjective(Protocol):
    """The game on critic scores (B,): the GAN model calls only these.

    value(d_real, d_fake)            the game's value V(D, G), logged
    critic_loss(d_real, d_fake)      what the critic minimises (usually -V)
    generator_loss(d_fake)           what the generator minimises
    penalty(critic, real, fake, y)   an extra critic term that needs the critic (a 0-dim zero if none)
    after_critic_step(critic)        applied after every critic optimizer step (weight clipping)
    scores_are_logits                whether scores are logits of D(x) = sigmoid(score)
    """

    scores_are_logits: bool

    def value(self, d_real: Tensor, d_fake: Tensor) -> Tensor: ...

    def critic_loss(self, d_real: Tensor, d_fake: Tensor) -> Tensor: ...

    def generator_loss(self, d_fake: Tensor) -> Tensor: ...

    def penalty(self, critic: Critic, real: Tensor, fake: Tensor, y: Tensor | None = None) -> Tensor: ...

    def after_critic_step(self, critic: Critic) -> None: ...
