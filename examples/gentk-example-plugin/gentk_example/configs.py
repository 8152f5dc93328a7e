"""Configs of the example plugin's components (no torch imports, so listing plugins is fast)."""

from attrs import validators as v

from gentk.config import config, param, sub
from gentk.registry import Spec


@config
class BlobConfig:
    """Points from one Gaussian blob: N(mean, std^2 I) in `dim` dimensions."""

    dim: int = param(2, "dimension of the points", v.gt(0))
    mean: float = param(3.0, "mean of every coordinate")
    std: float = param(0.5, "standard deviation of every coordinate", v.gt(0))
    n_train: int = param(512, "training points", v.gt(0))
    n_test: int = param(128, "held-out points", v.gt(0))
    seed: int = param(0, "seed of the generated points")


@config
class GaussianFitConfig:
    """A diagonal Gaussian fitted by maximum likelihood with gradient steps."""

    optimizer: Spec = sub("optimizer", "adam", "optimizer of the mean and log-variance")
