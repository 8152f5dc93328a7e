"""The denoiser eps_theta(x_t, t, y): a U-Net of ResNet blocks with a sinusoidal time embedding,
multi-head self-attention at chosen resolutions and an optional class embedding whose extra
last row is the learned null token of classifier-free guidance (Ho et al. 2020, Ho & Salimans 2022).
"""

from __future__ import annotations

import contextlib
import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from gentk.errors import GentkError
from gentk.interfaces import BuildContext
from gentk_diffusion.configs import UNetConfig


def sinusoidal_embedding(t: Tensor, dim: int, max_period: float = 10_000.0) -> Tensor:
    """Transformer-style embedding of integer steps (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angles = t.float()[:, None] * freqs[None, :]  # (B, half)
    emb = torch.cat([angles.sin(), angles.cos()], dim=1)
    return F.pad(emb, (0, dim % 2))


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, with the step (and class) embedding added in between."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int, dropout: float, groups: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out)
        self.norm2 = nn.GroupNorm(groups, c_out)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)  # each block starts as the identity
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))  # (B, C_out, H, W)
        h = h + rearrange(self.emb(emb), "b c -> b c 1 1")
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class SelfAttention(nn.Module):
    """Multi-head self-attention over the H*W positions, with a residual connection."""

    def __init__(self, channels: int, heads: int, groups: int, backend: str):
        super().__init__()
        self.heads = heads
        self.norm = nn.GroupNorm(groups, channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.out = nn.Linear(channels, channels)
        nn.init.zeros_(self.out.weight)
        self.backend = backend

    def forward(self, x: Tensor, emb: Tensor | None = None) -> Tensor:
        h, w = x.shape[-2:]
        tokens = rearrange(self.norm(x), "b c h w -> b (h w) c")
        q, k, v = rearrange(self.qkv(tokens), "b n (three heads d) -> three b heads n d", three=3, heads=self.heads)
        with sdpa_kernel(SDPBackend.MATH) if self.backend == "math" else contextlib.nullcontext():
            att = F.scaled_dot_product_attention(q, k, v)  # (B, heads, N, D)
        out = self.out(rearrange(att, "b heads n d -> b n (heads d)"))
        return x + rearrange(out, "b (h w) c -> b c h w", h=h, w=w)


class Level(nn.Module):
    """One ResNet block, followed by attention at the resolutions that ask for it."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int, cfg: UNetConfig, attend: bool):
        super().__init__()
        self.res = ResBlock(c_in, c_out, emb_dim, cfg.dropout, cfg.norm_groups)
        self.attn = SelfAttention(c_out, cfg.num_heads, cfg.norm_groups, cfg.attention_backend) if attend else None

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        x = self.res(x, emb)
        return self.attn(x) if self.attn is not None else x


class Downsample(nn.Module):
    """Strided 3x3 convolution: (H, W) -> (ceil(H/2), ceil(W/2))."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: Tensor, emb: Tensor | None = None) -> Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    """Nearest-neighbour resize to the skip connection's size, then a 3x3 convolution."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor, size: tuple[int, int]) -> Tensor:
        return self.conv(F.interpolate(x, size=size, mode="nearest"))


class UNet(nn.Module):
    """eps_theta(x_t, t, y) for images (B, C, H, W) of any size, odd sides included."""

    def __init__(self, cfg: UNetConfig, channels_in: int, size: int, num_classes: int = 0):
        super().__init__()
        ch, emb_dim = cfg.channels, 4 * cfg.channels
        widths = [ch * m for m in cfg.channel_mult]
        self.channels = ch
        self.num_classes = num_classes
        self.channels_last = cfg.channels_last
        self.time_mlp = nn.Sequential(nn.Linear(ch, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.class_emb = nn.Embedding(num_classes + 1, emb_dim) if num_classes else None  # last row: null
        self.conv_in = nn.Conv2d(channels_in, ch, 3, padding=1)

        self.down = nn.ModuleList()
        skips, c, res = [ch], ch, size
        for i, width in enumerate(widths):
            for _ in range(cfg.num_res_blocks):
                self.down.append(Level(c, width, emb_dim, cfg, res in cfg.attention_resolutions))
                c = width
                skips.append(c)
            if i < len(widths) - 1:
                self.down.append(Downsample(c))
                skips.append(c)
                res = (res + 1) // 2
        self.mid = nn.ModuleList(
            [
                ResBlock(c, c, emb_dim, cfg.dropout, cfg.norm_groups),
                SelfAttention(c, cfg.num_heads, cfg.norm_groups, cfg.attention_backend),
                ResBlock(c, c, emb_dim, cfg.dropout, cfg.norm_groups),
            ]
        )
        self.up = nn.ModuleList()
        for i, width in reversed(list(enumerate(widths))):
            for _ in range(cfg.num_res_blocks + 1):
                self.up.append(Level(c + skips.pop(), width, emb_dim, cfg, res in cfg.attention_resolutions))
                c = width
            if i > 0:
                self.up.append(Upsample(c))
                res = size_at_level(size, i - 1)
        out_conv = nn.Conv2d(c, channels_in, 3, padding=1)
        nn.init.zeros_(out_conv.weight)
        self.out = nn.Sequential(nn.GroupNorm(cfg.norm_groups, c), nn.SiLU(), out_conv)
        if self.channels_last:
            self.to(memory_format=torch.channels_last)

    def embed(self, t: Tensor, y: Tensor | None) -> Tensor:
        """Step embedding plus class embedding (null token where y is None or num_classes)."""
        emb = self.time_mlp(sinusoidal_embedding(t, self.channels))  # (B, 4ch)
        if self.class_emb is not None:
            if y is None:
                y = torch.full_like(t, self.num_classes)
            emb = emb + self.class_emb(y)
        return emb

    def forward(self, x: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        emb = self.embed(t, y)
        h = self.conv_in(x)  # (B, ch, H, W)
        hs = [h]
        for layer in self.down:
            h = layer(h, emb)
            hs.append(h)
        h = self.mid[2](self.mid[1](self.mid[0](h, emb)), emb)
        for layer in self.up:
            if isinstance(layer, Upsample):
                h = layer(h, hs[-1].shape[-2:])
            else:
                h = layer(torch.cat([h, hs.pop()], dim=1), emb)
        return self.out(h)  # (B, C, H, W)


def size_at_level(size: int, level: int) -> int:
    """Feature-map side after `level` stride-2 downsamplings (ceil division)."""
    for _ in range(level):
        size = (size + 1) // 2
    return size


def build_unet(cfg: UNetConfig, ctx: BuildContext) -> UNet:
    """Factory: sizes the U-Net from the data (channels, side, number of classes)."""
    info = ctx.data
    if info.kind != "image" or len(info.shape) != 3:
        raise GentkError(
            f"the U-Net denoiser needs images (C, H, W), got data of shape {info.shape}", hint="use an image dataset"
        )
    c, h, w = info.shape
    net = UNet(cfg, c, max(h, w), info.num_classes)
    return net.to(ctx.device) if ctx.device is not None else net
