"""Configs of the datasets (no torch imports: `gentk plugins` reads them)."""

import os
from pathlib import Path
from typing import Any, Literal

from attrs import validators as v

from gentk.config import ConfigError, config, in_range, open_range, param, valid_seed

DATA_ENV = "GENTK_DATA"
"""Environment variable naming the folder that downloaded datasets are cached in."""

MAX_EXAMPLES = 10**9
MAX_IMAGE_SIZE = 4096
MAX_POINTS = 10**7
LAYOUT = "path/<class>/<image>.png (or .jpg, ...); labels follow the sorted class folder names"


def existing_folder(_instance: Any, _attribute: Any, value: Any) -> None:
    """Validator: `value` names a folder that exists (relative paths from the current directory)."""
    root = Path(os.path.expanduser(value)).absolute()
    if not root.is_dir():
        raise ConfigError(
            f"image folder not found: {root}",
            hint=f"data.path must be a folder laid out as {LAYOUT}; relative paths start at {Path.cwd()}",
        )


@config
class ImageDataConfig:
    """Fields every image dataset shares."""

    binarize: bool = param(False, "binarise pixels: random Bernoulli draws in training, threshold 1/2 in evaluation")
    limit: int | None = param(
        None,
        "use at most this many images of each split (quick runs); none: all",
        v.optional(in_range(1, MAX_EXAMPLES)),
    )


@config
class DownloadConfig(ImageDataConfig):
    """Fields of the datasets fetched by torchvision."""

    root: str | None = param(None, f"cache folder; none: ${DATA_ENV} if set, else ~/.cache/gentk/data")
    download: bool = param(True, "download the files when they are missing")


@config
class MNISTConfig(DownloadConfig):
    """MNIST handwritten digits: 60,000 training and 10,000 test images, 1×28×28, 10 classes."""


@config
class FashionMNISTConfig(DownloadConfig):
    """Fashion-MNIST clothing images: 60,000 training and 10,000 test images, 1×28×28, 10 classes."""


@config
class CIFAR10Config(DownloadConfig):
    """CIFAR-10 colour photographs: 50,000 training and 10,000 test images, 3×32×32, 10 classes."""


@config
class ImageFolderConfig(ImageDataConfig):
    """A folder of images, one subfolder per class (`path/<class>/*.png`); labels follow the sorted
    subfolder names and a seeded permutation holds out the test split."""

    path: str = param(doc="the folder; a relative path is taken from the current directory", validator=existing_folder)
    grayscale: bool = param(True, "convert to one grey channel; false: three RGB channels")
    size: int | None = param(
        None,
        f"resize every image to size×size (at most {MAX_IMAGE_SIZE}); none: keep (all must match)",
        v.optional(in_range(1, MAX_IMAGE_SIZE)),
    )
    test_fraction: float = param(0.1, "share of the images held out as the test split", v.and_(v.gt(0), v.lt(1)))
    seed: int = param(0, "seed of the permutation that picks the test images", valid_seed)


@config
class Toy2DConfig:
    """Generated 2-D points: 8 Gaussians on a ring, a 5×5 grid of Gaussians, a swiss roll or two moons."""

    name: Literal["ring", "grid", "swiss_roll", "moons"] = param(
        "ring", "ring: 8 modes at radius 2; grid: 25 modes 2 apart; swiss_roll; moons"
    )
    n_train: int = param(20000, "training points", in_range(1, MAX_POINTS))
    n_test: int = param(5000, "test points", in_range(1, MAX_POINTS))
    std: float | None = param(
        None,
        "noise std (of each mode for ring and grid); none: ring 0.02, grid 0.05, swiss_roll and moons 0.1",
        v.optional(open_range(0, 100)),
    )
    seed: int = param(0, "seed; the test split is drawn from a different stream", valid_seed)
