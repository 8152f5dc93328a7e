"""The interfaces components implement, and the small records passed between them.

Shapes: images are (B, C, H, W) floats in [0, 1] unless stated; points are (B, D).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import attrs

if TYPE_CHECKING:
    import torch
    from torch import Tensor, nn


# -- records ---------------------------------------------------------------------------------
@attrs.frozen
class DataInfo:
    """What a model needs to know about its data to size its networks."""

    shape: tuple[int, ...]  # per example: (C, H, W) for images, (D,) for points
    num_classes: int = 0  # 0: unlabelled
    kind: Literal["image", "points"] = "image"
    binarized: bool = False

    @property
    def numel(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n


@attrs.frozen
class Split:
    """One split of a dataset held in memory: images as uint8 (N, C, H, W) or float points (N, D);
    labels as int64 (N,) or None."""

    x: Tensor
    y: Tensor | None = None

    def __len__(self) -> int:
        return len(self.x)


@attrs.frozen
class BuildContext:
    """Passed to factories of networks and models. `autocast` opens the run's precision context
    (bf16 autocast or nothing), for models that also want it when sampling."""

    data: DataInfo
    device: torch.device | None = None
    autocast: Callable[[], AbstractContextManager] = contextlib.nullcontext


@attrs.frozen
class Batch:
    """One training batch on the model's device: x float (images in [0, 1]), y labels or None."""

    x: Tensor
    y: Tensor | None = None


@attrs.frozen
class StepContext:
    """What the engine tells a model at each training step."""

    step: int  # global step, counted from 0
    epoch: int  # counted from 0
    autocast: Callable[[], AbstractContextManager]  # `with ctx.autocast(): loss = ...`
    device: torch.device


# -- data --------------------------------------------------------------------------------------
@runtime_checkable
class Dataset(Protocol):
    """A dataset held in memory with a training and a held-out split."""

    info: DataInfo

    def split(self, name: Literal["train", "test"]) -> Split: ...


# -- networks ----------------------------------------------------------------------------------
@runtime_checkable
class Encoder(Protocol):
    """q(z|x): maps x (B, ...) to the mean and log-variance of a diagonal Gaussian, each (B, Z)."""

    latent_dim: int

    def __call__(self, x: Tensor) -> tuple[Tensor, Tensor]: ...


@runtime_checkable
class Decoder(Protocol):
    """p(x|z): maps z (..., Z) to distribution parameters and scores data under them."""

    def __call__(self, z: Tensor) -> Tensor: ...

    def log_prob(self, x: Tensor, params: Tensor) -> Tensor:
        """log p(x|z) summed over data dimensions: x (B, ...), params (..., B, ...) -> (..., B)."""
        ...

    def mean(self, params: Tensor) -> Tensor:
        """The image the decoder predicts (its mean), in [0, 1]."""
        ...


@runtime_checkable
class Generator(Protocol):
    """G(z, y): noise (B, Z) (and optional labels (B,)) -> samples (B, ...), images in [-1, 1]
    or [0, 1] as the generator documents."""

    latent_dim: int

    def __call__(self, z: Tensor, y: Tensor | None = None) -> Tensor: ...


@runtime_checkable
class Critic(Protocol):
    """D(x, y): samples (B, ...) -> one unbounded score (a logit for GANs) per sample, (B,)."""

    def __call__(self, x: Tensor, y: Tensor | None = None) -> Tensor: ...


@runtime_checkable
class Denoiser(Protocol):
    """eps_theta(x_t, t, y): noisy images (B, C, H, W), integer steps (B,), labels (B,) or None
    (None or `num_classes` means the null label) -> predicted noise (B, C, H, W)."""

    def __call__(self, x: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor: ...


# -- mathematics -------------------------------------------------------------------------------
@runtime_checkable
class NoiseSchedule(Protocol):
    """A diffusion noise schedule with precomputed per-step coefficients (index t = 0..T-1)."""

    num_steps: int
    betas: Tensor
    alphas_cumprod: Tensor

    def q_sample(self, x0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        """A draw from q(x_t | x_0)."""
        ...

    def posterior(self, x0: Tensor, xt: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and variance of q(x_{t-1} | x_t, x_0)."""
        ...


@runtime_checkable
class Objective(Protocol):
    """A training objective. Its call signature depends on the family (documented by each
    family); it returns a scalar loss to minimise, or a mapping of named losses."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...


@runtime_checkable
class Sampler(Protocol):
    """Draws samples. `model` is whatever the sampler documents (a denoiser with its schedule,
    a log-density, ...); returns (B, ...) samples."""

    def sample(self, model: Any, shape: tuple[int, ...], *, generator: torch.Generator, **options: Any) -> Tensor: ...


@runtime_checkable
class Metric(Protocol):
    """Evaluates a trained model on held-out data; returns named figures (floats)."""

    def evaluate(
        self, model: Model, data: Split, info: DataInfo, *, generator: torch.Generator
    ) -> Mapping[str, float]: ...


@runtime_checkable
class UsesTrainingData(Protocol):
    """A metric that learns from the training split before its first evaluation (a classifier
    that labels generated images, say). The engine and `gentk eval` call `fit` once."""

    def fit(self, train: Split, info: DataInfo) -> None: ...


# -- what the engine trains ---------------------------------------------------------------------
@runtime_checkable
class Model(Protocol):
    """A trainable generative model. The engine moves `networks()` to the device, saves them and
    `optimizers()` in checkpoints, and calls `train_step` once per batch; the model does its own
    backward passes and optimizer steps, so several losses, alternating updates and weight
    averages fit without the engine knowing about them. An optional attribute `grid_columns`
    sets the row length of sample grids (e.g. one row per class)."""

    device: torch.device

    def networks(self) -> Mapping[str, nn.Module]: ...

    def optimizers(self) -> Mapping[str, torch.optim.Optimizer]: ...

    def train_step(self, batch: Batch, ctx: StepContext) -> Mapping[str, float]:
        """One update; returns named figures for the log. The key "loss" is checked for NaN/inf."""
        ...

    def sample(self, n: int, *, generator: torch.Generator, labels: Tensor | None = None, **options: Any) -> Tensor:
        """n samples: images (n, C, H, W) in [0, 1] or points (n, D)."""
        ...


@runtime_checkable
class HasExtraState(Protocol):
    """A model with state beyond its networks and optimizers (EMA weights, step counters)."""

    def extra_state(self) -> dict[str, Any]: ...

    def load_extra_state(self, state: dict[str, Any]) -> None: ...


@runtime_checkable
class HasFigures(Protocol):
    """A model that draws extra image grids each epoch (reconstructions, trajectories)."""

    def figures(self, batch: Batch, *, generator: torch.Generator) -> Mapping[str, Tensor]: ...
