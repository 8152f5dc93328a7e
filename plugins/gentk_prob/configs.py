"""Configs of the prob plugin's components (no torch imports: `gentk plugins` reads them)."""

from typing import Literal, get_args

from attrs import validators as v

from gentk.config import MAX_STEPS, config, in_range, open_range, param, sub
from gentk.families.density import DensitySampler
from gentk.registry import Spec

Mixture = Literal["ring", "grid"]
_mixtures = v.in_(get_args(Mixture))
_std = v.optional(open_range(0, 100))


@config
class LangevinConfig:
    """Langevin dynamics x <- x + η ∇log p(x) + sqrt(2η) ξ from N(0, init_std² I), optionally MALA."""

    step_size: float = param(
        1e-4, "η; stable while η is well below the smallest variance of the target", open_range(0, 100)
    )
    steps: int = param(1000, "Langevin steps per chain", in_range(1, MAX_STEPS))
    mala: bool = param(
        False,
        "Metropolis-adjusted (MALA): accept each step with the Metropolis-Hastings "
        "probability, removing the discretisation bias; needs a log-density",
        v.instance_of(bool),
    )
    init_std: float = param(1.0, "chains start from N(0, init_std² I)", open_range(0, 1e6))


@config
class LangevinTargetConfig:
    """Draws from a toy2d Gaussian mixture by Langevin dynamics on its exact log-density; nothing is
    trained: each step advances persistent chains and logs how far they are from equilibrium."""

    mixture: Mixture = param("ring", "the toy2d mixture that is the target (the one named in [data])", _mixtures)
    std: float | None = param(None, "std of each mode; none: the toy2d default (ring 0.02, grid 0.05)", _std)
    sampler: Spec = sub(
        "sampler", "langevin", "a Langevin-type sampler (step size, steps, MALA)", accepts=DensitySampler
    )
    chains: int = param(512, "persistent chains advanced during training", in_range(1, MAX_STEPS))
    steps_per_batch: int = param(
        20, "Langevin steps the persistent chains take per training step", in_range(1, MAX_STEPS)
    )


@config
class GMMEMConfig:
    """A diagonal Gaussian mixture fitted by EM, one EM iteration per training step on the batch
    (give it one batch holding the whole training split)."""

    components: int = param(25, "K, the number of mixture components", in_range(1, 10_000))
    min_std: float = param(
        1e-3, "floor on every component std (stops components collapsing onto a point)", open_range(0, 1e3)
    )
    init: Literal["kmeans++", "random"] = param(
        "kmeans++",
        "starting means: k-means++ seeding, or k random data points (EM then often stalls in a "
        "local optimum with two components sharing a mode)",
        v.in_(("kmeans++", "random")),
    )


@config
class ModeCoverageConfig:
    """Modes covered and share of high-quality samples for a toy2d Gaussian mixture (ring or grid)."""

    mixture: Literal["auto", "ring", "grid"] = param(
        "auto",
        "the toy2d mixture the data come from; auto: the one that best explains the held-out split",
        v.in_(("auto", "ring", "grid")),
    )
    std: float | None = param(None, "std of each mode; none: estimated from the held-out split", _std)
    n_samples: int = param(2000, "samples drawn from the model", in_range(1, MAX_STEPS))
    min_fraction: float = param(
        0.1,
        "a mode is covered when it gets at least this fraction of its expected number of samples",
        v.and_(v.gt(0), v.le(1)),
    )
    radius: float = param(3.0, "a sample is high quality within this many stds of a mode centre", open_range(0, 1e3))


@config
class LogLikelihoodConfig:
    """Average held-out log-likelihood (nats per example, with its standard error) of a model with
    an exact density (`log_prob`), such as gmm_em."""

    batch_size: int = param(4096, "examples scored at once", in_range(1, 2**20))
