"""Properties of the VAE mathematics (the KL, the bounds and their estimators), checked with hypothesis."""

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gentk.prob import gaussian_kl, log_mean_exp
from gentk.recipe import resolve_component
from gentk_vae.bounds import elbo_terms, importance_log_likelihood, iwae_bound, log_weights

from . import linear_gaussian

scale = st.floats(0.3, 2.0)
small = st.floats(-1.5, 1.5)


def objective(table):
    return resolve_component("objective", table).build()


def mean_and_se(values: torch.Tensor) -> tuple[float, float]:
    values = values.double()
    return values.mean().item(), values.std().item() / math.sqrt(len(values))


@settings(max_examples=15)
@given(
    mu_q=st.lists(small, min_size=3, max_size=3),
    logvar_q=st.lists(small, min_size=3, max_size=3),
    mu_p=st.lists(small, min_size=3, max_size=3),
    logvar_p=st.lists(small, min_size=3, max_size=3),
)
def test_gaussian_kl_is_nonnegative_and_matches_monte_carlo(mu_q, logvar_q, mu_p, logvar_p):
    mq, lq, mp, lp = (torch.tensor(v, dtype=torch.float64) for v in (mu_q, logvar_q, mu_p, logvar_p))
    kl = gaussian_kl(mq, lq, mp, lp).item()
    assert kl >= -1e-9
    q = torch.distributions.Normal(mq, (0.5 * lq).exp())
    p = torch.distributions.Normal(mp, (0.5 * lp).exp())
    x = q.sample((10000,))
    ratios = (q.log_prob(x) - p.log_prob(x)).sum(-1)
    estimate, se = mean_and_se(ratios)
    assert abs(estimate - kl) < 5 * se + 1e-6


@given(mu=st.lists(small, min_size=4, max_size=4), logvar=st.lists(small, min_size=4, max_size=4))
def test_kl_to_itself_is_zero(mu, logvar):
    m, lv = torch.tensor(mu), torch.tensor(logvar)
    assert abs(gaussian_kl(m, lv, m, lv).item()) < 1e-5


@settings(max_examples=10)
@given(seed=st.integers(0, 1000), beta=st.floats(0.0, 8.0))
def test_beta_one_is_the_elbo_and_beta_weights_only_the_kl(seed, beta):
    encoder, decoder, _ = linear_gaussian.build(4, 2, [1.0, 0.5], 0.7, seed=seed, shift=0.3, widen=1.5)
    x = linear_gaussian.sample_x(4, 8, seed)
    run = lambda obj: obj(x, encoder, decoder, generator=torch.Generator().manual_seed(seed))  # noqa: E731
    elbo = run(objective("elbo"))
    beta_one = run(objective({"use": "beta_elbo", "beta": 1.0}))
    weighted = run(objective({"use": "beta_elbo", "beta": beta}))
    torch.testing.assert_close(beta_one["loss"], elbo["loss"])
    torch.testing.assert_close(elbo["loss"], -elbo["elbo"].mean())
    expected = -(weighted["rec"] - beta * weighted["kl"]).mean()
    torch.testing.assert_close(weighted["loss"], expected)
    torch.testing.assert_close(weighted["elbo"], elbo["elbo"])  # the logged ELBO does not depend on beta


@settings(max_examples=6)
@given(seed=st.integers(0, 1000), s=scale, sigma=st.floats(0.4, 1.5), shift=small)
def test_iwae_with_one_sample_equals_the_elbo_in_expectation(seed, s, sigma, shift):
    encoder, decoder, _ = linear_gaussian.build(3, 2, [s, 0.5 * s], sigma, seed=seed, shift=shift, widen=2.0)
    x = linear_gaussian.sample_x(3, 1, seed).expand(5000, 3)  # replicates of one point
    g = torch.Generator().manual_seed(seed)
    iwae, se_i = mean_and_se(iwae_bound(x, encoder, decoder, 1, g))
    rec, kl = elbo_terms(x, encoder, decoder, g)
    elbo, se_e = mean_and_se(rec - kl)
    assert abs(iwae - elbo) < 5 * math.hypot(se_i, se_e)


@settings(max_examples=15)
@given(seed=st.integers(0, 1000), s=scale, sigma=st.floats(0.3, 1.5), k=st.sampled_from([1, 2, 7, 50]))
def test_iwae_is_exact_when_the_encoder_is_the_posterior(seed, s, sigma, k):
    encoder, decoder, log_px = linear_gaussian.build(5, 3, [s, 0.6 * s, 1.3 * s], sigma, seed=seed)
    x = linear_gaussian.sample_x(5, 6, seed)
    bound = iwae_bound(x, encoder, decoder, k, torch.Generator().manual_seed(seed))
    torch.testing.assert_close(bound.double(), log_px(x), atol=2e-3, rtol=1e-4)


@settings(max_examples=5)
@given(seed=st.integers(0, 1000), s=scale, sigma=st.floats(0.3, 1.0), shift=st.floats(0.5, 1.5))
def test_iwae_rises_with_k_and_stays_below_log_likelihood(seed, s, sigma, shift):
    encoder, decoder, log_px = linear_gaussian.build(3, 2, [s, 0.7 * s], sigma, seed=seed, shift=shift, widen=2.0)
    x = linear_gaussian.sample_x(3, 1, seed).expand(2000, 3)
    exact = log_px(x[:1]).item()
    g = torch.Generator().manual_seed(seed)
    estimates = [mean_and_se(iwae_bound(x, encoder, decoder, k, g)) for k in (1, 4, 32)]
    for (low, se_low), (high, se_high) in zip(estimates, estimates[1:], strict=False):
        assert high > low - 4 * math.hypot(se_low, se_high)
    for value, se in estimates:
        assert value < exact + 4 * se
    assert estimates[-1][0] > estimates[0][0]  # a shifted proposal leaves a gap that K = 32 narrows


def test_importance_estimate_approaches_log_likelihood_and_chunks_do_not_matter():
    encoder, decoder, log_px = linear_gaussian.build(3, 2, [1.0, 0.5], 0.6, seed=3, shift=0.2, widen=1.2)
    x = linear_gaussian.sample_x(3, 5, 3)
    exact = log_px(x)
    for chunk in (2000, 300, 7):
        estimate = importance_log_likelihood(x, encoder, decoder, 2000, chunk, torch.Generator().manual_seed(chunk))
        assert estimate.shape == (5,)
        torch.testing.assert_close(estimate.double(), exact, atol=0.03, rtol=0)
    few = importance_log_likelihood(x, encoder, decoder, 1, 1, torch.Generator().manual_seed(0))
    assert (few.double() - exact).abs().mean() > 0.03  # the tolerance above is not vacuous


@given(offset=st.floats(-1e4, 1e4), k=st.integers(1, 64))
def test_log_weights_of_magnitude_1e4_do_not_overflow(offset, k):
    """Shifting every log-weight by a constant shifts the bound by exactly that constant."""
    encoder, decoder, _ = linear_gaussian.build(3, 2, [1.0, 0.5], 0.6, seed=0, shift=0.4)
    x = linear_gaussian.sample_x(3, 4, 0)
    mu, logvar = encoder(x)
    weights = log_weights(x, mu, logvar, decoder, k, torch.Generator().manual_seed(1)).double()  # (K, B)
    shifted = log_mean_exp(weights + offset, dim=0)
    assert torch.isfinite(shifted).all()
    torch.testing.assert_close(shifted - offset, log_mean_exp(weights, dim=0), atol=1e-9 + 1e-12 * abs(offset), rtol=0)


def test_iwae_objective_survives_huge_log_likelihoods():
    """A decoder whose log-densities are about -1e4 per example still gives a finite loss and gradient."""
    encoder, decoder, _ = linear_gaussian.build(3, 2, [1.0, 0.5], 0.6, seed=0)
    with torch.no_grad():
        decoder.likelihood.logvar.fill_(-12.0)  # tiny variance: log p(x|z) ~ -1e4 and below
    x = linear_gaussian.sample_x(3, 4, 0) * 30
    out = objective({"use": "iwae", "k": 32})(x, encoder, decoder, generator=torch.Generator().manual_seed(0))
    assert out["loss"].item() > 1e4 and math.isfinite(out["loss"].item())
    out["loss"].backward()
    assert all(torch.isfinite(p.grad).all() for p in encoder.parameters())
