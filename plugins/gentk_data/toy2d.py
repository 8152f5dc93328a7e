"""Generated 2-D point sets: Gaussian mixtures (ring, grid), a swiss roll and two moons.

`mixture(name)` gives the mode centres and std of the mixtures, for code that needs the true
density (mode-coverage metrics, Langevin targets).
"""

import math
from functools import partial

import torch
from einops import rearrange
from torch import Tensor

from gentk.errors import GentkError
from gentk.interfaces import DataInfo, Split
from gentk_data.base import InMemoryDataset

DEFAULT_STD = {"ring": 0.02, "grid": 0.05, "swiss_roll": 0.1, "moons": 0.1}


def _ring_centres() -> Tensor:
    """8 points evenly spaced on a circle of radius 2."""
    angles = torch.arange(8) * (2 * math.pi / 8)
    return 2.0 * torch.stack([angles.cos(), angles.sin()], dim=-1)  # (8, 2)


def _grid_centres() -> Tensor:
    """A 5×5 grid with spacing 2, centred at the origin."""
    coords = torch.arange(5, dtype=torch.float32) * 2.0 - 4.0
    gx, gy = torch.meshgrid(coords, coords, indexing="ij")
    return rearrange(torch.stack([gx, gy], dim=-1), "i j d -> (i j) d")  # (25, 2)


CENTRES = {"ring": _ring_centres, "grid": _grid_centres}


def mixture(name: str, std: float | None = None) -> tuple[Tensor, float]:
    """Mode centres (K, 2) and component std of the mixture `name` ("ring" or "grid");
    `std` overrides the default."""
    if name not in CENTRES:
        raise GentkError(f"{name!r} is not a Gaussian mixture", hint=f"mixtures: {', '.join(CENTRES)}")
    return CENTRES[name](), DEFAULT_STD[name] if std is None else std


def _mixture_points(name: str, n: int, std: float, g: torch.Generator) -> tuple[Tensor, Tensor]:
    centres, std = mixture(name, std)
    y = torch.randint(len(centres), (n,), generator=g)  # (N,) mode index
    x = centres[y] + std * torch.randn(n, 2, generator=g)  # (N, 2)
    return x, y


def _swiss_roll(n: int, std: float, g: torch.Generator) -> tuple[Tensor, None]:
    """The spiral r = t for t in [1.5π, 4.5π], scaled by 1/5 to lie within about ±3."""
    t = 1.5 * math.pi * (1 + 2 * torch.rand(n, generator=g))  # (N,)
    x = t[:, None] * torch.stack([t.cos(), t.sin()], dim=-1) / 5
    return x + std * torch.randn(n, 2, generator=g), None


def _moons(n: int, std: float, g: torch.Generator) -> tuple[Tensor, None]:
    """Two interleaved half circles of radius 2, centred at the origin."""
    theta = math.pi * torch.rand(n, generator=g)  # (N,)
    upper = torch.stack([theta.cos(), theta.sin()], dim=-1)  # (N, 2)
    lower = torch.stack([1 - theta.cos(), 0.5 - theta.sin()], dim=-1)
    which = torch.rand(n, 1, generator=g) < 0.5
    x = 2 * (torch.where(which, upper, lower) - torch.tensor([0.5, 0.25]))
    return x + std * torch.randn(n, 2, generator=g), None


SHAPES = {
    "ring": partial(_mixture_points, "ring"),
    "grid": partial(_mixture_points, "grid"),
    "swiss_roll": _swiss_roll,
    "moons": _moons,
}


def toy2d(cfg) -> InMemoryDataset:
    std = DEFAULT_STD[cfg.name] if cfg.std is None else cfg.std
    modes = len(CENTRES[cfg.name]()) if cfg.name in CENTRES else 0

    def load(split: str) -> Split:
        n = cfg.n_train if split == "train" else cfg.n_test
        g = torch.Generator().manual_seed(2 * cfg.seed + (split == "test"))  # distinct streams
        x, y = SHAPES[cfg.name](n, std, g)
        return Split(x.float(), y)

    return InMemoryDataset(DataInfo(shape=(2,), num_classes=modes, kind="points"), load)
