"""The generated 2-D point sets, the toy mixtures behind them and their exact density."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from gentk.errors import GentkError, RecipeError
from gentk.families.density import ExactDensityDataset
from gentk.interfaces import Dataset, LogDensity
from gentk.prob import GaussianMixture, toy_mixture, toy_mixture_centres
from gentk.recipe import resolve_component

NAMES = ["ring", "grid", "swiss_roll", "moons"]


def build(**table):
    return resolve_component("dataset", {"use": "toy2d", **table}).build()


@pytest.mark.parametrize("name", NAMES)
def test_shapes_and_info(name):
    ds = build(name=name, n_train=300, n_test=70)
    assert isinstance(ds, Dataset)
    train, test = ds.split("train"), ds.split("test")
    assert train.x.shape == (300, 2) and test.x.shape == (70, 2)
    assert train.x.dtype == torch.float32 and torch.isfinite(train.x).all()
    assert ds.info.shape == (2,) and ds.info.kind == "points"
    modes = {"ring": 8, "grid": 25}.get(name, 0)
    assert ds.info.num_classes == modes
    if modes:
        assert train.y.dtype == torch.int64 and 0 <= int(train.y.min()) and int(train.y.max()) < modes
    else:
        assert train.y is None


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_and_test_differs_from_train(name):
    a, b = build(name=name, n_train=200, n_test=200), build(name=name, n_train=200, n_test=200)
    assert torch.equal(a.split("train").x, b.split("train").x)
    assert torch.equal(a.split("test").x, b.split("test").x)
    assert not torch.allclose(a.split("train").x, a.split("test").x)
    other_seed = build(name=name, n_train=200, n_test=200, seed=1)
    assert not torch.allclose(a.split("train").x, other_seed.split("train").x)
    assert not torch.allclose(a.split("test").x, other_seed.split("train").x)


def test_splits_are_cached():
    ds = build(n_train=10, n_test=10)
    assert ds.split("train") is ds.split("train")


def test_unknown_split_is_a_user_error():
    with pytest.raises(GentkError, match="no split named 'val'"):
        build(n_train=10, n_test=10).split("val")


def test_ring_centres():
    ring = toy_mixture("ring")
    centres, std = ring.means, ring.stds
    assert centres.shape == (8, 2) and torch.all(std == 0.02)
    assert torch.allclose(centres.norm(dim=-1), torch.full((8,), 2.0))
    angles = torch.atan2(centres[:, 1], centres[:, 0]).remainder(2 * math.pi).sort().values
    assert torch.allclose(angles.diff(), torch.full((7,), 2 * math.pi / 8), atol=1e-6)


def test_grid_centres():
    grid = toy_mixture("grid")
    centres, std = grid.means, grid.stds
    assert centres.shape == (25, 2) and torch.all(std == 0.05)
    assert torch.allclose(centres.mean(0), torch.zeros(2))
    assert set(centres.flatten().tolist()) == {-4.0, -2.0, 0.0, 2.0, 4.0}
    assert len({tuple(c) for c in centres.tolist()}) == 25
    assert torch.all(toy_mixture("grid", std=0.3).stds == 0.3)
    assert torch.equal(toy_mixture_centres("grid"), centres)


def test_mixture_rejects_other_shapes():
    with pytest.raises(GentkError, match="not a Gaussian mixture"):
        toy_mixture("moons")


@given(name=st.sampled_from(["ring", "grid"]), std=st.floats(0.01, 0.2), seed=st.integers(0, 1000))
def test_mixture_points_are_labelled_by_their_mode(name, std, seed):
    ds = build(name=name, std=std, seed=seed, n_train=2000, n_test=10)
    split = ds.split("train")
    centres = toy_mixture_centres(name)
    offsets = split.x - centres[split.y]  # (N, 2)
    assert abs(offsets.std().item() / std - 1) < 0.1
    assert offsets.mean(0).abs().max().item() < 5 * std / math.sqrt(2000) + 1e-6
    assert len(split.y.unique()) == len(centres)  # every mode is drawn


@pytest.mark.parametrize("name", ["swiss_roll", "moons"])
def test_std_sets_the_noise_of_the_curves(name):
    clean = build(name=name, std=1e-6, n_train=500, n_test=10).split("train").x
    noisy = build(name=name, std=0.5, n_train=500, n_test=10).split("train").x
    assert (noisy - clean).std().item() == pytest.approx(0.5, rel=0.15)
    assert clean.abs().max().item() < 3.5  # scaled to a few units


def test_bad_config_is_reported():
    with pytest.raises(RecipeError):
        resolve_component("dataset", {"use": "toy2d", "name": "spiral"})
    with pytest.raises(RecipeError):
        resolve_component("dataset", {"use": "toy2d", "n_train": 0})


@pytest.mark.parametrize("name, std", [("ring", None), ("grid", None), ("ring", 0.1)])
def test_mixture_datasets_expose_the_density_of_their_points(name, std):
    """The density a mixture dataset exposes is the one its points are drawn from: their mean
    log-density under it is minus the mixture's entropy, log K + log(2πe σ²) for these well
    separated modes. Catches `density()` drifting from the generator (other centres, the default
    std where the recipe set another, a different weighting)."""
    ds = build(name=name, std=std, n_train=20000, n_test=10)
    assert isinstance(ds, ExactDensityDataset)
    density = ds.density()
    assert isinstance(density, LogDensity) and isinstance(density, GaussianMixture)
    sigma = float(density.stds[0, 0])
    assert sigma == pytest.approx(std or {"ring": 0.02, "grid": 0.05}[name])
    entropy = math.log(density.num_components) + math.log(2 * math.pi * math.e * sigma**2)
    mean_log_p = float(density.log_prob(ds.split("train").x).mean())
    assert mean_log_p == pytest.approx(-entropy, abs=0.05)  # its standard error is about 0.007


@pytest.mark.parametrize("name", ["swiss_roll", "moons"])
def test_curves_do_not_claim_an_exact_density(name):
    """Only the mixtures know their density. Catches a curve dataset answering isinstance(ds,
    ExactDensityDataset) and then failing (or returning a wrong density) when asked for it."""
    ds = build(name=name, n_train=10, n_test=10)
    assert isinstance(ds, Dataset) and not isinstance(ds, ExactDensityDataset)
