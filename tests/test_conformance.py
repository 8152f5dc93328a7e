"""Every bundled component passes the plugin kit (`gentk.testing`)."""

import gzip
import hashlib
import pickle
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
import torchvision
from PIL import Image

from gentk.registry import Plugins
from gentk.testing import case_id, check_component, conformance_cases, fresh_plugins, train_recipe
from tests.quality.inception import random_inception_weights

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "gentk-example-plugin"
BUNDLED = Plugins()
CASES = conformance_cases(BUNDLED)


def fake_mnist(root, folder):
    """Four IDX files of random digits in torchvision's layout."""
    rng = np.random.default_rng(0)
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    for prefix, n in (("train", 6), ("t10k", 4)):
        for kind, array in (
            ("images-idx3", rng.integers(0, 256, (n, 28, 28))),
            ("labels-idx1", rng.integers(0, 10, n)),
        ):
            head = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
            (raw / f"{prefix}-{kind}-ubyte.gz").write_bytes(gzip.compress(head + array.astype(np.uint8).tobytes()))


def fake_cifar(root, monkeypatch):
    """The pickled CIFAR-10 batches, with torchvision's checksums set to theirs."""
    rng = np.random.default_rng(1)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    cls = torchvision.datasets.CIFAR10
    md5 = {}
    for name in [n for n, _ in cls.train_list + cls.test_list]:
        data = {"data": rng.integers(0, 256, (3, 3 * 32 * 32)).astype(np.uint8), "labels": [0, 1, 2]}
        content = pickle.dumps(data)
        (folder / name).write_bytes(content)
        md5[name] = hashlib.md5(content).hexdigest()
    meta = pickle.dumps({"label_names": [f"class{i}" for i in range(10)]})
    (folder / cls.meta["filename"]).write_bytes(meta)
    monkeypatch.setattr(cls, "train_list", [[n, md5[n]] for n, _ in cls.train_list])
    monkeypatch.setattr(cls, "test_list", [[n, md5[n]] for n, _ in cls.test_list])
    monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": hashlib.md5(meta).hexdigest()})


def image_folder(root):
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        for i in range(5):
            Image.new("L", (8, 8), 40 * i).save(root / label / f"{i}.png")


def config_for(component, tmp_path, monkeypatch):
    """Configs for the components whose defaults need files here or are slow on the CPU."""
    match case_id(component):
        case "dataset:mnist":
            fake_mnist(tmp_path, "MNIST")
        case "dataset:fashion_mnist":
            fake_mnist(tmp_path, "FashionMNIST")
        case "dataset:cifar10":
            fake_cifar(tmp_path, monkeypatch)
        case "dataset:image_folder":
            image_folder(tmp_path / "images")
            return {"path": str(tmp_path / "images")}
        case "model:ddpm":  # the default U-Net, sampled in 10 steps instead of 1000
            return {"schedule": {"use": "linear", "num_steps": 10}, "trajectory_steps": [10, 4, 0]}
        case "model:gmm_em":  # EM needs a batch of at least K points
            return {"components": 2}
        case "feature_extractor:inception":  # random weights: no download
            return {"weights_path": str(random_inception_weights(tmp_path)), "download": False}
        case _:
            return None
    return {"root": str(tmp_path), "download": False}


@pytest.mark.parametrize("component", CASES, ids=case_id)
def test_bundled_component_passes_the_kit(component, tmp_path, monkeypatch, one_thread):
    checked = check_component(component, BUNDLED, config=config_for(component, tmp_path, monkeypatch))
    assert not checked.skipped, checked.reason


def test_every_bundled_kind_is_covered():
    assert {c.kind for c in CASES} == set(BUNDLED.kinds)


def test_example_plugin_passes_the_kit_and_its_recipe_trains(tmp_path, monkeypatch, one_thread):
    monkeypatch.syspath_prepend(str(EXAMPLE))
    try:
        from gentk_example import plugin

        plugins = fresh_plugins(plugin, names="example", distribution="gentk-example-plugin")
        cases = conformance_cases(plugins, "example")
        assert [case_id(c) for c in cases] == ["dataset:blob", "model:gaussian_fit"]
        for component in cases:
            assert check_component(component, plugins).status == "passed"
        run = train_recipe("example:blob", plugins=plugins, tmp_path=tmp_path, steps=3)
        assert (run / "checkpoint.pt").is_file()
    finally:
        for name in [m for m in sys.modules if m.startswith("gentk_example")]:
            del sys.modules[name]
