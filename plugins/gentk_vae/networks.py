"""Encoders q(z|x) and decoders p(x|z): MLP and convolutional, built from recipe configs.

Encoder factories are `factory(config, ctx)`; decoder factories also take the latent size,
`factory(config, ctx, *, latent_dim)`, which the model reads from its encoder.
"""

from __future__ import annotations

import torch
from einops import pack, unpack
from einops.layers.torch import Rearrange
from torch import Tensor, nn

from gentk.errors import GentkError
from gentk.interfaces import BuildContext, DataInfo
from gentk_vae.configs import (
    ConvDecoderConfig,
    ConvEncoderConfig,
    ConvGaussianDecoderConfig,
    MLPDecoderConfig,
    MLPEncoderConfig,
    MLPGaussianDecoderConfig,
)
from gentk_vae.likelihoods import Bernoulli, Gaussian

ACTIVATIONS = {"relu": nn.ReLU, "elu": nn.ELU, "silu": nn.SiLU, "tanh": nn.Tanh}


def mlp(sizes: list[int], activation: str, *, last_activation: bool) -> nn.Sequential:
    """Linear layers through `sizes`, with an activation after each (and after the last one
    only if `last_activation`)."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=False)):
        layers.append(nn.Linear(n_in, n_out))
        if last_activation or i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


# -- encoders -----------------------------------------------------------------------------------
class GaussianEncoder(nn.Module):
    """q(z|x) = N(mu(x), diag exp(logvar(x))): a feature network, then one linear head."""

    def __init__(self, body: nn.Module, features: int, latent_dim: int):
        super().__init__()
        self.latent_dim = latent_dim
        self.body = body
        self.head = nn.Linear(features, 2 * latent_dim)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mu, logvar = self.head(self.body(x)).chunk(2, dim=-1)  # (B, Z) each
        return mu, logvar


def mlp_encoder(cfg: MLPEncoderConfig, ctx: BuildContext) -> GaussianEncoder:
    hidden = list(cfg.hidden)
    body = nn.Sequential(
        Rearrange("b ... -> b (...)"),  # (B, C*H*W) or (B, D)
        mlp([ctx.data.numel, *hidden], cfg.activation, last_activation=True),
    )
    return GaussianEncoder(body, hidden[-1] if hidden else ctx.data.numel, cfg.latent_dim)


def conv_encoder(cfg: ConvEncoderConfig, ctx: BuildContext) -> GaussianEncoder:
    c, h, w = _image_shape(ctx.data, len(cfg.channels), "conv_gaussian encoder")
    act = ACTIVATIONS[cfg.activation]
    layers: list[nn.Module] = []
    for c_in, c_out in zip((c, *cfg.channels[:-1]), cfg.channels, strict=False):
        layers += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), act()]  # halves H and W
    scale = 2 ** len(cfg.channels)
    body = nn.Sequential(
        *layers,
        Rearrange("b c h w -> b (c h w)"),
        nn.Linear(cfg.channels[-1] * (h // scale) * (w // scale), cfg.hidden),
        act(),
    )
    return GaussianEncoder(body, cfg.hidden, cfg.latent_dim)


# -- decoders -----------------------------------------------------------------------------------
class LikelihoodDecoder(nn.Module):
    """p(x|z): a network from z (..., Z) to raw outputs in data shape (..., *shape), then a
    likelihood that reads them as distribution parameters. `discrete` is True for Bernoulli
    pixels (a probability mass), False for a Gaussian density."""

    def __init__(self, net: nn.Module, likelihood: Bernoulli | Gaussian):
        super().__init__()
        self.net = net
        self.likelihood = likelihood
        self.discrete: bool = likelihood.discrete

    def forward(self, z: Tensor) -> Tensor:
        return self.likelihood(self.net(z))

    def log_prob(self, x: Tensor, params: Tensor) -> Tensor:
        """log p(x|z) summed over data dimensions: x (B, ...), params (..., B, ...) -> (..., B)."""
        return self.likelihood.log_prob(x, params)

    def mean(self, params: Tensor) -> Tensor:
        return self.likelihood.mean(params)

    def sample(self, params: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return self.likelihood.sample(params, generator)


class ConvNet(nn.Module):
    """z (..., Z) -> image (..., C, H, W): an MLP to a small feature map, then upsampling blocks
    that each double the resolution (transposed convolution or resize-convolution)."""

    def __init__(self, cfg: ConvDecoderConfig, data: DataInfo, latent_dim: int):
        super().__init__()
        c, h, w = _image_shape(data, len(cfg.channels), "conv decoder")
        scale = 2 ** len(cfg.channels)
        widths = [*reversed(cfg.channels), c]
        act = ACTIVATIONS[cfg.activation]
        self.stem = nn.Sequential(
            mlp(
                [latent_dim, cfg.hidden, widths[0] * (h // scale) * (w // scale)], cfg.activation, last_activation=True
            ),
            Rearrange("n (c h w) -> n c h w", h=h // scale, w=w // scale),
        )
        blocks: list[nn.Module] = []
        for i, (c_in, c_out) in enumerate(zip(widths[:-1], widths[1:], strict=False)):
            blocks.append(_upsample(c_in, c_out, cfg.upsample, cfg.resize_mode))
            if i < len(widths) - 2:
                blocks.append(act())
        self.blocks = nn.Sequential(*blocks)

    def forward(self, z: Tensor) -> Tensor:
        flat, packed = pack([z], "* z")  # (N, Z): all leading dims (samples, batch) in one
        out = self.blocks(self.stem(flat))  # (N, C, H, W)
        return unpack(out, packed, "* c h w")[0]


def _upsample(c_in: int, c_out: int, how: str, mode: str) -> nn.Module:
    """Double H and W. Resize-convolution (Odena, Dumoulin & Olah 2016) avoids the
    checkerboard artefacts that overlapping transposed-convolution strides can leave."""
    if how == "transposed":
        return nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1)
    return nn.Sequential(nn.Upsample(scale_factor=2, mode=mode), nn.Conv2d(c_in, c_out, 3, padding=1))


def _mlp_net(cfg: MLPDecoderConfig, data: DataInfo, latent_dim: int) -> nn.Sequential:
    return nn.Sequential(
        mlp([latent_dim, *cfg.hidden, data.numel], cfg.activation, last_activation=False),
        nn.Unflatten(-1, data.shape),  # (..., *shape)
    )


def _gaussian(cfg: MLPGaussianDecoderConfig | ConvGaussianDecoderConfig, data: DataInfo) -> Gaussian:
    return Gaussian(
        data.shape,
        bounded=data.kind == "image",
        init_logvar=cfg.init_logvar,
        min_logvar=cfg.min_logvar,
        max_logvar=cfg.max_logvar,
    )


def _bernoulli(name: str, data: DataInfo) -> Bernoulli:
    if data.kind != "image":
        raise GentkError(
            f"decoder {name!r} models pixels in [0, 1]; this dataset holds {data.kind}",
            hint='use a Gaussian decoder for points, e.g. decoder = "mlp_gaussian"',
        )
    return Bernoulli(data.shape)


def mlp_bernoulli(cfg: MLPDecoderConfig, ctx: BuildContext, *, latent_dim: int) -> LikelihoodDecoder:
    return LikelihoodDecoder(_mlp_net(cfg, ctx.data, latent_dim), _bernoulli("mlp_bernoulli", ctx.data))


def mlp_gaussian(cfg: MLPGaussianDecoderConfig, ctx: BuildContext, *, latent_dim: int) -> LikelihoodDecoder:
    return LikelihoodDecoder(_mlp_net(cfg, ctx.data, latent_dim), _gaussian(cfg, ctx.data))


def conv_bernoulli(cfg: ConvDecoderConfig, ctx: BuildContext, *, latent_dim: int) -> LikelihoodDecoder:
    return LikelihoodDecoder(ConvNet(cfg, ctx.data, latent_dim), _bernoulli("conv_bernoulli", ctx.data))


def conv_gaussian(cfg: ConvGaussianDecoderConfig, ctx: BuildContext, *, latent_dim: int) -> LikelihoodDecoder:
    return LikelihoodDecoder(ConvNet(cfg, ctx.data, latent_dim), _gaussian(cfg, ctx.data))


def _image_shape(data: DataInfo, n_halvings: int, what: str) -> tuple[int, int, int]:
    """(C, H, W) of image data whose sides halve `n_halvings` times exactly."""
    if data.kind != "image" or len(data.shape) != 3:
        raise GentkError(
            f"the {what} needs images (C, H, W); this dataset holds {data.kind} of shape {data.shape}",
            hint='use the MLP networks ("mlp_gaussian", "mlp_bernoulli") for points',
        )
    c, h, w = data.shape
    scale = 2**n_halvings
    if h % scale or w % scale:
        raise GentkError(
            f"the {what} halves the image {n_halvings} times, but {h}x{w} is not divisible by {scale}",
            hint="use fewer `channels` entries, or resize the images (image_folder: size = ...)",
        )
    return c, h, w
