"""The GAN model: alternating critic and generator updates with separate optimizers.

The engine calls `train_step` once per batch. With `critic_batch = "new"` each call makes one
critic step and every `n_critic`-th call also one generator step; with "same" each call makes
all `n_critic` critic steps on its batch, then one generator step. Either way k critic steps
per generator step need nothing from the engine. The step counter is extra state, so a resumed run continues the same
schedule. The objective decides the losses, any penalty and any clipping (see `objectives.py`).
An auxiliary class loss (AC-GAN) is added when the critic declares a class head
(`num_aux_classes` > 0).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gentk.errors import GentkError
from gentk.families.gan import AdversarialObjective, Critic, Generator
from gentk.interfaces import Batch, BuildContext, Optimizer, StepContext, as_module
from gentk_gan.configs import GANConfig


class GAN:
    def __init__(self, cfg: GANConfig, ctx: BuildContext):
        self.cfg, self.info = cfg, ctx.data
        self.device = torch.device(ctx.device or "cpu")
        self.generator: Generator = cfg.generator.build(ctx)
        self.critic: Critic = cfg.critic.build(ctx)
        self.networks()  # both are torch modules
        self.objective: AdversarialObjective = cfg.objective.build()
        self.g_opt: Optimizer = cfg.g_optimizer.build(self.generator.parameters())
        self.d_opt: Optimizer = cfg.d_optimizer.build(self.critic.parameters())
        self.critic_steps = 0
        self.last_g: dict[str, Tensor] = {}
        self.num_classes = ctx.data.num_classes
        self.g_conditional = self.generator.conditional
        self.has_aux = self.critic.num_aux_classes > 0
        self.uses_labels = self.g_conditional or self.critic.conditional or self.has_aux
        self.grid_columns: int | None = self.num_classes if self.num_classes and self.g_conditional else None

    # -- engine contract ---------------------------------------------------------------------
    def networks(self) -> dict[str, nn.Module]:
        return {
            "generator": as_module(self.generator, "GAN's generator"),
            "critic": as_module(self.critic, "GAN's critic"),
        }

    def optimizers(self) -> dict[str, Optimizer]:
        return {"generator": self.g_opt, "critic": self.d_opt}

    def extra_state(self) -> dict[str, Any]:
        return {"critic_steps": self.critic_steps, "last_g": dict(self.last_g)}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.critic_steps = int(state["critic_steps"])
        self.last_g = dict(state.get("last_g", {}))

    # -- data scaling ------------------------------------------------------------------------
    def to_model_space(self, x: Tensor) -> Tensor:
        """Images in [0, 1] -> the generator's output range; points unchanged."""
        lo_hi = self.generator.output_range
        if self.info.kind != "image" or lo_hi is None:
            return x
        lo, hi = lo_hi
        return lo + (hi - lo) * x

    def to_data_space(self, x: Tensor) -> Tensor:
        lo_hi = self.generator.output_range
        if self.info.kind != "image" or lo_hi is None:
            return x
        lo, hi = lo_hi
        return ((x - lo) / (hi - lo)).clamp(0, 1)

    # -- training ----------------------------------------------------------------------------
    def fake_labels(self, n: int, generator: torch.Generator | None = None) -> Tensor | None:
        if not self.g_conditional:
            return None
        return torch.randint(self.num_classes, (n,), generator=generator, device=self.device)

    def generate(self, n: int, y: Tensor | None, generator: torch.Generator | None = None) -> Tensor:
        z = torch.randn(n, self.generator.latent_dim, generator=generator, device=self.device)  # (B, Z)
        return self.generator(z, y)

    def scores(self, x: Tensor, y: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """Critic scores (B,) and AC-GAN class logits (B, K), or None when the critic declares no class head."""
        if not self.has_aux:
            return self.critic(x, y), None
        return self.critic.forward_aux(x, y)

    def labels_of(self, batch: Batch) -> Tensor | None:
        if self.uses_labels and batch.y is None:
            raise GentkError(
                "this GAN is conditional (or has an auxiliary classifier) and needs labelled data",
                hint="use a labelled dataset or set conditional/aux_classifier to false",
            )
        return batch.y if self.uses_labels else None

    def aux_loss(self, logits: Tensor | None, y: Tensor | None) -> Tensor | float:
        """AC-GAN class log-loss, weighted; 0 without an auxiliary head or labels."""
        if logits is None or y is None:
            return 0.0
        return self.cfg.aux_weight * F.cross_entropy(logits.float(), y)

    def critic_step(self, real: Tensor, y: Tensor | None, ctx: StepContext) -> dict[str, Tensor]:
        n = len(real)
        with ctx.autocast():
            y_fake = self.fake_labels(n)
            with torch.no_grad():
                fake = self.generate(n, y_fake)
            d_real, aux_real = self.scores(real, y)
            d_fake, aux_fake = self.scores(fake, y_fake)
            d_real, d_fake = d_real.float(), d_fake.float()
            loss = self.objective.critic_loss(d_real, d_fake)
            loss = loss + self.aux_loss(aux_real, y) + self.aux_loss(aux_fake, y_fake)
        penalty = self.objective.penalty(self.critic, real, fake.float(), y)
        total = loss + penalty
        ctx.update(total, self.d_opt)
        self.objective.after_critic_step(self.critic)
        return {
            "loss": total.detach(),
            "value": self.objective.value(d_real, d_fake).detach(),
            "penalty": penalty.detach(),
            "d_real": self.score_summary(d_real),
            "d_fake": self.score_summary(d_fake),
        }

    def generator_step(self, n: int, ctx: StepContext) -> dict[str, Tensor]:
        with ctx.autocast():
            y_fake = self.fake_labels(n)
            d_fake, aux_fake = self.scores(self.generate(n, y_fake), y_fake)
            loss = self.objective.generator_loss(d_fake.float()) + self.aux_loss(aux_fake, y_fake)
        ctx.update(loss, self.g_opt)
        return {"loss_g": loss.detach()}

    def score_summary(self, scores: Tensor) -> Tensor:
        """Mean D(x) as a probability for GANs, the mean raw score for Wasserstein critics."""
        s = torch.sigmoid(scores) if self.objective.scores_are_logits else scores
        return s.detach().mean()

    def train_step(self, batch: Batch, ctx: StepContext) -> dict[str, Tensor]:
        y, real = self.labels_of(batch), self.to_model_space(batch.x)
        repeats = self.cfg.n_critic if self.cfg.critic_batch == "same" else 1
        for _ in range(repeats):
            out = self.critic_step(real, y, ctx)
            self.critic_steps += 1
        if self.critic_steps % self.cfg.n_critic == 0:
            self.last_g = self.generator_step(len(batch.x), ctx)
        return {**out, **self.last_g}

    # -- sampling ----------------------------------------------------------------------------
    def check_labels(self, n: int, labels: Tensor | None) -> Tensor | None:
        if labels is None:
            if not self.g_conditional:
                return None
            # conditional: one row per class, classes 0..K-1 from the top of the grid
            per_class = math.ceil(n / self.num_classes)
            self.grid_columns = per_class
            return torch.arange(n, device=self.device) // per_class
        if not self.g_conditional:
            raise GentkError(
                "this GAN's generator is not conditional, so it cannot sample a given class",
                hint="train a conditional recipe (e.g. recipes/cgan_mnist.toml) to choose classes",
            )
        self.grid_columns = None  # the caller's labels: no class layout to draw
        labels = torch.as_tensor(labels, device=self.device).long().reshape(-1)
        if len(labels) == 1:
            labels = labels.expand(n)
        if len(labels) != n or labels.min() < 0 or labels.max() >= self.num_classes:
            raise GentkError(f"labels must be {n} class indices in 0..{self.num_classes - 1}")
        return labels

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator, labels: Tensor | None = None, **options: Any) -> Tensor:
        """n samples: images (n, C, H, W) in [0, 1] or points (n, D)."""
        if options:
            raise GentkError(
                f"a GAN samples in one pass and takes no {', '.join(sorted(options))} option",
                hint="drop --sampler/--steps/--guidance; use --class only with a conditional GAN",
            )
        y = self.check_labels(n, labels)
        return self.to_data_space(self.generate(n, y, generator).float())
