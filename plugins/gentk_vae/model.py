"""The `vae` model: one encoder, one decoder and an objective (ELBO, beta-ELBO or IWAE)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from einops import rearrange
from torch import Tensor, nn

from gentk.errors import GentkError
from gentk.families.vae import Decoder, Encoder, VAEObjective
from gentk.interfaces import Batch, BuildContext, Optimizer, StepContext, as_module
from gentk_vae.bounds import encode
from gentk_vae.configs import VAEConfig

N_RECONSTRUCTIONS = 32


class VAE:
    """Trains q(z|x) and p(x|z) jointly with one optimizer; samples decode z ~ N(0, I).

    Image samples are the decoder's mean (Bernoulli probabilities or the Gaussian mean); point
    samples are drawn from p(x|z), so scatter plots show the learnt density, noise included."""

    def __init__(self, cfg: VAEConfig, ctx: BuildContext):
        self.device = torch.device(ctx.device or "cpu")
        self.grid_columns: int | None = None
        self.info = ctx.data
        self.encoder: Encoder = cfg.encoder.build(ctx)
        self.decoder: Decoder = cfg.decoder.build(ctx, latent_dim=self.encoder.latent_dim)
        self._networks = {
            "encoder": as_module(self.encoder, "vae's encoder"),
            "decoder": as_module(self.decoder, "vae's decoder"),
        }
        params = []
        for net in self._networks.values():
            net.to(self.device)
            params += list(net.parameters())
        self.objective: VAEObjective = cfg.objective.build()
        self.optimizer: Optimizer = cfg.optimizer.build(params)

    @property
    def latent_dim(self) -> int:
        return self.encoder.latent_dim

    def networks(self) -> Mapping[str, nn.Module]:
        return dict(self._networks)

    def optimizers(self) -> Mapping[str, Optimizer]:
        return {"optimizer": self.optimizer}

    def train_step(self, batch: Batch, ctx: StepContext) -> Mapping[str, Tensor]:
        self._mode(train=True)
        with ctx.autocast():
            terms = self.objective(batch.x, self.encoder, self.decoder)
        ctx.update(terms["loss"], self.optimizer)
        return {name: value.detach().mean() for name, value in terms.items()}

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator, labels: Tensor | None = None, **options: Any) -> Tensor:
        """n samples from the prior through the decoder: images (n, C, H, W) or points (n, D)."""
        if labels is not None:
            raise GentkError("this VAE is unconditional: it cannot sample a given class", hint="leave out --class")
        unsupported = sorted(k for k, v in options.items() if v is not None)
        if unsupported:
            raise GentkError(
                f"the vae model does not take the sampling option(s) {', '.join(unsupported)}",
                hint="a VAE samples in one decoder pass; leave out --sampler, --steps and --guidance",
            )
        self._mode(train=False)
        z = torch.randn((n, self.latent_dim), generator=generator, device=self.device)  # (n, Z)
        params = self.decoder(z)
        if self.info.kind == "points":
            return self.decoder.sample(params, generator)
        return self.decoder.mean(params).clamp(0, 1)

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        """The decoder's mean at the encoder's mean: x (B, ...) -> (B, ...)."""
        self._mode(train=False)
        mu, _ = encode(self.encoder, x)
        return self.decoder.mean(self.decoder(mu))

    def figures(self, batch: Batch, *, generator: torch.Generator) -> Mapping[str, Tensor]:
        """Inputs interleaved with their reconstructions (images only), in columns labelled
        "data" and "recon." (four pairs a row)."""
        from gentk.figures import GridLabels, LabelledFigures

        if self.info.kind != "image":
            return {}
        x = batch.x[:N_RECONSTRUCTIONS].float()
        rec = self.reconstruct(x).clamp(0, 1)
        pairs = rearrange(torch.stack([x, rec]), "two b c h w -> (b two) c h w")  # x0, rec0, x1, ...
        per_row = min(4, len(x))
        labels = GridLabels(2 * per_row, column_labels=("data", "recon.") * per_row)
        return LabelledFigures({"reconstructions": pairs}, {"reconstructions": labels})

    def _mode(self, *, train: bool) -> None:
        for net in self._networks.values():
            net.train(train)
