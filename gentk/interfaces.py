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


def parameters_of(optimizer: Optimizer) -> list[Tensor]:
    return [p for group in optimizer.param_groups for p in group["params"]]


def plain_update(loss: Tensor, optimizer: Optimizer, clip_norm: float | None = None) -> Tensor | None:
    """zero_grad, backward, optional clipping to `clip_norm` (returns the norm before clipping), step."""
    import torch  # this module is imported without torch (plugins' hooks load fast)

    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    norm = torch.nn.utils.clip_grad_norm_(parameters_of(optimizer), clip_norm) if clip_norm is not None else None
    optimizer.step()
    return norm


@attrs.frozen
class StepContext:
    """What the engine tells a model at each training step."""

    step: int  # global step, counted from 0
    epoch: int  # counted from 0
    autocast: Callable[[], AbstractContextManager]  # `with ctx.autocast(): loss = ...`
    device: torch.device
    # `ctx.update(loss, optimizer, clip_norm)`: zero_grad, backward, clipping, step; in fp16 with loss
    # scaling (gentk.updates). Returns the gradient norm before clipping when clip_norm is given.
    update: Update = plain_update


# -- data --------------------------------------------------------------------------------------
@runtime_checkable
class Dataset(Protocol):
    """A dataset held in memory with a training and a held-out split."""

    info: DataInfo

    def split(self, name: Literal["train", "test"]) -> Split: ...


@runtime_checkable
class LogDensity(Protocol):
    """An exact, differentiable log-density: points (B, ...) -> log p(x) (B,)."""

    def log_prob(self, x: Tensor) -> Tensor: ...


# -- families' kinds ---------------------------------------------------------------------------
# The protocols of the family-specific kinds (encoder, decoder, generator, critic, denoiser,
# schedule) and the family protocols of objectives and samplers live in `gentk.families`.


@runtime_checkable
class Objective(Protocol):
    """A training objective. What a model calls on it is a family protocol (`VAEObjective`,
    `AdversarialObjective`, `DiffusionObjective`, ...): every objective declares the one it
    implements with `provides=` when it is registered, and a model's slot accepts only those."""


@runtime_checkable
class Sampler(Protocol):
    """Draws samples. What a model calls on it is a family protocol (`DiffusionSampler`,
    `DensitySampler`, ...), declared with `provides=` when the sampler is registered."""


@runtime_checkable
class Optimizer(Protocol):
    """What the engine and the models call on an optimizer (`torch.optim.Optimizer` has it all)."""

    param_groups: list[dict[str, Any]]

    def zero_grad(self, set_to_none: bool = True) -> None: ...

    def step(self, closure: Any = None) -> Any: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state_dict: dict[str, Any]) -> None: ...

    def register_step_pre_hook(self, hook: Callable[..., Any]) -> Any:
        """Data-parallel runs average gradients over processes in such a hook."""
        ...


class Update(Protocol):
    """`ctx.update(loss, optimizer, clip_norm=None)`: see StepContext."""

    def __call__(self, loss: Tensor, optimizer: Optimizer, clip_norm: float | None = None) -> Tensor | None: ...


@runtime_checkable
class Metric(Protocol):
    """Evaluates a trained model on held-out data; returns named figures (floats), and optionally
    a "warning" (a string the engine prints once and logs)."""

    def evaluate(
        self, model: Model, data: Split, info: DataInfo, *, generator: torch.Generator
    ) -> Mapping[str, float | str]: ...


@runtime_checkable
class UsesTrainingData(Protocol):
    """A metric that learns from the training split before its first evaluation (a classifier
    that labels generated images, say). The engine and `gentk eval` call `fit` once."""

    def fit(self, train: Split, info: DataInfo) -> None: ...


@runtime_checkable
class FeatureExtractor(Protocol):
    """Maps images (N, C, H, W) in [0, 1] to features (N, D) for the sample-quality metrics (FID,
    KID, precision/recall). `card()` says which features they are -- the extractor's name, a hash of
    its weights, the resize and input type -- so that figures made with different features are told
    apart. An extractor trained on the run's data (a classifier) also implements `UsesTrainingData`."""

    def features(self, images: Tensor) -> Tensor: ...

    def card(self) -> Mapping[str, Any]: ...


@runtime_checkable
class DescribesSampling(Protocol):
    """A model that says how it samples (sampler, steps, guidance), given `sample`'s options; the
    sample-quality metrics write it into their protocol cards."""

    def sampling_settings(self, **options: Any) -> Mapping[str, Any]: ...


# -- what the engine trains ---------------------------------------------------------------------
Figures = Mapping[str, "Tensor | float"]
"""Named figures a training step returns: 0-dim tensors (kept on the device until logged) or floats."""


@runtime_checkable
class Model(Protocol):
    """A trainable generative model. The engine moves `networks()` to the device, saves them and
    `optimizers()` in checkpoints, and calls `train_step` once per batch; the model does its own
    backward passes and optimizer steps, so several losses, alternating updates and weight
    averages fit without the engine knowing about them. Updating through `ctx.update(loss,
    optimizer, clip_norm)` gives fp16 runs their loss scaling; figures returned as tensors are read
    at the engine's log points (a `.item()` per step would make the host wait for a GPU).
    `grid_columns` sets the row length of the last sample grid (one row per class, say), or None
    for a square grid."""

    device: torch.device
    grid_columns: int | None

    def networks(self) -> Mapping[str, nn.Module]: ...

    def optimizers(self) -> Mapping[str, Optimizer]: ...

    def train_step(self, batch: Batch, ctx: StepContext) -> Figures:
        """One update; returns named figures for the log. "loss" is checked for NaN/inf."""
        ...

    def sample(self, n: int, *, generator: torch.Generator, labels: Tensor | None = None, **options: Any) -> Tensor:
        """n samples: images (n, C, H, W) in [0, 1] or points (n, D). Unknown options are a GentkError."""
        ...


def as_module(part: object, what: str) -> nn.Module:
    """A model's part as the torch module the engine moves, saves and switches between train and
    eval mode; a GentkError naming the part when it is not one."""
    from torch import nn

    from gentk.errors import GentkError

    if not isinstance(part, nn.Module):
        raise GentkError(
            f"the {what} is a {type(part).__name__}, not a torch.nn.Module, so it cannot be trained",
            hint=f"build the {what} as a torch.nn.Module subclass",
        )
    return part


@runtime_checkable
class HasExtraState(Protocol):
    """A model with state beyond its networks and optimizers (EMA weights, step counters)."""

    def extra_state(self) -> dict[str, Any]: ...

    def load_extra_state(self, state: dict[str, Any]) -> None: ...


@runtime_checkable
class HasFigures(Protocol):
    """A model that draws extra image grids each epoch (reconstructions, trajectories)."""

    def figures(self, batch: Batch, *, generator: torch.Generator) -> Mapping[str, Tensor]: ...
