"""Monte Carlo, importance sampling, self-normalised IS and log-mean-exp estimates."""

import math
from decimal import Decimal, getcontext

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from gentk.prob import (
    Estimate,
    diag_gaussian_log_prob,
    importance_sampling,
    log_mean_exp,
    log_mean_exp_estimate,
    mean_estimate,
    monte_carlo,
    self_normalised_is,
)

from .strategies import seeds

D = torch.distributions
S = 20000


def normal_log_prob(x, mu, std):
    return diag_gaussian_log_prob(x.unsqueeze(-1), torch.tensor([mu]), torch.tensor([2 * math.log(std)]))


@st.composite
def target_and_proposal(draw):
    """A Gaussian target and a Gaussian proposal wide enough for finite-variance weights."""
    mu_p, std_p = draw(st.floats(-2, 2)), draw(st.floats(0.3, 2.0))
    std_q = std_p * draw(st.floats(1.0, 2.0))
    mu_q = mu_p + std_q * draw(st.floats(-1, 1))
    return mu_p, std_p, mu_q, std_q


def test_mean_estimate_gives_the_standard_error_of_the_mean():
    values = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64)
    est = mean_estimate(values)
    assert float(est.value) == 2.5
    assert float(est.stderr) == pytest.approx(float(values.std()) / 2)
    assert math.isnan(float(mean_estimate(values[:1]).stderr))
    assert "±" in str(est)


@given(st.floats(-3, 3), st.floats(0.1, 3), seeds)
def test_monte_carlo_mean_is_within_a_few_standard_errors(mu, std, seed):
    normal = D.Normal(torch.tensor(mu), torch.tensor(std))
    est = monte_carlo(lambda x: x, normal, S, torch.Generator().manual_seed(seed))
    assert isinstance(est, Estimate)
    assert abs(float(est.value) - mu) < 5 * float(est.stderr)
    assert float(est.stderr) == pytest.approx(std / math.sqrt(S), rel=0.1)


@given(target_and_proposal(), seeds)
def test_importance_sampling_is_unbiased_for_gaussian_targets(params, seed):
    mu_p, std_p, mu_q, std_q = params
    g = torch.Generator().manual_seed(seed)
    x = mu_q + std_q * torch.randn(S, generator=g, dtype=torch.float64)  # (S,) from q
    log_p, log_q = normal_log_prob(x, mu_p, std_p), normal_log_prob(x, mu_q, std_q)
    values = torch.stack([x, x.pow(2), torch.ones_like(x)], dim=-1)  # (S, 3): E_p = mu, mu² + std², 1
    est = importance_sampling(values, log_p, log_q)
    truth = torch.tensor([mu_p, mu_p**2 + std_p**2, 1.0], dtype=torch.float64)
    assert bool(((est.value - truth).abs() < 5 * est.stderr + 1e-9).all())


@given(target_and_proposal(), st.floats(-500, 500), st.floats(-500, 500), seeds)
def test_self_normalised_is_recovers_normaliser_ratio_and_mean(params, log_zp, log_zq, seed):
    mu_p, std_p, mu_q, std_q = params
    g = torch.Generator().manual_seed(seed)
    x = mu_q + std_q * torch.randn(S, generator=g, dtype=torch.float64)
    log_p_tilde = normal_log_prob(x, mu_p, std_p) + log_zp  # known only up to Z_p
    log_q_tilde = normal_log_prob(x, mu_q, std_q) + log_zq
    est = self_normalised_is(log_p_tilde, log_q_tilde, x)
    assert abs(float(est.log_ratio) - (log_zp - log_zq)) < 5 * float(est.log_ratio_stderr) + 1e-6
    assert abs(float(est.value) - mu_p) < 5 * float(est.stderr) + 1e-6
    assert 1 <= float(est.ess) <= S + 1e-6
    assert float(est.ratio) == pytest.approx(math.exp(float(est.log_ratio)))


def test_self_normalised_is_with_identical_densities_has_full_ess():
    x = torch.randn(100, dtype=torch.float64)
    est = self_normalised_is(x * 0 + 3.0, x * 0, None)
    assert float(est.ess) == pytest.approx(100)
    assert float(est.log_ratio) == pytest.approx(3.0)
    assert float(est.value) == 1.0


def exact_log_mean_exp(values: list[float]) -> float:
    getcontext().prec = 60
    total = sum(Decimal(v).exp() for v in values)
    return float((total / len(values)).ln())


@given(st.lists(st.floats(-1e4, 1e4), min_size=1, max_size=20))
def test_log_mean_exp_is_exact_and_finite_for_log_weights_up_to_1e4(values):
    x = torch.tensor(values, dtype=torch.float64)
    result = float(log_mean_exp(x))
    assert math.isfinite(result)
    assert result == pytest.approx(exact_log_mean_exp(values), rel=1e-12, abs=1e-9)
    est = log_mean_exp_estimate(x)
    assert float(est.value) == result
    assert len(values) == 1 or math.isfinite(float(est.stderr))


@given(st.lists(st.floats(-1e4, 1e4), min_size=2, max_size=20), st.floats(-1e4, 1e4))
def test_log_mean_exp_estimate_is_shift_equivariant(values, shift):
    x = torch.tensor(values, dtype=torch.float64)
    a, b = log_mean_exp_estimate(x), log_mean_exp_estimate(x + shift)
    assert float(b.value) == pytest.approx(float(a.value) + shift, rel=1e-9, abs=1e-6)
    assert float(b.stderr) == pytest.approx(float(a.stderr), rel=1e-6, abs=1e-9)


def test_log_mean_exp_estimate_stderr_matches_the_delta_method():
    w = torch.rand(1000, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) + 0.5
    est = log_mean_exp_estimate(w.log())
    assert float(est.stderr) == pytest.approx(float(w.std() / (w.mean() * math.sqrt(1000))))
