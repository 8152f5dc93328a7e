"""Gaussian MLE, Gaussian mixtures and EM."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gentk.errors import GentkError
from gentk.prob import (
    GaussianMixture,
    diag_gaussian_log_prob,
    draw,
    em_fit,
    em_step,
    gaussian_mle,
    initial_mixture,
    log_likelihood,
)

from .strategies import seeds, vectors

D = torch.distributions


@given(st.integers(2, 50), st.integers(1, 3), seeds,
       st.integers(1, 3).flatmap(lambda d: st.tuples(vectors(d, -1, 1), vectors(d, -1, 1))))
def test_gaussian_mle_maximises_the_log_likelihood(n, d, seed, perturbation):
    g = torch.Generator().manual_seed(seed)
    x = 3 * torch.randn(n, d, generator=g, dtype=torch.float64) + 1
    mean, var = gaussian_mle(x)
    assert torch.allclose(var, ((x - mean) ** 2).mean(0))  # biased variance
    best = log_likelihood(lambda t: diag_gaussian_log_prob(t, mean, var.log()), x)
    dmu, dlogvar = perturbation[0][:1].expand(d), perturbation[1][:1].expand(d)
    other = log_likelihood(lambda t: diag_gaussian_log_prob(t, mean + dmu, var.log() + dlogvar), x)
    assert best >= other - 1e-9


def test_log_likelihood_accepts_distributions():
    x = torch.tensor([0.0, 1.0, -1.0])
    assert float(log_likelihood(D.Normal(0.0, 1.0), x)) == pytest.approx(-1.5 * math.log(2 * math.pi) - 1.0)


def test_gaussian_mixture_agrees_with_torch_distributions():
    g = torch.Generator().manual_seed(0)
    means, stds = torch.randn(3, 2, generator=g), torch.rand(3, 2, generator=g) + 0.2
    weights = torch.tensor([0.2, 0.3, 0.5])
    ours = GaussianMixture(means, stds, weights)
    theirs = D.MixtureSameFamily(D.Categorical(weights), D.Independent(D.Normal(means, stds), 1))
    x = torch.randn(10, 2, generator=g)
    assert torch.allclose(ours.log_prob(x), theirs.log_prob(x), atol=1e-5)
    assert torch.allclose(ours.responsibilities(x).sum(-1), torch.ones(10))


def test_gaussian_mixture_samples_have_its_moments():
    mixture = GaussianMixture(torch.tensor([[-2.0, 0.0], [2.0, 1.0]]), torch.tensor([0.5, 1.0]),
                              torch.tensor([1.0, 3.0]))
    x = draw(mixture, 40000, torch.Generator().manual_seed(1))
    assert x.shape == (40000, 2)
    assert torch.allclose(x.mean(0), torch.tensor([1.0, 0.75]), atol=0.05)


def test_gaussian_mixture_rejects_bad_shapes():
    with pytest.raises(GentkError):
        GaussianMixture(torch.zeros(3), 1.0)
    with pytest.raises(GentkError):
        GaussianMixture(torch.zeros(3, 2), torch.ones(4))
    with pytest.raises(GentkError):
        GaussianMixture(torch.zeros(3, 2), 1.0, torch.tensor([1.0, -1.0, 1.0]))


@st.composite
def clustered_data(draw_):
    k, d, seed = draw_(st.integers(1, 4)), draw_(st.integers(1, 3)), draw_(seeds)
    g = torch.Generator().manual_seed(seed)
    centres = 4 * torch.randn(k, d, generator=g, dtype=torch.float64)
    labels = torch.randint(k, (300,), generator=g)
    scale = torch.rand(k, 1, generator=g, dtype=torch.float64) + 0.1
    return centres[labels] + scale[labels] * torch.randn(300, d, generator=g, dtype=torch.float64), seed


@settings(max_examples=20)
@given(clustered_data(), st.integers(1, 5), st.sampled_from(["kmeans++", "random"]))
def test_em_never_lowers_the_log_likelihood(data, k, init):
    x, seed = data
    result = em_fit(x, k, 15, torch.Generator().manual_seed(seed), init=init)
    trace = torch.tensor(result.log_likelihood)
    assert len(trace) == 16
    assert bool((trace.diff() >= -1e-9).all()), trace
    assert float(result.mixture.weights.sum()) == pytest.approx(1.0)


def test_em_recovers_well_separated_clusters():
    truth = GaussianMixture(torch.tensor([[-5.0, 0.0], [5.0, 0.0], [0.0, 5.0]], dtype=torch.float64), 0.5,
                            torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64))
    g = torch.Generator().manual_seed(0)
    x = truth.sample((3000,), generator=g)
    fitted = em_fit(x, 3, 30, g).mixture
    order = fitted.means[:, 0].argsort()  # components sorted by first coordinate: (-5,0), (0,5), (5,0)
    assert torch.allclose(fitted.weights[order], torch.tensor([0.5, 0.2, 0.3], dtype=torch.float64), atol=0.03)
    assert torch.allclose(fitted.stds, torch.full((3, 2), 0.5, dtype=torch.float64), atol=0.05)


def test_em_step_reports_the_log_likelihood_before_the_update():
    x = torch.randn(50, 2, dtype=torch.float64)
    mixture = initial_mixture(x, 2, torch.Generator().manual_seed(0))
    new, before = em_step(x, mixture)
    assert float(before) == pytest.approx(float(mixture.log_prob(x).mean()))
    assert float(new.log_prob(x).mean()) >= float(before)


def test_initial_mixture_needs_enough_points():
    with pytest.raises(GentkError):
        initial_mixture(torch.randn(3, 2), 5)
