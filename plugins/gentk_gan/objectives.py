"""Adversarial objectives: the minimax game and the Wasserstein games, with clipping or a gradient penalty.

Every objective works on critic scores, one per sample, shape (B,), and implements
`gentk.families.gan.AdversarialObjective`:

    value(d_real, d_fake)            the game's value V(D, G) (also `__call__`), logged
    critic_loss(d_real, d_fake)      what the critic minimises (usually -V)
    generator_loss(d_fake)           what the generator minimises
    penalty(critic, real, fake, y)   an extra critic term that needs the critic itself (0 if none)
    after_critic_step(critic)        applied after every critic optimizer step (weight clipping)
    scores_are_logits                whether scores are logits of D(x) = sigmoid(score)

The model (`gentk_gan.model.GAN`) calls only these, so a new objective needs no model change.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
import torch.nn.functional as F
from einops import reduce
from torch import Tensor, nn

from gentk.families.gan import Critic
from gentk_gan.configs import MinimaxConfig, WassersteinConfig, WassersteinGPConfig

WEIGHT_LAYERS = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d, nn.Embedding)


class AdversarialBase(ABC):
    """Defaults shared by the objectives: the critic minimises -V, no penalty, nothing after a
    critic step. Subclasses define the value and the generator's loss."""

    scores_are_logits: bool = False

    def __call__(self, d_real: Tensor, d_fake: Tensor) -> Tensor:
        return self.value(d_real, d_fake)

    @abstractmethod
    def value(self, d_real: Tensor, d_fake: Tensor) -> Tensor: ...

    @abstractmethod
    def generator_loss(self, d_fake: Tensor) -> Tensor: ...

    def critic_loss(self, d_real: Tensor, d_fake: Tensor) -> Tensor:
        return -self.value(d_real, d_fake)

    def penalty(self, critic: Critic, real: Tensor, fake: Tensor, y: Tensor | None = None) -> Tensor:
        return real.new_zeros(())

    def after_critic_step(self, critic: Critic) -> None:
        return None


class Minimax(AdversarialBase):
    """Goodfellow et al. 2014: V = E[log D(x)] + E[log(1 - D(G(z)))], D = sigmoid(score).

    The generator minimises E[log(1 - D(G(z)))] (saturating, the game itself) or, with
    `non_saturating`, -E[log D(G(z))], which the paper recommends because its gradient does not
    vanish while the discriminator rejects every fake. Both are stationary where D(G(z)) = 1/2.
    With `real_label` = a < 1 the critic fits real samples to a instead of 1 (one-sided label
    smoothing): it minimises -E[a log D(x) + (1 - a) log(1 - D(x))] - E[log(1 - D(G(z)))]."""

    scores_are_logits = True

    def __init__(self, cfg: MinimaxConfig):
        self.non_saturating = cfg.non_saturating
        self.real_label = cfg.real_label

    def value(self, d_real: Tensor, d_fake: Tensor) -> Tensor:
        # log D = logsigmoid(s), log(1 - D) = logsigmoid(-s): stable for any score
        return F.logsigmoid(d_real).mean() + F.logsigmoid(-d_fake).mean()

    def critic_loss(self, d_real: Tensor, d_fake: Tensor) -> Tensor:
        a = self.real_label
        real = F.logsigmoid(d_real) if a == 1 else a * F.logsigmoid(d_real) + (1 - a) * F.logsigmoid(-d_real)
        return -(real.mean() + F.logsigmoid(-d_fake).mean())

    def generator_loss(self, d_fake: Tensor) -> Tensor:
        if self.non_saturating:
            return -F.logsigmoid(d_fake).mean()
        return F.logsigmoid(-d_fake).mean()


class Wasserstein(AdversarialBase):
    """Arjovsky et al. 2017: V = E[D(x)] - E[D(G(z))] over 1-Lipschitz critics; Lipschitz by
    clipping every critic parameter to [-clip, clip] after each critic step."""

    def __init__(self, cfg: WassersteinConfig):
        self.clip = cfg.clip
        self.clip_norm_layers = cfg.clip_norm_layers

    def value(self, d_real: Tensor, d_fake: Tensor) -> Tensor:
        return d_real.mean() - d_fake.mean()

    def generator_loss(self, d_fake: Tensor) -> Tensor:
        return -d_fake.mean()

    def clipped(self, critic: Critic) -> list[Tensor]:
        """The parameters to clip: all, or those of weight layers only (not normalisation layers)."""
        if self.clip_norm_layers:
            return list(critic.parameters())
        return [p for m in critic.modules() if isinstance(m, WEIGHT_LAYERS) for p in m.parameters(recurse=False)]

    @torch.no_grad()
    def after_critic_step(self, critic: Critic) -> None:
        for p in self.clipped(critic):
            p.clamp_(-self.clip, self.clip)


class WassersteinGP(Wasserstein):
    """Gulrajani et al. 2017: the Wasserstein value with a gradient penalty
    weight * E[(||grad D(x_hat)|| - 1)^2] on points x_hat between real and fake, no clipping."""

    def __init__(self, cfg: WassersteinGPConfig):
        self.weight = cfg.weight

    def after_critic_step(self, critic: Critic) -> None:
        return None

    def penalty(self, critic: Critic, real: Tensor, fake: Tensor, y: Tensor | None = None) -> Tensor:
        return self.weight * gradient_penalty(critic, real, fake, y)


def gradient_penalty(
    critic: Critic, real: Tensor, fake: Tensor, y: Tensor | None = None, generator: torch.Generator | None = None
) -> Tensor:
    """E[(||grad_x D(x_hat)||_2 - 1)^2] with x_hat = e * real + (1 - e) * fake, e ~ U(0, 1) per sample."""
    shape = (len(real),) + (1,) * (real.dim() - 1)  # (B, 1, ...)
    e = torch.rand(shape, generator=generator, device=real.device, dtype=real.dtype)
    x_hat = (e * real + (1 - e) * fake.detach()).requires_grad_(True)
    scores = critic(x_hat, y)  # (B,)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    norms = (reduce(grad.pow(2), "b ... -> b", "sum") + 1e-12).sqrt()  # (B,)
    return (norms - 1).pow(2).mean()
