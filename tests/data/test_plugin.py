"""The datasets plugin registers its components like any third-party plugin would."""

import subprocess
import sys

import attrs
import pytest

from gentk.config import field_doc
from gentk.errors import RecipeError
from gentk.recipe import resolve_component
from gentk.registry import get_plugins

NAMES = {"mnist", "fashion_mnist", "cifar10", "image_folder", "toy2d"}


def test_datasets_are_registered_by_the_data_plugin():
    table = get_plugins().registries["dataset"]
    assert NAMES <= set(table)
    for name in NAMES:
        component = table[name]
        assert component.plugin == "data"
        assert component.summary, name
        assert all(field_doc(f) for f in attrs.fields(component.config)), name


def test_image_datasets_share_field_names():
    table = get_plugins().registries["dataset"]
    for name in NAMES - {"toy2d"}:
        assert {"binarize", "limit"} <= set(attrs.fields_dict(table[name].config)), name
    for name in ("mnist", "fashion_mnist", "cifar10"):
        assert {"root", "download"} <= set(attrs.fields_dict(table[name].config)), name


def test_listing_plugins_does_not_import_torch():
    code = "import sys, gentk_data.plugin; sys.exit('torch' in sys.modules or 'PIL' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@pytest.mark.parametrize(
    "table",
    [
        {"use": "image_folder"},  # path is required
        {"use": "image_folder", "path": "x", "test_fraction": 1.0},
        {"use": "image_folder", "path": "x", "size": 0},
        {"use": "mnist", "limit": 0},
        {"use": "mnist", "resize": 32},
    ],
)
def test_invalid_configs_are_recipe_errors(table):
    with pytest.raises(RecipeError):
        resolve_component("dataset", table)
