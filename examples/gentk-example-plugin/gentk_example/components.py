"""The example plugin's dataset and model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import torch
from torch import Tensor, nn

from gentk.errors import reject_options
from gentk.interfaces import Batch, BuildContext, DataInfo, Optimizer, Split, StepContext
from gentk.prob import diag_gaussian_log_prob
from gentk_example.configs import BlobConfig, GaussianFitConfig


class Blob:
    """A `gentk.interfaces.Dataset` of points drawn from one Gaussian blob."""

    def __init__(self, cfg: BlobConfig) -> None:
        self.cfg = cfg
        self.info = DataInfo(shape=(cfg.dim,), kind="points")

    def split(self, name: Literal["train", "test"]) -> Split:
        n = self.cfg.n_train if name == "train" else self.cfg.n_test
        g = torch.Generator().manual_seed(self.cfg.seed + (name == "test"))
        return Split(self.cfg.mean + self.cfg.std * torch.randn(n, self.cfg.dim, generator=g))


class GaussianFit:
    """A `gentk.interfaces.Model`: a diagonal Gaussian over the data (points or images)."""

    def __init__(self, cfg: GaussianFitConfig, ctx: BuildContext) -> None:
        self.device = ctx.device or torch.device("cpu")
        self.grid_columns: int | None = None
        self.images = ctx.data.kind == "image"
        self.net = nn.ParameterDict(
            {
                "mean": nn.Parameter(torch.zeros(ctx.data.shape)),
                "logvar": nn.Parameter(torch.zeros(ctx.data.shape)),
            }
        ).to(self.device)
        self.opt: Optimizer = cfg.optimizer.build(self.net.parameters())

    def networks(self) -> Mapping[str, nn.Module]:
        return {"gaussian": self.net}

    def optimizers(self) -> Mapping[str, Optimizer]:
        return {"adam": self.opt}

    def train_step(self, batch: Batch, ctx: StepContext) -> Mapping[str, Tensor | float]:
        with ctx.autocast():
            x = batch.x.flatten(1)
            mean, logvar = self.net["mean"].flatten(), self.net["logvar"].flatten()
            loss = -diag_gaussian_log_prob(x, mean, logvar).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return {"loss": loss.detach()}

    def sample(self, n: int, *, generator: torch.Generator, labels: Tensor | None = None, **options: Any) -> Tensor:
        reject_options("gaussian_fit", options)
        eps = torch.randn((n, *self.net["mean"].shape), generator=generator, device=self.device)
        x = (self.net["mean"] + (0.5 * self.net["logvar"]).exp() * eps).detach()
        return x.clamp(0, 1) if self.images else x
