"""Generated 2-D point sets: Gaussian mixtures (ring, grid), a swiss roll and two moons.

The mixtures are `gentk.prob.toy_mixture`; their datasets expose that exact density through
`density()` (`gentk.families.density.ExactDensityDataset`).
"""

import math
from collections.abc import Callable
from functools import partial

import torch
from torch import Tensor

from gentk.interfaces import DataInfo, Split
from gentk.prob import TOY_MIXTURE_STD, TOY_MIXTURES, GaussianMixture, toy_mixture
from gentk_data.base import InMemoryDataset
from gentk_data.configs import Toy2DConfig

DEFAULT_STD = {**TOY_MIXTURE_STD, "swiss_roll": 0.1, "moons": 0.1}

Shape = Callable[[int, float, torch.Generator], tuple[Tensor, Tensor | None]]
"""(n, std, generator) -> points (N, 2) and mode labels (N,) or None."""


def _mixture_points(name: str, n: int, std: float, g: torch.Generator) -> tuple[Tensor, Tensor]:
    centres = toy_mixture(name, std).means  # (K, 2)
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


SHAPES: dict[str, Shape] = {
    "ring": partial(_mixture_points, "ring"),
    "grid": partial(_mixture_points, "grid"),
    "swiss_roll": _swiss_roll,
    "moons": _moons,
}


class MixtureDataset(InMemoryDataset):
    """Points of a toy Gaussian mixture, labelled by their mode; `density()` is the mixture."""

    def __init__(self, mixture: GaussianMixture, load: Callable[[str], Split]):
        super().__init__(DataInfo(shape=(2,), num_classes=mixture.num_components, kind="points"), load)
        self._mixture = mixture

    def density(self) -> GaussianMixture:
        """The exact density of the points (both splits), (B, 2) -> log p (B,)."""
        return self._mixture


def toy2d(cfg: Toy2DConfig) -> InMemoryDataset:
    std = DEFAULT_STD[cfg.name] if cfg.std is None else cfg.std

    def load(split: str) -> Split:
        n = cfg.n_train if split == "train" else cfg.n_test
        g = torch.Generator().manual_seed(2 * cfg.seed + (split == "test"))  # distinct streams
        x, y = SHAPES[cfg.name](n, std, g)
        return Split(x.float(), y)

    if cfg.name in TOY_MIXTURES:
        return MixtureDataset(toy_mixture(cfg.name, std), load)
    return InMemoryDataset(DataInfo(shape=(2,), num_classes=0, kind="points"), load)
