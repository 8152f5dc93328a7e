"""Registers the datasets; their loaders are imported only when a dataset is built."""

from gentk.hookspecs import hookimpl
from gentk.registry import lazy
from gentk_data.configs import (
    CIFAR10Config,
    FashionMNISTConfig,
    ImageFolderConfig,
    MNISTConfig,
    Toy2DConfig,
)


@hookimpl
def gentk_register_datasets(register):
    register("mnist", lazy("gentk_data.torchvision_sets:mnist"), MNISTConfig)
    register("fashion_mnist", lazy("gentk_data.torchvision_sets:fashion_mnist"), FashionMNISTConfig)
    register("cifar10", lazy("gentk_data.torchvision_sets:cifar10"), CIFAR10Config)
    register("image_folder", lazy("gentk_data.image_folder:image_folder"), ImageFolderConfig)
    register("toy2d", lazy("gentk_data.toy2d:toy2d"), Toy2DConfig)
