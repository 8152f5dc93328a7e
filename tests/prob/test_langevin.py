"""Langevin dynamics and MALA reproduce the moments of Gaussian targets."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gentk.errors import GentkError
from gentk.prob import GaussianMixture, langevin, langevin_run, target_kind

from .strategies import seeds

CHAINS = 4000


@st.composite
def gaussians_2d(draw_):
    """A 2-D Gaussian N(mu, R diag(λ) Rᵀ): random rotation, variances in [0.3, 1.5] (condition ≤ 5)."""
    mu = torch.tensor([draw_(st.floats(-2, 2)), draw_(st.floats(-2, 2))], dtype=torch.float64)
    angle = torch.tensor(draw_(st.floats(0, 3.15)), dtype=torch.float64)
    rotation = torch.stack([torch.stack([angle.cos(), -angle.sin()]), torch.stack([angle.sin(), angle.cos()])])
    variances = torch.tensor([draw_(st.floats(0.3, 1.5)), draw_(st.floats(0.3, 1.5))], dtype=torch.float64)
    return mu, rotation @ torch.diag(variances) @ rotation.T


def gaussian_log_density(mu, cov):
    precision = torch.linalg.inv(cov)

    def log_p(x):  # (B, 2) -> (B,)
        diff = x - mu
        return -0.5 * torch.einsum("bi,ij,bj->b", diff, precision, diff)

    return log_p


def run_chains(target, dim, step, steps, seed, mala):
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(CHAINS, dim, generator=g, dtype=torch.float64)
    return langevin_run(target, x0, step, steps, g, mala)


def check_moments(x, mu, cov, tolerance):
    mean, sample_cov = x.mean(0), torch.cov(x.T).reshape(cov.shape)
    scale = cov.diagonal().sqrt().max()
    assert torch.allclose(mean, mu, atol=float(tolerance * scale)), (mean, mu)
    assert torch.allclose(sample_cov, cov, atol=float(2 * tolerance * scale**2)), (sample_cov, cov)


@settings(max_examples=8)
@given(st.floats(-2, 2), st.floats(0.3, 2.0), st.booleans(), seeds)
def test_langevin_matches_a_1d_gaussian(mu, std, mala, seed):
    log_p = lambda x: -0.5 * ((x[:, 0] - mu) / std) ** 2  # noqa: E731  (B, 1) -> (B,)
    result = run_chains(log_p, 1, 0.05 * std**2, 300, seed, mala)
    check_moments(result.samples, torch.tensor([mu], dtype=torch.float64),
                  torch.tensor([[std**2]], dtype=torch.float64), 0.08)
    assert (result.acceptance is not None) == mala


@settings(max_examples=8)
@given(gaussians_2d(), st.booleans(), seeds)
def test_langevin_and_mala_match_a_2d_gaussian(gaussian, mala, seed):
    mu, cov = gaussian
    step = 0.05 * float(torch.linalg.eigvalsh(cov).min())
    result = run_chains(gaussian_log_density(mu, cov), 2, step, 600, seed, mala)
    check_moments(result.samples, mu, cov, 0.08)
    if mala:
        assert 0.5 < result.acceptance <= 1.0


def test_mala_removes_the_step_size_bias_of_unadjusted_langevin():
    std, step = 1.0, 0.5  # η/σ² = 1/2: ULA's stationary variance is σ²/(1 - η/(2σ²)) = 4/3 σ²
    log_p = lambda x: -0.5 * (x[:, 0] / std) ** 2  # noqa: E731
    ula = run_chains(log_p, 1, step, 200, 0, False).samples.var()
    mala = run_chains(log_p, 1, step, 200, 0, True).samples.var()
    assert float(ula) == pytest.approx(4 / 3, rel=0.07)
    assert float(mala) == pytest.approx(1.0, rel=0.07)


def test_a_score_function_gives_the_same_chains_as_its_log_density():
    mu, cov = torch.tensor([1.0, -1.0], dtype=torch.float64), torch.tensor([[1.0, 0.3], [0.3, 0.5]],
                                                                          dtype=torch.float64)
    log_p = gaussian_log_density(mu, cov)
    precision = torch.linalg.inv(cov)
    score = lambda x: -(x - mu) @ precision  # noqa: E731  (B, 2) -> (B, 2)
    assert target_kind(score, torch.zeros(3, 2)) == "score"
    assert target_kind(log_p, torch.zeros(3, 2)) == "log_density"
    x0 = torch.randn(64, 2, dtype=torch.float64)
    a = langevin(score, x0, 0.01, 50, torch.Generator().manual_seed(5))
    b = langevin(log_p, x0, 0.01, 50, torch.Generator().manual_seed(5))
    assert torch.allclose(a, b)


def test_langevin_samples_every_mode_of_a_mixture_from_a_wide_start():
    mixture = GaussianMixture(torch.tensor([[-3.0, 0.0], [3.0, 0.0]]), 0.3)
    g = torch.Generator().manual_seed(0)
    x = langevin(mixture, 3 * torch.randn(2000, 2, generator=g), 0.005, 300, g)
    share = float((x[:, 0] > 0).float().mean())
    assert 0.4 < share < 0.6
    assert float((x - x.round().clamp(-3, 3) * torch.tensor([1.0, 0.0])).abs().max()) < 2.0


def test_langevin_user_errors():
    with pytest.raises(GentkError):
        langevin(lambda x: -x, torch.zeros(4, 2), 0.1, 5, mala=True)  # MALA needs a log-density
    with pytest.raises(GentkError):
        langevin(lambda x: x.sum(), torch.zeros(4, 2), 0.1, 5)  # neither (B,) nor x's shape
    with pytest.raises(GentkError):
        langevin(lambda x: -x, torch.zeros(4), 0.1, 5)  # no batch dimension
    with pytest.raises(GentkError):
        langevin(lambda x: -x, torch.zeros(4, 2), 0.0, 5)


def test_langevin_works_under_inference_mode_and_repeats_with_a_seed():
    mixture = GaussianMixture(torch.zeros(1, 2), 1.0)
    x0 = torch.randn(8, 2)
    with torch.inference_mode():
        a = langevin(mixture, x0, 0.1, 10, torch.Generator().manual_seed(1), mala=True)
    b = langevin(mixture, x0, 0.1, 10, torch.Generator().manual_seed(1), mala=True)
    assert torch.equal(a, b)
