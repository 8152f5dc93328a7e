"""The example plugin's dataset and model."""

import torch
from torch import nn

from gentk.errors import reject_options
from gentk.interfaces import DataInfo, Split
from gentk.prob import diag_gaussian_log_prob


class Blob:
    def __init__(self, cfg):
        self.cfg = cfg
        self.info = DataInfo(shape=(cfg.dim,), kind="points")

    def split(self, name):
        n = self.cfg.n_train if name == "train" else self.cfg.n_test
        g = torch.Generator().manual_seed(self.cfg.seed + (name == "test"))
        return Split(self.cfg.mean + self.cfg.std * torch.randn(n, self.cfg.dim, generator=g))


class GaussianFit:
    def __init__(self, cfg, ctx):
        self.device = ctx.device
        self.net = nn.ParameterDict({
            "mean": nn.Parameter(torch.zeros(ctx.data.shape)),
            "logvar": nn.Parameter(torch.zeros(ctx.data.shape)),
        }).to(ctx.device)
        self.opt = cfg.optimizer.build(self.net.parameters())

    def networks(self):
        return {"gaussian": self.net}

    def optimizers(self):
        return {"adam": self.opt}

    def train_step(self, batch, ctx):
        with ctx.autocast():
            loss = -diag_gaussian_log_prob(batch.x, self.net["mean"], self.net["logvar"]).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return {"loss": loss.detach()}

    def sample(self, n, *, generator, labels=None, **options):
        reject_options("gaussian_fit", options)
        eps = torch.randn((n, *self.net["mean"].shape), generator=generator, device=self.device)
        return (self.net["mean"] + (0.5 * self.net["logvar"]).exp() * eps).detach()
