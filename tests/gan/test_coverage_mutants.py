"""Sharper checks of the coverage metric: histogram edges and thresholds, chunked drawing, the classifier
it asks for, and its warnings."""

import contextlib
from types import SimpleNamespace

import pytest
import torch

import gentk_common.coverage as coverage
from gentk.errors import GentkError
from gentk.interfaces import Split
from gentk.recipe import resolve_component
from gentk_common.classifier import dataset_key
from gentk_common.coverage import class_shares
from tests.gan.test_coverage import INFO, quadrants

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: one thread is fastest


class RecordingModel:
    """Samples random images of a given shape from the generator it is handed, recording each call."""

    device = torch.device("cpu")

    def __init__(self, shape=(1, 8, 8)):
        self.shape = shape
        self.sizes, self.generators = [], []

    def sample(self, n, *, generator, labels=None, **options):
        self.sizes.append(n)
        self.generators.append(generator)
        return torch.rand(n, *self.shape, generator=generator)


def metric(tmp_path, **cfg):
    table = {"use": "coverage", "n_samples": 300, "classifier_steps": 5, "cache_dir": str(tmp_path / "cache"), **cfg}
    return resolve_component("metric", table).build()


def test_class_shares_keep_absent_last_classes_and_count_the_threshold_as_covered():
    """Catches the histogram built without minlength (classes above the largest label seen vanish, so
    a generator collapsed onto the low classes reports fewer classes), and a class whose share is
    exactly min_share / K not counted as covered."""
    hist, covered = class_shares(torch.tensor([0, 0, 0, 0, 0, 0, 0, 1]), 4, 0.5)  # threshold 0.5 / 4 = 1/8
    assert hist.tolist() == [0.875, 0.125, 0.0, 0.0]
    assert covered.tolist() == [True, True, False, False]


def test_draw_takes_exactly_n_samples_in_chunks_from_the_given_generator(tmp_path):
    """Catches the chunk loop stepping by 1 or starting at 1, the size of the last chunk computed as
    n + i (too many samples), and the model sampling from the global RNG instead of the metric's
    generator."""
    model = RecordingModel()
    g = torch.Generator().manual_seed(0)
    images = metric(tmp_path).draw(model, INFO, g)
    assert model.sizes == [250, 50] and images.shape == (300, 1, 8, 8)
    assert all(gen is g for gen in model.generators)


def test_draw_progress_counts_samples(tmp_path, monkeypatch):
    """Catches the sampling progress opened without its total (no ETA) or its unit, and advanced by
    more than the samples drawn."""
    bars = []
    real = coverage.phase

    @contextlib.contextmanager
    def spy(*args, **kwargs):
        with real(*args, **kwargs) as bar:
            bars.append(bar)
            yield bar

    monkeypatch.setattr(coverage, "phase", spy)
    metric(tmp_path).draw(RecordingModel(), INFO, torch.Generator())
    [bar] = bars
    assert (bar.total, bar.unit, bar.completed) == (300, "sample", 300)


def test_samples_of_another_shape_are_refused_with_both_shapes(tmp_path):
    """Catches the shape-mismatch error losing its message, naming a wrong slice of the samples'
    shape (or failing to format), or losing its hint."""
    with pytest.raises(GentkError) as err:
        metric(tmp_path).draw(RecordingModel((1, 4, 4)), INFO, torch.Generator())
    assert "(1, 4, 4)" in err.value.message and "(1, 8, 8)" in err.value.message
    assert "class coverage" in err.value.hint


def test_warning_only_when_coverage_falls():
    """Catches a "classes covered fell" warning when the count stayed the same (<= instead of <)."""
    cov = resolve_component("metric", "coverage").build()
    cov.previous = 4
    assert cov.warning(torch.tensor([True, True, True, True])) is None
    cov.previous = 3
    assert cov.warning(torch.tensor([True, True, True, False])) == "mode collapse: 3 of 4 classes covered (missing: 3)"
    cov.previous = 4
    assert "fell from 4 to 3" in cov.warning(torch.tensor([True, True, True, False]))


def test_evaluate_uses_the_training_split_classifier_from_the_configured_cache(tmp_path, monkeypatch):
    """Catches evaluate ignoring the training split given to fit (or using it only when unlabelled),
    the configured cache_dir or classifier_steps not passed on (the classifier then lands in
    $GENTK_CACHE, or trains for the default 500 steps), the classifier not put on the model's
    device, and the samples drawn without the metric's generator."""
    monkeypatch.setenv("GENTK_CACHE", str(tmp_path / "env"))
    devices = []
    real = coverage.get_classifier

    def spy(*args, **kwargs):
        devices.append(kwargs.get("device"))
        return real(*args, **kwargs)

    monkeypatch.setattr(coverage, "get_classifier", spy)
    y = torch.arange(80) % 4
    train = Split(quadrants(y, seed=0), y)
    held = Split(quadrants(y[:40], seed=1), y[:40])
    cov = metric(tmp_path, n_samples=20)
    cov.fit(train, INFO)
    model = RecordingModel()
    g = torch.Generator().manual_seed(0)
    out = cov.evaluate(model, held, INFO, generator=g)
    cached = [p.name for p in (tmp_path / "cache" / "classifiers").glob("*.pt")]
    assert cached == [f"{dataset_key(train, INFO, 5, 0)}.pt"] and not (tmp_path / "env").exists()
    assert devices == [model.device]
    assert model.sizes == [20] and all(gen is g for gen in model.generators)
    assert 0 <= out["classes_covered"] <= 4


def test_confident_fraction_counts_probabilities_at_the_threshold(tmp_path, monkeypatch):
    """Catches a sample whose top class probability equals `confidence` not counted as confident
    (> instead of >=), and the confident_fraction figure filed under another name."""
    probs = torch.tensor(
        [[0.75, 0.25, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.625, 0.375], [0.125, 0.0, 0.0, 0.875]]
    )  # top probabilities 0.75, 1, 0.625, 0.875: three reach 0.75
    monkeypatch.setattr(coverage, "get_classifier", lambda *args, **kwargs: SimpleNamespace(accuracy=0.5))
    monkeypatch.setattr(coverage, "classify", lambda classifier, images: probs[: len(images)])
    y = torch.arange(8) % 4
    cov = metric(tmp_path, n_samples=4, confidence=0.75)
    out = cov.evaluate(RecordingModel(), Split(quadrants(y), y), INFO, generator=torch.Generator())
    assert out["confident_fraction"] == 0.75
    assert [out[f"hist_{k}"] for k in range(4)] == [0.25] * 4 and out["classes_covered"] == 4
    assert out["kl_to_data"] == pytest.approx(0.0, abs=1e-12)
