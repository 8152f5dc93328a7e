"""Sharper checks of gentk.prob: exact values, dtypes, argument plumbing, seeding and error reports."""

import itertools
import math

import numpy as np
import pytest
import torch

from gentk.errors import GentkError
from gentk.prob import (
    GaussianMixture,
    discrete_kl,
    draw,
    em_fit,
    em_step,
    gaussian_kl,
    initial_mixture,
    langevin,
    langevin_run,
    log_mean_exp,
    log_mean_exp_estimate,
    mean_estimate,
    mode_coverage,
    monte_carlo,
    mutual_information,
    target_kind,
    toy_mixture,
    toy_mixture_centres,
)

D = torch.distributions
F64 = torch.float64


def spread_points(n=40, d=2, seed=0):
    return 3 * torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=F64)


def rms_std(x, means):
    """The std initial_mixture documents: RMS distance to the nearest mean per dimension, by hand."""
    xs, ms = x.numpy(), means.numpy()
    nearest = [min(float(((xi - m) ** 2).sum()) for m in ms) for xi in xs]
    return math.sqrt(sum(nearest) / len(nearest) / xs.shape[1])


# -- initial_mixture ---------------------------------------------------------------------------------
def test_initial_mixture_with_one_component_per_point_uses_the_min_std_floor():
    """Catches `k == n` being rejected (k > n is the error) and a wrong default min_std: with a
    centre on every point the RMS distance is 0, so every std is the floor 1e-3."""
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]], dtype=F64)
    for method in ("kmeans++", "random"):
        mixture = initial_mixture(x, 3, torch.Generator().manual_seed(0), method=method)
        assert torch.equal(mixture.stds, torch.full((3, 2), 1e-3, dtype=F64))
        assert {tuple(m) for m in mixture.means.tolist()} == {tuple(p) for p in x.tolist()}


def test_initial_mixture_error_names_the_counts_and_gives_a_hint():
    """Catches the too-many-components error raised without its message or hint."""
    with pytest.raises(GentkError, match="cannot fit 5 mixture components to 3 points") as info:
        initial_mixture(torch.randn(3, 2), 5)
    assert info.value.hint and "fewer components" in info.value.hint


@pytest.mark.parametrize("method", ["kmeans++", "random"])
def test_initial_mixture_std_is_the_rms_distance_to_the_nearest_mean_per_dimension(method):
    """Catches the per-dimension std computed with a power other than 2 of the distances, or
    multiplied instead of divided by D (here D = 2), in either seeding method."""
    x = spread_points()
    mixture = initial_mixture(x, 3, torch.Generator().manual_seed(1), method=method)
    assert torch.allclose(mixture.stds, torch.full((3, 2), rms_std(x, mixture.means), dtype=F64), rtol=1e-12)


@pytest.mark.parametrize("method", ["kmeans++", "random"])
def test_initial_mixture_is_seeded_by_its_generator_alone(method):
    """Catches a random call in the seeding (first centre, candidates, permutation) that ignores the
    generator and draws from torch's global random state."""
    x = spread_points()
    state = torch.get_rng_state()
    a = initial_mixture(x, 4, torch.Generator().manual_seed(7), method=method)
    torch.manual_seed(123)  # a different global state must not matter
    b = initial_mixture(x, 4, torch.Generator().manual_seed(7), method=method)
    torch.set_rng_state(state)
    assert torch.equal(a.means, b.means)
    torch.manual_seed(5)
    c = initial_mixture(x, 4, torch.Generator().manual_seed(7), method=method)
    after = torch.get_rng_state()
    torch.manual_seed(5)
    assert torch.equal(c.means, a.means) and torch.equal(after, torch.get_rng_state())


def test_random_initialisation_does_not_favour_far_points():
    """Catches method="random" falling through to k-means++ seeding: k-means++ always picks a far
    outlier as a centre, uniform random choice of 2 of 51 points does so with probability 2/51."""
    x = torch.cat([0.01 * torch.randn(50, 2, generator=torch.Generator().manual_seed(0)), torch.tensor([[100.0, 0]])])
    g = torch.Generator().manual_seed(0)
    hits = [bool((initial_mixture(x, 2, g, method="random").means[:, 0] > 50).any()) for _ in range(40)]
    plus = [bool((initial_mixture(x, 2, g).means[:, 0] > 50).any()) for _ in range(40)]
    # Binomial(40, 2/51): mean 1.6, P(>= 10) < 1e-5.
    assert sum(hits) < 10
    assert all(plus)


def greedy_kmeanspp_pair_distribution(points):
    """Exact distribution of the unordered pair of centres of greedy k-means++ with k = 2: first
    centre uniform; 2 + floor(log 2) = 2 candidates drawn with replacement proportional to the
    squared distance; the one leaving the smaller total squared distance wins."""
    n = len(points)
    d2 = ((points[:, None] - points[None]) ** 2).sum(-1)
    probs = {}
    for i in range(n):
        p = d2[i] / d2[i].sum()
        for picks in itertools.product(range(n), repeat=2):
            costs = [np.minimum(d2[i], d2[j]).sum() for j in picks]
            j = picks[int(np.argmin(costs))]
            key = tuple(sorted((i, j)))
            probs[key] = probs.get(key, 0.0) + p[list(picks)].prod() / n
    return probs


def test_kmeanspp_seeding_has_the_greedy_best_of_two_distribution():
    """Catches the greedy k-means++ seeding drawing a different number of candidates, drawing them
    without replacement, not picking the best candidate, or weighting points by anything but
    their squared distance (e.g. + 1): the frequencies of the 6 possible centre pairs of 4 points
    over 4000 seeded runs match the exact enumeration."""
    points = np.array([[0.0, 0.0], [0.3, 0.0], [0.5, 0.4], [1.2, 0.1]])
    exact = greedy_kmeanspp_pair_distribution(points)
    x = torch.tensor(points, dtype=F64)
    g = torch.Generator().manual_seed(0)
    runs = 4000
    counts = {}
    for _ in range(runs):
        means = initial_mixture(x, 2, g).means
        idx = tuple(sorted(int((x == m).all(-1).nonzero()) for m in means))
        counts[idx] = counts.get(idx, 0) + 1
    assert set(counts) <= set(exact)
    for key, p in exact.items():
        # 4.5 binomial standard errors per pair (6 pairs: a false alarm has probability < 1e-4);
        # the nearest wrong variant (3 candidates) moves two pairs by 6.5 and 8.8 standard errors.
        se = math.sqrt(p * (1 - p) / runs)
        assert abs(counts.get(key, 0) / runs - p) <= 4.5 * se + 1e-12, (key, counts.get(key, 0) / runs, p)


# -- GaussianMixture -----------------------------------------------------------------------------------
def test_gaussian_mixture_keeps_the_means_dtype_and_normalises_weights():
    """Catches stds or default weights built in the default float32 for float64 means, and
    weights multiplied by their sum instead of divided."""
    mixture = GaussianMixture(torch.zeros(2, 3, dtype=F64), 0.3)
    assert mixture.stds.dtype == F64 and mixture.weights.dtype == F64
    assert torch.equal(mixture.stds, torch.full((2, 3), 0.3, dtype=F64))
    weighted = GaussianMixture(torch.zeros(2, 1, dtype=F64), 1.0, torch.tensor([1.0, 3.0], dtype=F64))
    assert torch.allclose(weighted.weights, torch.tensor([0.25, 0.75], dtype=F64))


def test_gaussian_mixture_accepts_zero_weights_and_rejects_non_positive_stds():
    """Catches a zero weight rejected (weights are only required to be non-negative: EM can
    empty a component) and a zero or negative std accepted."""
    means = torch.tensor([[0.0], [5.0]], dtype=F64)
    mixture = GaussianMixture(means, 1.0, torch.tensor([0.0, 2.0], dtype=F64))
    x = torch.tensor([[4.0], [6.5]], dtype=F64)
    assert torch.allclose(mixture.log_prob(x), D.Normal(5.0, 1.0).log_prob(x[:, 0].float()).double(), atol=1e-6)
    for bad in (0.0, -1.0, torch.tensor([1.0, 0.0])):
        with pytest.raises(GentkError, match="stds positive"):
            GaussianMixture(means, bad)


def test_gaussian_mixture_errors_say_what_is_wrong():
    """Catches a GaussianMixture error raised without its message (the user would read 'None')."""
    with pytest.raises(GentkError, match=r"\(K, D\).*\(3,\)"):
        GaussianMixture(torch.zeros(3), 1.0)
    with pytest.raises(GentkError, match=r"stds of shape \(4, 1\)"):
        GaussianMixture(torch.zeros(3, 2), torch.ones(4))
    with pytest.raises(GentkError, match="weights"):
        GaussianMixture(torch.zeros(3, 2), 1.0, torch.tensor([1.0, -1.0, 1.0]))


def test_gaussian_mixture_to_keeps_the_weights():
    """Catches `to(device)` rebuilding the mixture without its weights (falling back to uniform)."""
    mixture = GaussianMixture(torch.zeros(2, 1), torch.tensor([1.0, 2.0]), torch.tensor([0.2, 0.8]))
    moved = mixture.to("cpu")
    assert torch.equal(moved.weights, mixture.weights)
    assert torch.equal(moved.means, mixture.means) and torch.equal(moved.stds, mixture.stds)


def test_gaussian_mixture_sampling_uses_only_its_generator():
    """Catches the component choice or the noise drawn from torch's global random state instead of
    the given generator (draws would not repeat, and the global state would move)."""
    mixture = GaussianMixture(torch.tensor([[-2.0, 0.0], [2.0, 1.0]]), 0.5, torch.tensor([0.3, 0.7]))
    torch.manual_seed(0)
    state = torch.get_rng_state()
    a = mixture.sample((50,), generator=torch.Generator().manual_seed(3))
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(99)
    b = mixture.sample((50,), generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_float64_mixture_samples_carry_float64_noise():
    """Catches the sampling noise drawn in float32 for a float64 mixture: every sample of a
    standard normal component would then be a float32 number."""
    mixture = GaussianMixture(torch.zeros(1, 2, dtype=F64), 1.0)
    x = mixture.sample((100,), generator=torch.Generator().manual_seed(0))
    assert x.dtype == F64
    assert bool((x != x.float().double()).any())


def test_responsibilities_normalise_over_components_for_batched_points():
    """Catches the softmax of the responsibilities taken over dimension 1 instead of the last
    (components) dimension, which only coincides for (N, D) inputs."""
    mixture = GaussianMixture(torch.tensor([[0.0, 0.0], [3.0, 0.0], [0.0, 3.0]]), 1.0)
    x = torch.randn(4, 5, 2, generator=torch.Generator().manual_seed(0))
    r = mixture.responsibilities(x)
    assert r.shape == (4, 5, 3)
    assert torch.allclose(r.sum(-1), torch.ones(4, 5), atol=1e-6)
    assert torch.allclose(r[2, 3], mixture.responsibilities(x[2, 3:4])[0])


# -- em_step / em_fit ----------------------------------------------------------------------------------
def collapsed_data():
    """Three tight clusters of 4 identical points each: every fitted variance is 0."""
    return torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]], dtype=F64).repeat_interleave(4, dim=0)


def test_em_step_floors_stds_at_min_std():
    """Catches a wrong default floor (1e-3) or the floor applied as min_std**3 to the variance
    instead of min_std**2."""
    x = collapsed_data()
    start = GaussianMixture(torch.tensor([[0.5, 0.0], [9.0, 0.5], [0.0, 9.5]], dtype=F64), 0.5)
    new, _ = em_step(x, start)
    assert torch.allclose(new.stds, torch.full((3, 2), 1e-3, dtype=F64))
    new, _ = em_step(x, start, min_std=0.5)
    assert torch.allclose(new.stds, torch.full((3, 2), 0.5, dtype=F64))


def test_em_fit_from_a_given_mixture():
    """Catches em_fit discarding a mixture passed as `init`: zero iterations return it unchanged,
    one iteration equals one em_step from it."""
    x = spread_points(30, 2, 3)
    init = GaussianMixture(torch.tensor([[-1.0, 0.0], [1.0, 0.0]], dtype=F64), 1.5)
    result = em_fit(x, 2, 0, init=init)
    assert torch.equal(result.mixture.means, init.means)
    assert result.log_likelihood == [pytest.approx(float(init.log_prob(x).mean()))]
    stepped, ll = em_step(x, init)
    one = em_fit(x, 2, 1, init=init)
    assert torch.allclose(one.mixture.means, stepped.means) and one.log_likelihood[0] == pytest.approx(float(ll))


@pytest.mark.parametrize("method", ["kmeans++", "random"])
def test_em_fit_initialises_with_the_named_method_and_generator(method):
    """Catches em_fit not passing the generator or the named method to initial_mixture (a "random"
    start silently becoming k-means++, or an unseeded start)."""
    x = spread_points()
    result = em_fit(x, 3, 0, torch.Generator().manual_seed(4), init=method)
    expected = initial_mixture(x, 3, torch.Generator().manual_seed(4), method=method)
    assert torch.equal(result.mixture.means, expected.means)


def test_em_fit_passes_min_std_to_the_start_and_to_every_step():
    """Catches min_std not reaching initial_mixture or em_step (both would floor at 1e-3)."""
    x = collapsed_data()
    start = em_fit(x, 12, 0, torch.Generator().manual_seed(0), min_std=0.5).mixture
    assert torch.allclose(start.stds, torch.full((12, 2), 0.5, dtype=F64))
    init = GaussianMixture(torch.tensor([[0.5, 0.0], [9.0, 0.5], [0.0, 9.5]], dtype=F64), 0.5)
    fitted = em_fit(x, 3, 2, min_std=0.5, init=init).mixture
    assert torch.allclose(fitted.stds, torch.full((3, 2), 0.5, dtype=F64))


# -- divergences and estimators --------------------------------------------------------------------------
def test_negative_probabilities_are_reported_by_argument_name_with_a_hint():
    """Catches the non-negativity error naming the wrong argument (or none) or losing its hint."""
    good, bad = torch.tensor([0.5, 0.5]), torch.tensor([1.5, -0.5])
    for args, name in (((bad, good), "p"), ((good, bad), "q")):
        with pytest.raises(GentkError, match=rf"^{name} has negative entries") as info:
            discrete_kl(*args)
        assert info.value.hint and "non-negative" in info.value.hint
    with pytest.raises(GentkError, match=r"^joint has negative entries"):
        mutual_information(torch.tensor([[0.5, -0.1], [0.3, 0.3]]))


def test_discrete_kl_reduces_only_the_given_dim():
    """Catches discrete_kl summing over every dimension instead of `dim`."""
    p = torch.tensor([[0.5, 0.5], [0.9, 0.1], [0.2, 0.8]], dtype=F64)
    q = torch.tensor([[0.25, 0.75], [0.5, 0.5], [0.2, 0.8]], dtype=F64)
    rows = [
        sum(pi * math.log(pi / qi) for pi, qi in zip(a, b, strict=True))
        for a, b in zip(p.tolist(), q.tolist(), strict=True)
    ]
    assert torch.allclose(discrete_kl(p, q), torch.tensor(rows, dtype=F64))
    assert torch.allclose(discrete_kl(p.T, q.T, dim=0), torch.tensor(rows, dtype=F64))


def mi_by_hand(table):
    total = sum(sum(r) for r in table)
    p = [[v / total for v in r] for r in table]
    px = [sum(r) for r in p]
    py = [sum(r[j] for r in p) for j in range(len(p[0]))]
    return sum(v * math.log(v / (px[i] * py[j])) for i, r in enumerate(p) for j, v in enumerate(r) if v > 0)


def test_mutual_information_of_a_batch_of_tables():
    """Catches a batch of joint tables (B, X, Y) normalised by the batch total, or marginals taken
    over the wrong axes or without keepdim (which only coincide for a single table)."""
    g = torch.Generator().manual_seed(0)
    joint = torch.rand(2, 3, 4, generator=g, dtype=F64) * torch.tensor([1.0, 7.0], dtype=F64).view(2, 1, 1)
    joint[0, 0, 0] = 0.0
    mi = mutual_information(joint)
    assert mi.shape == (2,)
    assert torch.allclose(mi, torch.tensor([mi_by_hand(t) for t in joint.tolist()], dtype=F64), rtol=1e-10)


def test_gaussian_kl_of_a_batch_sums_only_the_last_dim():
    """Catches the Gaussian KL summed over the batch as well as the event dimension."""
    mu = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=F64)
    logvar = torch.zeros(2, 2, dtype=F64)
    assert torch.allclose(gaussian_kl(mu, logvar), torch.tensor([0.5, 2.0], dtype=F64))


def test_log_mean_exp_keepdim():
    """Catches log_mean_exp ignoring keepdim."""
    x = torch.log(torch.tensor([[1.0, 3.0], [2.0, 6.0]], dtype=F64))
    out = log_mean_exp(x, dim=1, keepdim=True)
    assert out.shape == (2, 1)
    assert torch.allclose(out, torch.log(torch.tensor([[2.0], [4.0]], dtype=F64)))


def test_estimates_from_one_sample_keep_the_value_and_a_nan_stderr():
    """Catches a one-sample Estimate losing its value, or its stderr not being NaN."""
    est = mean_estimate(torch.tensor([2.5]))
    assert float(est.value) == 2.5 and math.isnan(float(est.stderr))
    est = log_mean_exp_estimate(torch.tensor([3.0]))
    assert float(est.value) == 3.0 and math.isnan(float(est.stderr))


def test_log_mean_exp_estimate_scales_each_column_by_its_own_maximum():
    """Catches the log-weights of a batch shifted by the global maximum instead of each column's:
    a column 2000 nats below another would underflow to 0/0 = NaN."""
    w = torch.tensor([0.0, 1.0, 2.0], dtype=F64)
    log_w = torch.stack([w, w - 2000.0], dim=1)  # (3, 2)
    est = log_mean_exp_estimate(log_w, dim=0)
    ref = log_mean_exp_estimate(w)
    assert torch.allclose(est.stderr, ref.stderr.expand(2))
    assert torch.allclose(est.value, torch.stack([ref.value, ref.value - 2000.0]))


def test_monte_carlo_and_draw_are_seeded_by_the_generator():
    """Catches monte_carlo dropping its generator (the estimate would depend on global state), and
    draw failing without a generator."""
    normal = D.Normal(0.0, 1.0)
    torch.manual_seed(0)
    a = monte_carlo(lambda x: x, normal, 20, torch.Generator().manual_seed(2))
    torch.manual_seed(1)
    b = monte_carlo(lambda x: x, normal, 20, torch.Generator().manual_seed(2))
    assert torch.equal(a.value, b.value)
    assert draw(normal, 5).shape == (5,)


def test_draws_from_different_generators_differ():
    """Catches draw seeding the sample from too small a range of seeds (e.g. 2*62 instead of 2**62):
    60 differently seeded generators must give 60 different draws."""
    normal = D.Normal(0.0, 1.0)
    values = {float(draw(normal, 1, torch.Generator().manual_seed(s))) for s in range(60)}
    assert len(values) == 60


# -- Langevin ------------------------------------------------------------------------------------------------
def test_target_kind_of_a_log_density_object():
    """Catches target_kind misnaming the kind of an object with log_prob."""
    assert target_kind(GaussianMixture(torch.zeros(1, 2), 1.0), torch.zeros(3, 2)) == "log_density"


def test_target_kind_errors_name_the_shapes_and_give_hints():
    """Catches the target-kind errors raised without their message or hint, or naming the shape of
    two examples when one was evaluated."""
    with pytest.raises(GentkError, match=r"batch dimension.*\(4,\)") as info:
        target_kind(lambda x: -x, torch.zeros(4))
    assert info.value.hint and "(B, D)" in info.value.hint
    with pytest.raises(GentkError, match=r"maps \(1, 2\) to \(\)") as info:
        target_kind(lambda x: x.sum(), torch.zeros(4, 2))
    assert info.value.hint and "(B,)" in info.value.hint


def test_langevin_run_defaults_to_auto_detected_unadjusted_langevin():
    """Catches langevin_run defaulting to MALA (a score function would be refused) or not
    auto-detecting the kind (a score would be differentiated as if it were a log-density)."""
    score = lambda x: -x  # noqa: E731  N(0, I)
    x0 = torch.randn(16, 2, generator=torch.Generator().manual_seed(0), dtype=F64)
    default = langevin_run(score, x0, 0.1, 5, torch.Generator().manual_seed(1))
    explicit = langevin_run(score, x0, 0.1, 5, torch.Generator().manual_seed(1), False, kind="score")
    assert default.acceptance is None
    assert torch.equal(default.samples, explicit.samples)


def test_an_explicit_kind_overrides_the_shape_based_guess():
    """Catches `langevin` not passing `kind` on (or langevin_run guessing regardless): a 1-D
    log-density returning (B, 1) looks like a score by shape, and only kind="log_density" makes it
    run as the log-density it is."""
    x0 = torch.randn(32, 1, generator=torch.Generator().manual_seed(0), dtype=F64)
    keepdim = lambda x: -0.5 * x.pow(2)  # noqa: E731  (B, 1) -> (B, 1)
    flat = lambda x: -0.5 * x[:, 0].pow(2)  # noqa: E731  (B, 1) -> (B,)
    a = langevin(keepdim, x0, 0.1, 5, torch.Generator().manual_seed(1), kind="log_density")
    b = langevin(flat, x0, 0.1, 5, torch.Generator().manual_seed(1))
    assert torch.allclose(a, b, rtol=1e-12, atol=0)
    c = langevin_run(keepdim, x0, 0.1, 5, torch.Generator().manual_seed(1), kind="log_density").samples
    assert torch.allclose(c, b, rtol=1e-12, atol=0)


def test_langevin_errors_say_what_is_wrong():
    """Catches the Langevin argument errors raised without their message or hint."""
    with pytest.raises(GentkError, match="step_size > 0"):
        langevin_run(lambda x: -x, torch.zeros(4, 2), 0.0, 5)
    with pytest.raises(GentkError, match="MALA needs a log-density") as info:
        langevin_run(lambda x: -x, torch.zeros(4, 2), 0.1, 5, mala=True)
    assert info.value.hint and "mala=False" in info.value.hint


def test_unadjusted_langevin_steps_follow_the_update_rule_exactly():
    """Catches the Langevin noise drawn in float32 for float64 chains, or subtracted instead of
    added: three steps match x + η ∇log p(x) + sqrt(2η) ξ with ξ the generator's float64 normals."""
    x0 = torch.randn(8, 2, generator=torch.Generator().manual_seed(0), dtype=F64)
    step = 0.1
    out = langevin_run(lambda x: -0.5 * x.pow(2).sum(-1), x0, step, 3, torch.Generator().manual_seed(1)).samples
    g = torch.Generator().manual_seed(1)
    x = x0.clone()
    for _ in range(3):
        x = x + step * (-x) + math.sqrt(2 * step) * torch.randn(x.shape, generator=g, dtype=F64)
    assert torch.allclose(out, x, rtol=1e-12, atol=1e-14)


def test_mala_acceptance_rate_matches_the_closed_form():
    """Catches a wrong normaliser in the MALA reverse proposal density (e.g. |·|²/(5η) instead of
    /(4η)): from x = 0 on N(0, 1) the acceptance probability is exp(-η²ξ²/2), whose mean over
    ξ ~ N(0, 1) is 1/sqrt(1 + η²) = 2/sqrt(5) at η = 1/2."""
    chains = 100_000
    log_p = lambda x: -0.5 * x[:, 0].pow(2)  # noqa: E731
    result = langevin_run(log_p, torch.zeros(chains, 1, dtype=F64), 0.5, 1, torch.Generator().manual_seed(0), mala=True)
    expected = 1 / math.sqrt(1.25)
    se = math.sqrt(expected * (1 - expected) / chains)  # binomial, ~0.001; the /(5η) variant moves it by 0.018
    assert abs(result.acceptance - expected) < 5 * se


# -- mode coverage -------------------------------------------------------------------------------------------
def test_mode_coverage_radius_default_and_boundary():
    """Catches a default radius other than 3 stds and a sample exactly at radius·std not counted."""
    centres = torch.zeros(1, 2, dtype=F64)
    assert mode_coverage(torch.tensor([[3.5, 0.0]], dtype=F64), centres, 1.0).high_quality == 0.0
    assert mode_coverage(torch.tensor([[2.9, 0.0]], dtype=F64), centres, 1.0).high_quality == 1.0
    assert mode_coverage(torch.tensor([[0.5, 0.0]], dtype=F64), centres, 0.25, radius=2.0).high_quality == 1.0


def test_mode_coverage_radius_is_exact_in_float64_and_accepts_float32_samples():
    """Catches the std converted in float32 for float64 centres (a sample 1e-10 beyond 3 stds
    counted as close), and samples of another dtype not converted to the centres' dtype."""
    centres = torch.zeros(1, 2, dtype=F64)
    outside = torch.tensor([[0.3 + 1e-10, 0.0]], dtype=F64)
    inside = torch.tensor([[0.3 - 1e-10, 0.0]], dtype=F64)
    assert mode_coverage(outside, centres, 0.1).high_quality == 0.0
    assert mode_coverage(inside, centres, 0.1).high_quality == 1.0
    assert mode_coverage(torch.tensor([[0.1, 0.0]]), centres, 0.1).high_quality == 1.0


def test_mode_coverage_uses_normalised_weights_and_an_inclusive_threshold():
    """Catches weights ignored or not normalised, and a mode with exactly min_fraction·N·w_k samples
    not counted as covered."""
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0]], dtype=F64)
    samples = centres[torch.tensor([0] * 4 + [1] * 16)]
    # thresholds 0.5 * 20 * (0.25, 0.75) = (2.5, 7.5): both covered; uniform weights would need 5.
    assert mode_coverage(samples, centres, 0.1, torch.tensor([1.0, 3.0]), min_fraction=0.5).modes_covered == 2
    exact = centres[torch.tensor([0, 1, 1, 1])]  # threshold 0.5 * 4 * 0.5 = 1 sample per mode
    assert mode_coverage(exact, centres, 0.1, min_fraction=0.5).modes_covered == 2


def test_mode_coverage_of_no_samples_has_zero_quality():
    """Catches the empty-sample case returning NaN (or 1) as the high-quality share."""
    result = mode_coverage(torch.zeros(0, 2, dtype=F64), torch.zeros(2, 2, dtype=F64), 0.1)
    assert result.high_quality == 0.0


# -- toy mixtures -------------------------------------------------------------------------------------------
def test_toy_mixture_centres_exactly():
    """Catches wrong ring angles (spacing or scaling) or grid coordinates (spacing or offset)."""
    ring = toy_mixture_centres("ring")
    angles = [2 * math.pi * i / 8 for i in range(8)]
    expected = torch.tensor([[2 * math.cos(a), 2 * math.sin(a)] for a in angles])
    assert ring.shape == (8, 2) and torch.allclose(ring, expected, atol=1e-6)
    grid = toy_mixture_centres("grid")
    assert grid.dtype == torch.float32 and grid.shape == (25, 2)
    assert sorted(map(tuple, grid.tolist())) == [(float(a), float(b)) for a in range(-4, 5, 2) for b in range(-4, 5, 2)]


def test_toy_mixture_std_override_and_unknown_names():
    """Catches toy_mixture ignoring its std override, and the unknown-name error raised without its
    message or hint (or not as a GentkError)."""
    assert torch.equal(toy_mixture("ring", std=0.1).stds, torch.full((8, 2), 0.1))
    assert torch.equal(toy_mixture("grid").stds, torch.full((25, 2), 0.05))
    with pytest.raises(GentkError, match="'moons' is not a Gaussian mixture") as info:
        toy_mixture_centres("moons")
    assert info.value.hint and "ring" in info.value.hint and "grid" in info.value.hint
