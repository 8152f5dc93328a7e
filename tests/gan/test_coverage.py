"""The coverage metric and its cached classifier, on synthetic quadrant images (class k lights quadrant k)."""

import math

import pytest
import torch
from einops import rearrange

from gentk.errors import GentkError
from gentk.interfaces import DataInfo, Split
from gentk.recipe import resolve_component
from gentk_common.classifier import classify, get_classifier

INFO = DataInfo(shape=(1, 8, 8), num_classes=4)


def quadrants(labels: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """uint8 images (N, 1, 8, 8): noise plus a bright 4x4 block in quadrant `label`."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(len(labels), 2, 2, generator=g) * 0.2  # (N, 2, 2) blocks
    x[torch.arange(len(labels)), labels // 2, labels % 2] = 0.9
    x = rearrange(x, "n i j -> n 1 i j").repeat_interleave(4, dim=2).repeat_interleave(4, dim=3)
    return (x * 255).to(torch.uint8)


class FakeModel:
    """Samples images of the given classes, cycling."""

    device = torch.device("cpu")

    def __init__(self, classes):
        self.classes = torch.tensor(classes)

    def sample(self, n, *, generator, labels=None):
        y = self.classes[torch.arange(n) % len(self.classes)]
        return quadrants(y, seed=int(torch.randint(1000, (1,), generator=generator))).float() / 255


@pytest.fixture
def split():
    y = torch.arange(400) % 4
    return Split(quadrants(y), y)


def metric(tmp_path, **cfg):
    return resolve_component(
        "metric", {"use": "coverage", "n_samples": 200, "classifier_steps": 60, "cache_dir": str(tmp_path), **cfg}
    ).build()


def test_full_coverage_then_collapse_is_reported_with_a_warning(split, tmp_path):
    cov = metric(tmp_path)
    g = torch.Generator().manual_seed(0)
    full = cov.evaluate(FakeModel([0, 1, 2, 3]), split, INFO, generator=g)
    assert full["classes_covered"] == 4 and "warning" not in full
    assert full["kl_to_data"] < 0.01 and full["classifier_accuracy"] > 0.95
    assert math.isclose(sum(full[f"hist_{k}"] for k in range(4)), 1.0)
    collapsed = cov.evaluate(FakeModel([3]), split, INFO, generator=g)
    assert collapsed["classes_covered"] == 1 and collapsed["hist_3"] > 0.95
    assert math.isclose(collapsed["kl_to_data"], math.log(4), rel_tol=0.05)  # balanced labels, one class
    assert "missing: 0, 1, 2" in collapsed["warning"] and "fell from 4 to 1" in collapsed["warning"]


def test_classifier_is_cached_and_reloaded(split, tmp_path):
    first = get_classifier(split, INFO, tmp_path, steps=40)
    files = list((tmp_path / "classifiers").glob("*.pt"))
    assert len(files) == 1
    second = get_classifier(split, INFO, tmp_path, steps=40)
    images = quadrants(torch.tensor([0, 1, 2, 3])).float() / 255
    assert torch.allclose(classify(first, images), classify(second, images))
    assert second.accuracy == first.accuracy
    # other data -> another cache entry
    get_classifier(Split(split.x[:200], split.y[:200]), INFO, tmp_path, steps=40)
    assert len(list((tmp_path / "classifiers").glob("*.pt"))) == 2


def test_unlabelled_or_point_data_is_refused(tmp_path):
    points = DataInfo(shape=(2,), kind="points")
    with pytest.raises(GentkError, match="labelled images") as err:
        metric(tmp_path).evaluate(FakeModel([0]), Split(torch.randn(10, 2)), points, generator=torch.Generator())
    assert "mode_coverage" in err.value.hint


def test_coverage_check_script_scores_a_run_with_independent_classifiers(tmp_path):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from PIL import Image

    import gentk.api as gk
    from gentk.recipe import resolve

    y = torch.arange(160) % 4
    for i, (img, label) in enumerate(zip(quadrants(y), y, strict=True)):
        (tmp_path / "quads" / str(int(label))).mkdir(parents=True, exist_ok=True)
        Image.fromarray(img[0].numpy()).save(tmp_path / "quads" / str(int(label)) / f"{i}.png")
    raw = {
        "run": {"epochs": 1, "batch_size": 32, "n_samples": 0, "threads": 1},
        "data": {"use": "image_folder", "path": str(tmp_path / "quads")},
        "model": {"use": "gan", "generator": {"use": "mlp", "hidden": 16}, "critic": {"use": "mlp", "hidden": 16}},
    }
    run = gk.train(resolve(raw), out=tmp_path / "runs", name="quads")
    script = Path(__file__).resolve().parents[2] / "scripts" / "coverage_check.py"
    done = subprocess.run(
        [sys.executable, str(script), str(run.path), "--n", "64"],
        capture_output=True,
        text=True,
        env={**os.environ, "GENTK_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"},
        timeout=600,
    )  # seconds alone; minutes beside other work on 2 cores
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    for name in ("knn", "mlp"):
        assert report[name]["test_accuracy"] > 0.9  # the quadrants are easy: the classifiers work
        assert 0 <= report[name]["agreement"] <= 1 and math.isclose(sum(report[name]["hist"]), 1, abs_tol=1e-3)
    assert 1 <= report["cnn"]["classes_covered"] <= 4
