"""Discrete and Gaussian KL, Monte Carlo KL, mutual information."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gentk.errors import GentkError
from gentk.prob import discrete_kl, gaussian_kl, monte_carlo_kl, mutual_information

from .strategies import pairs_of_probabilities, probabilities, seeds, vectors

D = torch.distributions


@given(pairs_of_probabilities())
def test_discrete_kl_is_nonnegative_and_zero_only_for_equal(pq):
    p, q = pq
    kl = discrete_kl(p, q)
    assert kl >= 0
    assert discrete_kl(p, p) == 0
    if (p - q).abs().max() > 1e-3:
        assert kl > 0


@given(pairs_of_probabilities())
def test_discrete_kl_matches_the_definition_where_finite(pq):
    p, q = pq
    mask = p > 0
    if bool((q[mask] == 0).any()):
        assert discrete_kl(p, q) == math.inf
    else:
        expected = sum(float(pi * (math.log(pi) - math.log(qi))) for pi, qi in zip(p[mask], q[mask], strict=True))
        assert float(discrete_kl(p, q)) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_discrete_kl_is_infinite_where_q_vanishes_and_p_does_not():
    p = torch.tensor([0.5, 0.5, 0.0])
    q = torch.tensor([0.0, 0.5, 0.5])
    assert discrete_kl(p, q) == math.inf
    assert float(discrete_kl(torch.tensor([0.5, 0.5, 0.0]), torch.tensor([0.25, 0.5, 0.25]))) == pytest.approx(
        0.5 * math.log(2))


def test_discrete_kl_rejects_negative_probabilities():
    with pytest.raises(GentkError):
        discrete_kl(torch.tensor([1.5, -0.5]), torch.tensor([0.5, 0.5]))


@settings(max_examples=15)
@given(st.integers(1, 4).flatmap(lambda d: st.tuples(*(vectors(d, -2, 2) for _ in range(2)),
                                                      *(vectors(d, -1.0, 1.0) for _ in range(2)))), seeds)
def test_gaussian_kl_agrees_with_monte_carlo_within_its_standard_error(params, seed):
    mu_q, mu_p, logvar_q, logvar_p = params
    analytic = gaussian_kl(mu_q, logvar_q, mu_p, logvar_p)
    q = D.Independent(D.Normal(mu_q, (0.5 * logvar_q).exp()), 1)
    p = D.Independent(D.Normal(mu_p, (0.5 * logvar_p).exp()), 1)
    estimate = monte_carlo_kl(q, p, 20000, torch.Generator().manual_seed(seed))
    assert abs(float(estimate.value - analytic)) < 5 * float(estimate.stderr) + 1e-6
    assert float(analytic) == pytest.approx(float(D.kl_divergence(q, p)), rel=1e-9, abs=1e-12)


@given(st.integers(1, 5).flatmap(lambda d: st.tuples(vectors(d, -3, 3), vectors(d, -2, 2))))
def test_gaussian_kl_is_zero_for_equal_and_against_standard_normal(params):
    mu, logvar = params
    assert torch.allclose(gaussian_kl(mu, logvar, mu, logvar), torch.zeros((), dtype=torch.float64))
    expected = 0.5 * (logvar.exp() + mu.pow(2) - 1 - logvar).sum()  # KL(q || N(0, I))
    assert torch.allclose(gaussian_kl(mu, logvar), expected)
    assert gaussian_kl(mu, logvar) >= 0


def test_monte_carlo_kl_is_repeatable_with_a_generator_and_leaves_global_rng_alone():
    p, q = D.Normal(0.0, 1.0), D.Normal(1.0, 2.0)
    state = torch.get_rng_state()
    a = monte_carlo_kl(p, q, 100, torch.Generator().manual_seed(3))
    b = monte_carlo_kl(p, q, 100, torch.Generator().manual_seed(3))
    assert torch.equal(a.value, b.value)
    assert torch.equal(torch.get_rng_state(), state)


@given(st.tuples(st.integers(2, 5), st.integers(2, 5)).flatmap(lambda s: st.tuples(probabilities(s[0], 0.01),
                                                                                   probabilities(s[1], 0.01))))
def test_mutual_information_is_zero_for_a_product_table(marginals):
    px, py = marginals
    assert abs(float(mutual_information(torch.outer(px, py)))) < 1e-9


@given(st.integers(2, 4).flatmap(lambda k: st.lists(probabilities(k), min_size=2, max_size=5)))
def test_mutual_information_is_nonnegative_and_at_most_the_marginal_entropies(rows):
    joint = torch.stack(rows)  # (X, Y), unnormalised rows
    mi = float(mutual_information(joint))
    assert mi >= 0
    p = joint / joint.sum()
    entropy = lambda m: -float(torch.xlogy(m, m).sum())  # noqa: E731
    assert mi <= min(entropy(p.sum(0)), entropy(p.sum(1))) + 1e-9


def test_mutual_information_of_a_copy_is_the_entropy():
    assert float(mutual_information(torch.eye(4, dtype=torch.float64) / 4)) == pytest.approx(math.log(4))
