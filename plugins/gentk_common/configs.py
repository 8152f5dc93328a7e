"""Configs of the optimizers and the class-coverage metric (no torch imports: `gentk plugins`
reads them)."""

from attrs import validators as v

from gentk.config import MAX_STEPS, config, in_range, learning_rate, param, probability


@config
class AdamConfig:
    """Adam (Kingma & Ba 2015)."""

    lr: float = param(3e-4, "learning rate, in (0, 10]", learning_rate)
    betas: tuple[float, float] = param(
        (0.9, 0.999), "decay rates of the moment estimates, two numbers in [0, 1)", v.deep_iterable(probability)
    )
    weight_decay: float = param(0.0, "L2 penalty (AdamW-style decoupled when decoupled = true)", in_range(0, 100))
    decoupled: bool = param(False, "use AdamW's decoupled weight decay")
    fused: bool = param(
        False, "torch's fused implementation: one kernel updates every parameter (pays on GPUs; same arithmetic)"
    )


@config
class RMSpropConfig:
    """RMSprop (Tieleman & Hinton 2012); the WGAN paper's choice."""

    lr: float = param(5e-5, "learning rate, in (0, 10]", learning_rate)
    alpha: float = param(0.99, "smoothing constant", v.and_(v.gt(0), v.lt(1)))
    momentum: float = param(0.0, "momentum, in [0, 1)", probability)


@config
class SGDConfig:
    """Stochastic gradient descent with optional momentum."""

    lr: float = param(1e-2, "learning rate, in (0, 10]", learning_rate)
    momentum: float = param(0.0, "momentum, in [0, 1)", probability)


@config
class CoverageConfig:
    """Class coverage of generated images: classes covered, KL to the data's labels, confident samples.

    A small CNN, trained once on the run's training split and cached, labels the samples."""

    n_samples: int = param(1000, "generated images to classify", in_range(1, MAX_STEPS))
    min_share: float = param(
        0.2, "a class is covered when its share is at least this fraction of 1/K", v.and_(v.gt(0), v.le(1))
    )
    confidence: float = param(
        0.9, "a sample is confident when its top class probability reaches this", v.and_(v.gt(0), v.le(1))
    )
    classifier_steps: int = param(
        500, "Adam steps (batch 128) of the classifier's one-off training", in_range(1, MAX_STEPS)
    )
    cache_dir: str | None = param(None, "classifier cache; none: $GENTK_CACHE, else ~/.cache/gentk")
