"""Fixtures that install the example third-party plugin (or broken ones) at test time."""

import shutil
import sys
from pathlib import Path

import pytest

from gentk.registry import reset_plugins

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "gentk-example-plugin" / "gentk_example"


def make_distribution(site: Path, dist: str, entry_points: dict[str, str], version: str = "0.1.0") -> None:
    """A minimal installed distribution (dist-info with entry points) on a folder of sys.path."""
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[gentk]\n{lines}")


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A fresh site folder on sys.path; modules imported from it are forgotten afterwards."""
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    before = set(sys.modules)
    yield folder
    for name in set(sys.modules) - before:
        if name.startswith(("gentk_example", "broken_plugin", "clash_plugin")):
            del sys.modules[name]
    reset_plugins()


@pytest.fixture
def example_plugin(site):
    """The example plugin of examples/, installed as the distribution `gentk-example-plugin`."""
    shutil.copytree(EXAMPLE, site / "gentk_example")
    make_distribution(site, "gentk-example-plugin", {"example": "gentk_example.plugin"})
    reset_plugins()
    return site


BLOB_RECIPE = """
description = "fit a Gaussian to a blob"
[run]
epochs = 3
batch_size = 64
n_samples = 16
[data]
use = "blob"
[model]
use = "gaussian_fit"
[model.optimizer]
lr = 0.05
"""


@pytest.fixture
def blob_recipe(example_plugin, tmp_path):
    path = tmp_path / "blob.toml"
    path.write_text(BLOB_RECIPE)
    return path
