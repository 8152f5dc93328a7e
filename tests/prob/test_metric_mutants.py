"""Sharper checks of the prob plugin's metrics and sampler: configuration reaching the estimators, exact
thresholds, error reports, progress totals, data preparation, devices and seeding."""

import math

import pytest
import torch

import gentk_prob.metrics as metrics
from gentk.errors import GentkError
from gentk.interfaces import DataInfo, Split
from gentk.prob import langevin_run, toy_mixture_centres
from gentk.recipe import resolve_component
from gentk_prob.configs import LangevinConfig
from gentk_prob.metrics import identify_mixture
from gentk_prob.sampler import LangevinSampler

POINTS = DataInfo(shape=(2,), num_classes=8, kind="points")
RING = toy_mixture_centres("ring")  # 8 centres on a circle of radius 2, neighbours 4 sin(pi/8) ~ 1.53 apart
GRID = toy_mixture_centres("grid")  # 25 centres on a 5x5 grid, neighbours exactly 2.0 apart


def ring_points(n=400, seed=0, std=0.02):
    g = torch.Generator().manual_seed(seed)
    return RING[torch.randint(8, (n,), generator=g)] + std * torch.randn(n, 2, generator=g)


class FixedSamples:
    """A model whose samples are given points (ignores the generator)."""

    device = torch.device("cpu")

    def __init__(self, points):
        self.points = points

    def sample(self, n, *, generator, **options):
        assert n == len(self.points)
        return self.points.clone()


def mode_metric(**cfg):
    return resolve_component("metric", {"use": "mode_coverage", **cfg}).build()


# -- identify_mixture and the metric's target ------------------------------------------------------
def test_identify_mixture_accepts_float64_points_and_returns_centres_in_their_dtype():
    """Catches the candidate centres left in float32 instead of being moved to the points' dtype and
    device, which fails (cdist of float64 against float32) on double-precision points."""
    points = ring_points(200).double()
    name, centres, std = identify_mixture(points)
    assert name == "ring" and centres.dtype == torch.float64
    assert torch.equal(centres, RING.double())
    assert std == pytest.approx(0.02, rel=0.2)


def test_mode_coverage_target_follows_the_configured_mixture_and_std():
    """Catches the configured mixture or std being ignored: `mixture = "grid"` identifying the
    mixture among all toy mixtures anyway (ring data would then say "ring"), and a configured std
    replaced by the one fitted to the held-out split."""
    data = Split(ring_points())
    name, centres, std = mode_metric(mixture="grid").target(data)
    assert name == "grid" and torch.equal(centres, GRID)
    assert std > 0.1  # ring points are far from the grid's centres: a wide fitted std
    name, centres, std = mode_metric(std=0.3).target(data)
    assert name == "ring" and std == 0.3


# -- ModeCoverageMetric.evaluate ---------------------------------------------------------------------
@pytest.mark.parametrize("info", [DataInfo(shape=(3,), kind="points"), DataInfo(shape=(2,), kind="image")])
def test_mode_coverage_refuses_anything_but_2d_points_and_says_what_to_use(info):
    """Catches the data check needing both a non-point kind and a non-2-D shape before refusing
    (3-D points then reach a cdist error), and the refusal losing its message or its hint."""
    with pytest.raises(GentkError) as err:
        mode_metric().evaluate(FixedSamples(torch.zeros(3, 2)), Split(torch.zeros(5, 3)), info, generator=None)
    assert "2-D points" in err.value.message and "toy2d" in err.value.message
    assert 'use = "toy2d"' in err.value.hint


def test_mode_coverage_uses_the_configured_min_fraction_and_radius():
    """Catches min_fraction or radius not passed on to mode_coverage (the defaults 0.1 and 3 used
    instead of the configuration), and the num_modes figure missing."""
    # std 0.1, radius 2: a sample counts within 0.2 of a centre. Modes 0-6 get 10 samples on their
    # centres, mode 7 gets 4, and 26 samples lie 0.25 from centre 0 (inside 3 stds, outside 2).
    # min_fraction 0.5 of the expected 100 / 8 = 12.5 needs 6.25: mode 7 (4) is missed; with the
    # default 0.1 (1.25) it would count. The 26 are low quality; with the default radius they are not.
    counts = torch.tensor([10] * 7 + [4])
    samples = torch.cat([RING.repeat_interleave(counts, dim=0), (RING[0] * 1.125).repeat(26, 1)])
    metric = mode_metric(mixture="ring", std=0.1, radius=2.0, min_fraction=0.5, n_samples=100)
    out = metric.evaluate(FixedSamples(samples), Split(ring_points()), POINTS, generator=torch.Generator())
    assert (out["modes"], out["num_modes"], out["coverage"]) == (7, 8, 7 / 8)
    assert out["high_quality"] == pytest.approx(0.74, abs=1e-6)
    assert "1 of 8 modes" in out["warning"]


@pytest.mark.parametrize(
    ("radius", "std", "overlap"),
    [
        (2.0, 0.5, False),  # radius * std == spacing / 2 exactly: the modes touch, no overlap
        (3.0, 0.3, False),  # 0.9 < 1.0
        (3.0, 0.4, True),  # 1.2 > 1.0
    ],
)
def test_mode_overlap_warning_starts_just_above_half_the_spacing(radius, std, overlap):
    """Catches the overlap test against another threshold than half the smallest spacing of the
    centres (spacing * 2, spacing / 3, or >= at the boundary where the modes only touch), and the
    overlap warning emptied or filed under another key."""
    samples = GRID.repeat(4, 1)  # every one of the 25 modes covered, all samples on a centre
    metric = mode_metric(mixture="grid", std=std, radius=radius, n_samples=100)
    out = metric.evaluate(FixedSamples(samples), Split(GRID.repeat(2, 1)), POINTS, generator=torch.Generator())
    assert out["modes"] == 25
    if overlap:
        assert "overlap" in out["warning"] and "grid" in out["warning"]
    else:
        assert "warning" not in out


# -- LogLikelihoodMetric --------------------------------------------------------------------------------
class CountingDensity:
    """log p(x) = number of pixels that are 1; records the batches it scores and their device."""

    def __init__(self, device="cpu"):
        self.device = torch.device(device)
        self.seen = []

    def sample(self, n, *, generator, **options):
        raise AssertionError("the log-likelihood metric does not sample")

    def log_prob(self, x):
        self.seen.append(x)
        if x.device.type == "meta":
            return torch.zeros(len(x))
        return x.flatten(1).sum(1)


def test_log_likelihood_refusal_names_the_model_and_the_alternatives():
    """Catches the refusal of a model without log_prob naming the wrong type, or losing the hint that
    says which models have an exact density (gmm_em) and what VAEs use instead (nll)."""

    class Decoder:
        device = torch.device("cpu")

    metric = resolve_component("metric", "log_likelihood").build()
    with pytest.raises(GentkError) as err:
        metric.evaluate(Decoder(), Split(ring_points(10)), POINTS, generator=torch.Generator())
    assert err.value.message.startswith("Decoder has no exact log-density")
    assert "gmm_em" in err.value.hint and "nll" in err.value.hint


def test_log_likelihood_scores_binarised_images_as_the_model_sees_them():
    """Catches the held-out images batched without the data's info: uint8 pixels must become
    {0, 1} by thresholding at 1/2 for binarised data before log_prob sees them."""
    info = DataInfo(shape=(1, 2, 2), binarized=True)
    pixels = torch.tensor([[0, 100, 200, 255], [255, 255, 128, 127], [0, 0, 0, 0], [129, 255, 10, 255], [1, 2, 3, 4]])
    data = Split(pixels.to(torch.uint8).reshape(5, 1, 2, 2))
    ones = torch.tensor([2.0, 3.0, 0.0, 3.0, 0.0])  # pixels above 127.5 per image
    model = CountingDensity()
    metric = resolve_component("metric", {"use": "log_likelihood", "batch_size": 2}).build()
    out = metric.evaluate(model, data, info, generator=torch.Generator())
    assert torch.equal(torch.cat(model.seen).flatten(1).sum(1), ones)
    assert set(torch.cat(model.seen).unique().tolist()) == {0.0, 1.0}
    # mean 8 / 5 = 1.6; squared deviations 0.16 + 1.96 + 2.56 + 1.96 + 2.56 = 9.2, stderr sqrt(9.2 / 4 / 5)
    assert out["log_likelihood"] == pytest.approx(1.6, rel=1e-12)
    assert out["stderr"] == pytest.approx(math.sqrt(9.2 / 20), rel=1e-12)


def test_log_likelihood_batches_go_to_the_models_device():
    """Catches the held-out batches left on the CPU instead of being moved to `model.device` (on a
    GPU, log_prob then fails on a device mismatch); the meta device stands in for the GPU."""
    model = CountingDensity(device="meta")
    metric = resolve_component("metric", {"use": "log_likelihood", "batch_size": 4}).build()
    metric.evaluate(model, Split(ring_points(10)), POINTS, generator=torch.Generator())
    assert [x.device.type for x in model.seen] == ["meta"] * 3


def test_log_likelihood_progress_counts_batches(monkeypatch):
    """Catches the progress total of the scoring loop computed as len(data) * batch_size (or left
    out, so no ETA), and the unit of its rate dropped."""
    seen = []
    real = metrics.track

    def spy(iterable, description, total=None, *, unit="it"):
        seen.append({"total": total, "unit": unit, "items": 0})
        for item in real(iterable, description, total, unit=unit):
            seen[-1]["items"] += 1
            yield item

    monkeypatch.setattr(metrics, "track", spy)
    metric = resolve_component("metric", {"use": "log_likelihood", "batch_size": 4}).build()
    metric.evaluate(CountingDensity(), Split(ring_points(10)), POINTS, generator=torch.Generator())
    assert seen == [{"total": 3, "unit": "batch", "items": 3}]  # ceil(10 / 4) batches


# -- LangevinSampler ------------------------------------------------------------------------------------
def standard_normal(x):
    return -0.5 * x.pow(2).sum(-1)


def test_langevin_sampler_starts_from_init_std_noise_of_its_generator():
    """Catches the start x0 drawn as init_std / noise instead of init_std * noise, or from the global
    RNG instead of the given generator, and `steps` not passed on (the configured 30 steps run
    instead of the 0 asked for)."""
    sampler = LangevinSampler(LangevinConfig(step_size=0.01, steps=30, init_std=3.0))
    torch.manual_seed(123)
    x = sampler.sample(standard_normal, (64, 2), generator=torch.Generator().manual_seed(1), steps=0)
    assert torch.equal(x, 3.0 * torch.randn(64, 2, generator=torch.Generator().manual_seed(1)))
    result = sampler.run(standard_normal, (64, 2), generator=torch.Generator().manual_seed(1), steps=0)
    assert torch.equal(result.samples, x)


def test_langevin_sampler_chains_use_its_generator():
    """Catches the generator not handed to langevin_run, so the chains' noise comes from the global
    RNG and a seeded evaluation does not repeat."""
    sampler = LangevinSampler(LangevinConfig(step_size=0.01, steps=5))
    x0 = torch.randn(32, 2, generator=torch.Generator().manual_seed(7))
    torch.manual_seed(123)
    got = sampler.run(standard_normal, (32, 2), generator=torch.Generator().manual_seed(2), x0=x0)
    torch.manual_seed(456)
    expected = langevin_run(standard_normal, x0, 0.01, 5, torch.Generator().manual_seed(2))
    assert torch.equal(got.samples, expected.samples)


def test_langevin_sampler_starts_on_its_generators_device_whatever_the_default_device():
    """Catches the start x0 drawn on torch's default device instead of the generator's (under
    torch.set_default_device("cuda") a CPU-seeded evaluation would start on the GPU, or fail to
    draw); the meta device stands in for the other default."""
    sampler = LangevinSampler(LangevinConfig(step_size=0.01, steps=30, init_std=3.0))
    expected = sampler.sample(standard_normal, (16, 2), generator=torch.Generator().manual_seed(3), steps=2)
    with torch.device("meta"):
        x = sampler.sample(standard_normal, (16, 2), generator=torch.Generator().manual_seed(3), steps=2)
    assert x.device.type == "cpu" and torch.equal(x, expected)
