"""Registers a dataset, a model and a recipe; the configs live in `configs.py` and the
components are imported lazily, so listing plugins is fast."""

from importlib import resources

from gentk.hookspecs import hookimpl
from gentk.registry import lazy
from gentk_example.configs import BlobConfig, GaussianFitConfig


@hookimpl
def gentk_register_datasets(register):
    register("blob", lazy("gentk_example.components:Blob"), BlobConfig)


@hookimpl
def gentk_register_models(register):
    register("gaussian_fit", lazy("gentk_example.components:GaussianFit"), GaussianFitConfig)


@hookimpl
def gentk_register_recipes(register):
    register(resources.files("gentk_example") / "recipes")
