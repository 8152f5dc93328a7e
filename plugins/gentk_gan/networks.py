"""Generators G(z, y) and critics D(x, y): MLP, convolutional (the reference WGAN) and DCGAN-style.

Generators end in tanh (images in [-1, 1]), sigmoid ([0, 1]) or nothing (points), and expose the
range as `output_range` so the model can map real data into it. Conditional generators
concatenate a learned label embedding to z; conditional critics add a projection term
<embed(y), h(x)> to the score (Miyato & Koyama 2018); critics with `aux_classifier` also
predict the class from the same features (AC-GAN, Odena et al. 2017).
"""

from __future__ import annotations

import torch
from einops import rearrange
from einops.layers.torch import Rearrange
from torch import Tensor, nn

from gentk.errors import GentkError
from gentk.interfaces import BuildContext, DataInfo
from gentk_gan.configs import (
    ConvCriticConfig,
    ConvGeneratorConfig,
    DCGANCriticConfig,
    MLPCriticConfig,
    MLPGeneratorConfig,
)

RANGES: dict[str, tuple[float, float] | None] = {"tanh": (-1.0, 1.0), "sigmoid": (0.0, 1.0), "linear": None}


def _num_classes(flag: bool, info: DataInfo, what: str) -> int:
    if flag and info.num_classes < 2:
        raise GentkError(
            f"a conditional {what} needs labelled data, but the dataset has no classes",
            hint=f"set conditional = false (and aux_classifier = false) for the {what}, or use labelled data",
        )
    return info.num_classes if flag else 0


def _image_size(info: DataInfo, what: str) -> tuple[int, int, int]:
    if info.kind != "image" or len(info.shape) != 3 or info.shape[1] % 4 or info.shape[2] % 4:
        raise GentkError(
            f"the convolutional {what} needs images whose height and width divide by 4, got shape {info.shape}",
            hint=f"use the mlp {what} for points or other sizes",
        )
    return info.shape  # (C, H, W)


def _unflatten(info: DataInfo) -> nn.Module:
    if len(info.shape) == 3:
        c, h, w = info.shape
        return Rearrange("b (c h w) -> b c h w", c=c, h=h, w=w)
    return nn.Identity()


# -- generators -------------------------------------------------------------------------------
class GeneratorNet(nn.Module):
    """Label embedding, body and output activation; subclasses set `self.body`."""

    body: nn.Module

    def __init__(self, cfg: MLPGeneratorConfig | ConvGeneratorConfig, info: DataInfo):
        super().__init__()
        self.latent_dim: int = cfg.latent_dim
        self.num_classes = _num_classes(cfg.conditional, info, "generator")
        self.embed = nn.Embedding(self.num_classes, cfg.embed_dim) if self.num_classes else None
        self.conditional: bool = self.embed is not None
        self.in_dim = cfg.latent_dim + (cfg.embed_dim if self.num_classes else 0)
        output = cfg.output if cfg.output != "auto" else ("tanh" if info.kind == "image" else "linear")
        self.output_range: tuple[float, float] | None = RANGES[output]
        self.activation = {"tanh": nn.Tanh(), "sigmoid": nn.Sigmoid(), "linear": nn.Identity()}[output]

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        if self.embed is not None:
            if y is None:
                raise GentkError("this generator is conditional and needs labels")
            z = torch.cat([z, self.embed(y)], dim=1)  # (B, Z + E)
        return self.activation(self.body(z))


class MLPGenerator(GeneratorNet):
    def __init__(self, cfg: MLPGeneratorConfig, ctx: BuildContext):
        super().__init__(cfg, ctx.data)
        layers: list[nn.Module] = []
        width = self.in_dim
        act = nn.LeakyReLU(cfg.slope) if cfg.slope else nn.ReLU()
        for _ in range(cfg.layers):
            layers += [nn.Linear(width, cfg.hidden), act]
            width = cfg.hidden
        self.body = nn.Sequential(*layers, nn.Linear(width, ctx.data.numel), _unflatten(ctx.data))
        self.to(ctx.device)


def upsample(kind: str, c_in: int, c_out: int) -> nn.Module:
    """Double the resolution: transposed convolution, or nearest resize then convolution
    (Odena, Dumoulin & Olah 2016), which avoids checkerboard artefacts."""
    if kind == "transposed":
        return nn.ConvTranspose2d(c_in, c_out, kernel_size=4, stride=2, padding=1)
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c_in, c_out, 3, padding=1))


class ConvGenerator(GeneratorNet):
    """z -> [fully connected hidden layer] -> (2C, H/4, W/4) -> two upsampling blocks -> image."""

    def __init__(self, cfg: ConvGeneratorConfig, ctx: BuildContext):
        super().__init__(cfg, ctx.data)
        c_img, h, w = _image_size(ctx.data, "generator")
        c = cfg.channels
        head = [nn.Linear(self.in_dim, cfg.fc_hidden), nn.ReLU()] if cfg.fc_hidden else []
        width = cfg.fc_hidden or self.in_dim
        self.body = nn.Sequential(
            *head,
            nn.Linear(width, 2 * c * (h // 4) * (w // 4)),
            Rearrange("b (c h w) -> b c h w", c=2 * c, h=h // 4, w=w // 4),  # (B, 2C, H/4, W/4)
            nn.BatchNorm2d(2 * c),
            nn.ReLU(),
            upsample(cfg.upsample, 2 * c, c),
            nn.BatchNorm2d(c),
            nn.ReLU(),  # (B, C, H/2, W/2)
            upsample(cfg.upsample, c, c_img),  # (B, C_img, H, W)
        )
        self.to(ctx.device)


# -- critics ----------------------------------------------------------------------------------
class CriticNet(nn.Module):
    """Features h(x) (B, F) from `self.body`; score = w.h + b [+ <embed(y), h>]; optional class head."""

    body: nn.Module

    def __init__(self, cfg: MLPCriticConfig | ConvCriticConfig | DCGANCriticConfig, info: DataInfo, features: int):
        super().__init__()
        self.num_classes = _num_classes(cfg.conditional or cfg.aux_classifier, info, "critic")
        self.head = nn.Linear(features, 1)
        self.project = nn.Embedding(self.num_classes, features) if cfg.conditional else None
        self.aux = nn.Linear(features, self.num_classes) if cfg.aux_classifier else None
        self.conditional: bool = self.project is not None
        self.num_aux_classes: int = self.num_classes if self.aux is not None else 0

    def score(self, h: Tensor, y: Tensor | None) -> Tensor:
        s = rearrange(self.head(h), "b 1 -> b")
        if self.project is not None:
            if y is None:
                raise GentkError("this critic is conditional and needs labels")
            s = s + (self.project(y) * h).sum(dim=1)
        return s  # (B,)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        return self.score(self.body(x), y)

    def forward_aux(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """Scores (B,) and class logits (B, K), or None without an auxiliary classifier."""
        h = self.body(x)
        return self.score(h, y), (self.aux(h) if self.aux is not None else None)


def norm_layer(kind: str, channels: int) -> nn.Module:
    """Batch norm, layer norm over (C, H, W) (safe with a gradient penalty) or none."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    return nn.GroupNorm(1, channels) if kind == "layer" else nn.Identity()


class MLPCritic(CriticNet):
    def __init__(self, cfg: MLPCriticConfig, ctx: BuildContext):
        super().__init__(cfg, ctx.data, cfg.hidden)
        layers: list[nn.Module] = [Rearrange("b ... -> b (...)")]
        width = ctx.data.numel
        for _ in range(cfg.layers):
            layers += [nn.Linear(width, cfg.hidden), nn.LeakyReLU(cfg.slope)]
            layers += [nn.Dropout(cfg.dropout)] if cfg.dropout else []
            width = cfg.hidden
        self.body = nn.Sequential(*layers)
        self.to(ctx.device)


class ConvCritic(CriticNet):
    """The reference WGAN critic: two stride-1 convolutions, each followed by normalisation and
    2x2 max-pooling, then a fully connected layer of `hidden` units before the score."""

    def __init__(self, cfg: ConvCriticConfig, ctx: BuildContext):
        super().__init__(cfg, ctx.data, cfg.hidden)
        c_img, h, w = _image_size(ctx.data, "critic")
        c = cfg.channels
        act = nn.LeakyReLU(cfg.slope)
        self.body = nn.Sequential(
            nn.Conv2d(c_img, c, 3, padding=1),
            norm_layer(cfg.norm, c),
            act,
            nn.MaxPool2d(2),  # (B, C, H/2, W/2)
            nn.Conv2d(c, 2 * c, 3, padding=1),
            norm_layer(cfg.norm, 2 * c),
            act,
            nn.MaxPool2d(2),  # (B, 2C, H/4, W/4)
            Rearrange("b c h w -> b (c h w)"),
            nn.Linear(2 * c * (h // 4) * (w // 4), cfg.hidden),
            act,
        )
        self.to(ctx.device)


class DCGANCritic(CriticNet):
    """DCGAN-style (Radford et al. 2016): strided 4x4 convolutions, no pooling, linear score."""

    def __init__(self, cfg: DCGANCriticConfig, ctx: BuildContext):
        c_img, h, w = _image_size(ctx.data, "critic")
        c = cfg.channels
        super().__init__(cfg, ctx.data, 2 * c * (h // 4) * (w // 4))
        act = nn.LeakyReLU(cfg.slope)
        self.body = nn.Sequential(
            nn.Conv2d(c_img, c, 4, stride=2, padding=1),
            act,  # (B, C, H/2, W/2)
            nn.Conv2d(c, 2 * c, 4, stride=2, padding=1),
            norm_layer(cfg.norm, 2 * c),
            act,  # (B, 2C, H/4, W/4)
            Rearrange("b c h w -> b (c h w)"),
        )
        self.to(ctx.device)
