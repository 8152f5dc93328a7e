"""Configs of the sample-quality metrics and their feature extractors (no torch imports: `gentk
plugins` reads them)."""

from typing import Literal

from attrs import validators as v

from gentk.config import MAX_STEPS, config, in_range, param, sub
from gentk.registry import Spec

_count = in_range(2, 10_000_000)


# -- feature extractors ---------------------------------------------------------------------------
@config
class InceptionConfig:
    """The standard FID network: Inception-v3's 2048-d pool features (the TensorFlow FID weights).

    The weights (92 MB) are downloaded on first use into `$GENTK_CACHE/weights` (else
    ~/.cache/gentk/weights); offline, put the file there or give weights_path. Images are quantised
    to uint8, grey images repeated to RGB, and resized to 299 x 299 as the TensorFlow original does."""

    weights_path: str | None = param(None, "the weights file; none: the cache, downloading on first use")
    download: bool = param(True, "download the weights when they are not in the cache")
    cache_dir: str | None = param(None, "cache folder; none: $GENTK_CACHE, else ~/.cache/gentk")


@config
class ClassifierFeaturesConfig:
    """A domain extractor that works offline: a small CNN's 64-d penultimate layer.

    The CNN is the coverage metric's classifier, trained on the run's training split and cached by a hash
    of the data; its features are scaled to unit RMS on that split."""

    steps: int = param(500, "Adam steps (batch 128) of the classifier's one-off training", in_range(1, MAX_STEPS))
    cache_dir: str | None = param(None, "classifier cache; none: $GENTK_CACHE, else ~/.cache/gentk")


# -- metrics ------------------------------------------------------------------------------------
@config
class QualityConfig:
    """FID, KID and precision/recall from one set of generated images, with their protocol card.

    Generated images are compared with a data split in one extractor's features.

    Computed by torch-fidelity from the features; reference features are cached."""

    extractor: Spec = sub(
        "feature_extractor", "classifier", "the features: classifier (offline, this data) or inception (standard FID)"
    )
    n_samples: int = param(10_000, "generated images", _count)
    n_reference: int = param(10_000, "reference images (all of the split when it has fewer)", _count)
    reference_split: Literal["train", "test"] = param("test", "the data split generated images are compared with")
    block: int = param(
        100,
        "images per call of the model's sampler, each block with its own seed (with several processes each draws "
        "whole blocks, so the figures do not depend on the number of processes)",
        in_range(1, 100_000),
    )
    sampler: str | None = param(None, "diffusion sampler; none: the recipe's")
    steps: int | None = param(None, "diffusion sampling steps; none: the recipe's", v.optional(in_range(1, MAX_STEPS)))
    guidance: float | None = param(None, "classifier-free guidance w; none: the recipe's", v.optional(in_range(0, 100)))
    kid_subsets: int = param(100, "KID: random subsets averaged", in_range(1, 100_000))
    kid_subset_size: int = param(1000, "KID: images per subset (at most the smaller set's size)", _count)
    neighborhood: int = param(3, "precision/recall: k of the k-nearest-neighbour balls", in_range(1, 1000))
    cache_dir: str | None = param(None, "reference feature cache; none: $GENTK_CACHE, else ~/.cache/gentk")


@config
class FIDConfig(QualityConfig):
    """Frechet distance of generated images to a data split (FID with the inception extractor).

    |mu_g - mu_r|^2 + tr(S_g + S_r - 2 (S_g S_r)^(1/2)) of the features' Gaussians, with its protocol card.

    Computed by torch-fidelity from the features; reference features are cached."""


@config
class KIDConfig(QualityConfig):
    """Kernel distance of generated images to a data split (KID with the inception extractor).

    The unbiased MMD^2 with the cubic polynomial kernel, averaged over random subsets (kid), with its
    standard deviation over the subsets (kid_std).

    Computed by torch-fidelity from the features; reference features are cached."""


@config
class PrecisionRecallConfig(QualityConfig):
    """Improved precision and recall of generated images (Kynkaanniemi et al. 2019).

    The share of generated images inside the data's k-nearest-neighbour balls (precision), and of data
    images inside the generated images' balls (recall).

    Computed by torch-fidelity from the features; reference features are cached."""
