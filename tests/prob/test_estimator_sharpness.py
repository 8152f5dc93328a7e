"""Standard errors pinned to exact values and calibrated over many seeded replications, and MALA's exactness
where unadjusted Langevin is biased."""

import math

import numpy as np
import pytest
import torch

from gentk.prob import importance_sampling, log_mean_exp_estimate, mean_estimate, self_normalised_is
from gentk_prob.configs import LangevinConfig
from gentk_prob.sampler import LangevinSampler

LOG_2PI = math.log(2 * math.pi)


def f64(values):
    return torch.tensor(values, dtype=torch.float64)


def normal_log_prob(x, mu, std):
    return -0.5 * ((x - mu) / std) ** 2 - math.log(std) - 0.5 * LOG_2PI


# -- exact values on hand-chosen samples ------------------------------------------------------------
def test_mean_estimate_stderr_is_the_ddof_1_std_over_root_n_along_the_given_dim():
    """Catches the standard error computed with the population std (ddof 0), divided by n or by
    sqrt(n - 1) instead of sqrt(n), or taken along another dimension than the mean."""
    # [1, 2, 4, 8, 16]: mean 6.2, squared deviations 27.04 + 17.64 + 4.84 + 3.24 + 96.04 = 148.8,
    # ddof-1 variance 148.8 / 4 = 37.2, stderr sqrt(37.2 / 5)
    est = mean_estimate(f64([1.0, 2.0, 4.0, 8.0, 16.0]))
    assert float(est.value) == pytest.approx(6.2, rel=1e-15)
    assert float(est.stderr) == pytest.approx(math.sqrt(37.2 / 5), rel=1e-14)
    # along dim 1: rows [0, 2] (stderr 1) and [1, 7] (stderr 3); along dim 0 of the same table
    table = f64([[0.0, 2.0], [1.0, 7.0]])
    rows = mean_estimate(table, dim=1)
    assert rows.value.tolist() == pytest.approx([1.0, 4.0]) and rows.stderr.tolist() == pytest.approx([1.0, 3.0])
    cols = mean_estimate(table, dim=0)
    assert cols.value.tolist() == pytest.approx([0.5, 4.5]) and cols.stderr.tolist() == pytest.approx([0.5, 2.5])


def test_importance_sampling_estimate_and_stderr_by_hand():
    """Catches the importance weights inverted (q/p instead of p/q) and a standard error of the
    unweighted values instead of the weighted ones."""
    # weights p/q = [1/2, 1, 2, 4] on values [1, 2, 3, -1]: products [0.5, 2, 6, -4], mean 1.125,
    # squared deviations 0.390625 + 0.765625 + 23.765625 + 26.265625 = 51.1875, stderr sqrt(51.1875 / 3 / 4)
    log_ratio = f64([0.5, 1.0, 2.0, 4.0]).log()
    log_q = f64([-1.0, 0.3, -2.0, 0.7])
    est = importance_sampling(f64([1.0, 2.0, 3.0, -1.0]), log_q + log_ratio, log_q)
    assert float(est.value) == pytest.approx(1.125, rel=1e-14)
    assert float(est.stderr) == pytest.approx(math.sqrt(51.1875 / 12), rel=1e-13)


@pytest.mark.parametrize("shift", [0.0, -1000.0, 1000.0])
def test_log_mean_exp_estimate_stderr_is_the_delta_method_by_hand(shift):
    """Catches the delta-method standard error std(w) / (mean(w) sqrt(S)) left relative to the
    largest weight (not divided by the mean), with ddof 0, or without the 1/sqrt(S), at log-weights
    whose exponentials overflow or underflow."""
    # w = [1, 2, 3, 6]: mean 3, ddof-1 variance (4 + 1 + 0 + 9) / 3 = 14/3, stderr sqrt(14/3) / (3 * 2)
    log_w = f64([1.0, 2.0, 3.0, 6.0]).log() + shift
    est = log_mean_exp_estimate(log_w)
    assert float(est.value) == pytest.approx(math.log(3.0) + shift, rel=1e-14, abs=1e-12)
    assert float(est.stderr) == pytest.approx(math.sqrt(14 / 3) / 6, rel=1e-12)
    # along dim 1, rows of weights [1, 3] (mean 2, std sqrt 2) and [5, 5] (no spread)
    table = f64([[1.0, 3.0], [5.0, 5.0]]).log() + shift
    rows = log_mean_exp_estimate(table, dim=1)
    assert rows.value.tolist() == pytest.approx([math.log(2) + shift, math.log(5) + shift], rel=1e-14, abs=1e-12)
    assert rows.stderr.tolist() == pytest.approx([math.sqrt(2) / (2 * math.sqrt(2)), 0.0], rel=1e-12, abs=1e-15)


def test_self_normalised_is_value_stderr_ess_and_log_ratio_by_hand():
    """Catches an effective sample size other than (sum w)^2 / sum w^2 (e.g. 1 / sum w, or sum w^2
    of unnormalised weights), a delta-method standard error without its square root or with
    unnormalised weights, a value normalised by S instead of sum w, and a log normaliser ratio or its
    standard error that ignores the constants Z_p and Z_q."""
    # w = [1, 1, 2, 4] (sum 8, sum w^2 = 22) on f = [4, 0, 2, 1]: value 12 / 8 = 1.5, ESS 64 / 22,
    # stderr^2 = sum (w/8)^2 (f - 1.5)^2 = (6.25 + 2.25 + 4 * 0.25 + 16 * 0.25) / 64 = 13.5 / 64
    log_q_tilde = f64([0.2, -0.7, 1.1, 0.0])
    log_p_tilde = log_q_tilde + f64([1.0, 1.0, 2.0, 4.0]).log() + 500.0  # Z_p / Z_q carries e^500
    est = self_normalised_is(log_p_tilde, log_q_tilde, f64([4.0, 0.0, 2.0, 1.0]))
    assert float(est.value) == pytest.approx(1.5, rel=1e-14)
    assert float(est.stderr) == pytest.approx(math.sqrt(13.5 / 64), rel=1e-13)
    assert float(est.ess) == pytest.approx(64 / 22, rel=1e-13)
    # mean weight 2 and ddof-1 std sqrt((1 + 1 + 0 + 4) / 3): log ratio 500 + log 2, stderr sqrt(2) / (2 * 2)
    assert float(est.log_ratio) == pytest.approx(500 + math.log(2), rel=1e-14)
    assert float(est.log_ratio_stderr) == pytest.approx(math.sqrt(2) / 4, rel=1e-13)
    # one weight carries everything: ESS 1, and the estimate is that sample's value with no spread
    lone = self_normalised_is(f64([0.0, -2000.0, -2000.0]), f64([0.0, 0.0, 0.0]), f64([3.0, 5.0, 7.0]))
    assert float(lone.ess) == pytest.approx(1.0) and float(lone.value) == pytest.approx(3.0)
    assert float(lone.stderr) == pytest.approx(0.0, abs=1e-300)


# -- calibration: 1.96 standard errors cover the truth 95% of the time --------------------------------
S = 400  # samples per estimate
REPLICATIONS = 20_000  # independent estimates, in chunks to keep memory small
CHUNK = 5_000
# The count of covering intervals is Binomial(R, p): its standard error sqrt(p (1 - p) / R) is
# 0.00154 for R = 20000, and the tolerance is 4 of them (0.0062), a false alarm once in 16000 seeds.
# The asymptotic estimators (all but the plain mean) also get 0.003 for their O(1/S) coverage error
# at S = 400, measured at most 0.0013 with 400000 replications. A standard error off by a factor of
# 1.1 moves the coverage to 0.968 or 0.925, 0.018 or more away, beyond the 0.0092 allowed.
BINOMIAL_SE = math.sqrt(0.95 * 0.05 / REPLICATIONS)
MU_P, STD_Q = 0.5, 1.3  # target N(0.5, 1), proposal N(0, 1.3^2): bounded importance weights


def t_coverage(df: int, z: float = 1.96) -> float:
    """P(|T| < z) for Student's t with `df` degrees of freedom, by Simpson's rule on its density."""
    t = np.linspace(0.0, z, 20_001)
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    density = np.exp(log_c - (df + 1) / 2 * np.log1p(t**2 / df))
    h = t[1] - t[0]
    return float(2 * h / 3 * (density[0] + density[-1] + 4 * density[1:-1:2].sum() + 2 * density[2:-1:2].sum()))


def plain_mean(x):
    """Gaussian data N(0.5, 2^2): (mean - mu) / stderr is exactly t with S - 1 degrees of freedom."""
    return mean_estimate(MU_P + 2.0 * x / STD_Q), MU_P


def importance(x):
    return importance_sampling(x, normal_log_prob(x, MU_P, 1.0), normal_log_prob(x, 0.0, STD_Q)), MU_P


def log_normaliser(x):
    log_w = normal_log_prob(x, MU_P, 1.0) - normal_log_prob(x, 0.0, STD_Q) + 3.0  # Z_p / Z_q = e^3
    return log_mean_exp_estimate(log_w, dim=0), 3.0


def self_normalised(x):
    # every column is one replication: the estimator works along dim 0 (samples)
    return self_normalised_is(normal_log_prob(x, MU_P, 1.0) - 7.0, normal_log_prob(x, 0.0, STD_Q), x), MU_P


@pytest.mark.parametrize(
    ("estimator", "expected", "allowance"),
    [
        (plain_mean, t_coverage(S - 1), 0.0),
        (importance, 0.95, 0.003),
        (log_normaliser, 0.95, 0.003),
        (self_normalised, 0.95, 0.003),
    ],
    ids=["mean", "importance", "log_mean_exp", "self_normalised"],
)
def test_standard_errors_are_calibrated_over_seeded_replications(estimator, expected, allowance):
    """Catches a standard error that is inflated or deflated by a constant factor (1.1 or more),
    which no test using it only as a tolerance can see: e.g. the log-mean-exp error not divided by
    the mean weight, the self-normalised delta method with a stray factor, or a std over the wrong axis."""
    g = torch.Generator().manual_seed(20240607)
    covered = 0
    for _ in range(REPLICATIONS // CHUNK):
        x = STD_Q * torch.randn(S, CHUNK, generator=g, dtype=torch.float64)  # (S, R) draws from the proposal
        est, truth = estimator(x)
        assert est.value.shape == est.stderr.shape == (CHUNK,)
        covered += int(((est.value - truth).abs() < 1.96 * est.stderr).sum())
    coverage = covered / REPLICATIONS
    assert abs(coverage - expected) < 4 * BINOMIAL_SE + allowance, (coverage, expected)


# -- Langevin: the Metropolis correction removes the discretisation bias ------------------------------
def test_mala_is_exact_at_a_step_size_where_unadjusted_langevin_is_biased():
    """Catches MALA without its accept/reject step (it is then unadjusted Langevin), a Metropolis
    ratio with the wrong proposal density (variance 2η vs η) or the forward and backward terms
    swapped, and rejected chains that keep the proposal's gradient or log-density.

    The code's update x <- x + η ∇log p(x) + sqrt(2η) ξ on N(m, s²) is the autoregression
    x - m <- (1 - η/s²)(x - m) + sqrt(2η) ξ, whose stationary variance v solves
    v = (1 - η/s²)² v + 2η: v = s² / (1 - η/(2 s²)), here 2.25 / (1 - 2.5/4.5) = 5.0625, more than
    twice s², which MALA must remove. At this step a quarter of the proposals are rejected, so what a
    rejected chain keeps (its point, gradient and log-density) matters."""
    m, s, step = 1.0, 1.5, 2.5
    chains, steps = 20_000, 300
    log_p = lambda x: -0.5 * ((x[:, 0] - m) / s) ** 2  # noqa: E731  (B, 1) -> (B,)
    ula_variance = s**2 / (1 - step / (2 * s**2))
    results = {}
    for mala in (False, True):
        g = torch.Generator().manual_seed(17)
        x0 = 0.1 * torch.randn(chains, 1, generator=g, dtype=torch.float64)  # far from N(1, 1.5^2)
        sampler = LangevinSampler(LangevinConfig(step_size=step, steps=steps, mala=mala))
        results[mala] = sampler.run(log_p, (chains, 1), generator=g, x0=x0)
    # the chains are independent, so each final state is one draw: the sample mean has standard
    # error sqrt(v / B) and the sample variance v sqrt(2 / (B - 1)) (1% of v); 4 standard errors
    # leave a false alarm once in 16000 seeds and miss no bias above 4% of the variance
    for mala, variance in ((False, ula_variance), (True, s**2)):
        x = results[mala].samples[:, 0]
        assert abs(float(x.mean()) - m) < 4 * math.sqrt(variance / chains), (mala, float(x.mean()))
        assert abs(float(x.var()) - variance) < 4 * variance * math.sqrt(2 / (chains - 1)), (mala, float(x.var()))
    assert results[False].acceptance is None
    assert 0.5 < results[True].acceptance < 0.95  # a step this large rejects many proposals
