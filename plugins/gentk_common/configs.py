"""Configs of the optimizers and the class-coverage metric (no torch imports: `gentk plugins`
reads them)."""

from attrs import validators as v

from gentk.config import config, param


@config
class AdamConfig:
    """Adam (Kingma & Ba 2015)."""

    lr: float = param(3e-4, "learning rate", v.gt(0))
    betas: tuple[float, float] = param((0.9, 0.999), "decay rates of the moment estimates")
    weight_decay: float = param(0.0, "L2 penalty (AdamW-style decoupled when decoupled = true)", v.ge(0))
    decoupled: bool = param(False, "use AdamW's decoupled weight decay")


@config
class RMSpropConfig:
    """RMSprop (Tieleman & Hinton 2012); the WGAN paper's choice."""

    lr: float = param(5e-5, "learning rate", v.gt(0))
    alpha: float = param(0.99, "smoothing constant", v.and_(v.gt(0), v.lt(1)))
    momentum: float = param(0.0, "momentum", v.ge(0))


@config
class SGDConfig:
    """Stochastic gradient descent with optional momentum."""

    lr: float = param(1e-2, "learning rate", v.gt(0))
    momentum: float = param(0.0, "momentum", v.ge(0))


@config
class CoverageConfig:
    """Class coverage of generated images: classes covered, KL to the data's labels, confident samples.

    A small CNN, trained once on the run's training split and cached, labels the samples."""

    n_samples: int = param(1000, "generated images to classify", v.gt(0))
    min_share: float = param(
        0.2, "a class is covered when its share is at least this fraction of 1/K", v.and_(v.gt(0), v.le(1))
    )
    confidence: float = param(
        0.9, "a sample is confident when its top class probability reaches this", v.and_(v.gt(0), v.le(1))
    )
    classifier_steps: int = param(500, "Adam steps (batch 128) of the classifier's one-off training", v.gt(0))
    cache_dir: str | None = param(None, "classifier cache; none: $GENTK_CACHE, else ~/.cache/gentk")
