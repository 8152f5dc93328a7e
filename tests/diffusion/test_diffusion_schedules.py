"""The forward process and its posterior (Ho et al. 2020, eq. 4 and 6-7)."""

import torch
from hypothesis import given
from hypothesis import strategies as st

from .diffusion_helpers import build_schedule

schedules = st.one_of(
    st.builds(
        lambda n, b0, b1: build_schedule("linear", num_steps=n, beta_start=b0, beta_end=b0 + b1),
        st.integers(2, 400),
        st.floats(1e-5, 1e-2),
        st.floats(0.0, 0.05),
    ),
    st.builds(lambda n, s: build_schedule("cosine", num_steps=n, offset=s), st.integers(2, 400), st.floats(0.0, 0.05)),
)


@given(schedules)
def test_alpha_bar_decreases_strictly(sched):
    abar = sched.alphas_cumprod.double()
    assert (abar[1:] < abar[:-1]).all()
    assert 0 < abar[-1] and abar[0] < 1


def test_reference_linear_schedule():
    sched = build_schedule("linear")
    assert sched.num_steps == 1000
    assert torch.isclose(sched.betas[0], torch.tensor(1e-4)) and torch.isclose(sched.betas[-1], torch.tensor(0.02))
    assert sched.alphas_cumprod[-1] < 1e-4  # x_T is nearly pure noise


@given(schedules, st.data())
def test_composed_one_step_kernels_give_the_marginal(sched, data):
    """Iterating q(x_t|x_{t-1}) = N(sqrt(alpha_t) x_{t-1}, beta_t) from a point x0."""
    t = data.draw(st.integers(0, sched.num_steps - 1))
    x0 = data.draw(st.floats(-1, 1))
    betas = sched._table["betas"]
    mean, var = torch.tensor(x0, dtype=torch.float64), torch.tensor(0.0, dtype=torch.float64)
    for beta in betas[: t + 1]:
        mean, var = (1 - beta).sqrt() * mean, (1 - beta) * var + beta
    q_mean, q_var = sched.q_mean_var(torch.full((1, 1), x0), torch.tensor([t]))
    assert torch.isclose(q_mean.double(), mean, atol=1e-5).all()
    assert torch.isclose(q_var.double(), var, atol=1e-5).all()


def test_q_sample_matches_a_simulated_chain():
    sched = build_schedule("linear", num_steps=50, beta_end=0.05)
    g = torch.Generator().manual_seed(1)
    x = torch.full((20_000,), 0.7)
    for beta in sched.betas:
        x = (1 - beta).sqrt() * x + beta.sqrt() * torch.randn(x.shape, generator=g)
    mean, var = sched.q_mean_var(torch.tensor([[0.7]]), torch.tensor([49]))
    assert abs(x.mean() - mean.item()) < 0.02
    assert abs(x.var() - var.item()) < 0.03


@given(schedules, st.data())
def test_posterior_is_bayes_rule(sched, data):
    """prior q(x_{t-1}|x_0) times likelihood q(x_t|x_{t-1}), normalised."""
    t = data.draw(st.integers(1, sched.num_steps - 1))
    x0, xt = data.draw(st.floats(-1, 1)), data.draw(st.floats(-3, 3))
    abar_prev = sched._table["alphas_cumprod"][t - 1]
    beta = sched._table["betas"][t]
    prior_mean, prior_var = abar_prev.sqrt() * x0, 1 - abar_prev
    precision = 1 / prior_var + (1 - beta) / beta
    mean = (prior_mean / prior_var + (1 - beta).sqrt() * xt / beta) / precision
    got_mean, got_var = sched.posterior(torch.full((1, 1), x0), torch.full((1, 1), xt), torch.tensor([t]))
    assert torch.isclose(got_var.double(), 1 / precision, rtol=1e-4).all()
    assert torch.isclose(got_mean.double(), mean, rtol=1e-4, atol=1e-5).all()
    assert torch.isclose(got_var, sched.posterior_variance[t], rtol=1e-5).all()


def test_posterior_at_the_first_step_is_the_data():
    sched = build_schedule("linear")
    x0, xt = torch.randn(3, 4), torch.randn(3, 4)
    mean, var = sched.posterior(x0, xt, torch.zeros(3, dtype=torch.long))
    assert torch.allclose(mean, x0, atol=1e-6) and (var == 0).all()


@given(schedules, st.data())
def test_predict_x0_inverts_q_sample(sched, data):
    t = torch.tensor([data.draw(st.integers(0, sched.num_steps - 1))])
    x0, noise = torch.rand(1, 6) * 2 - 1, torch.randn(1, 6)
    xt = sched.q_sample(x0, t, noise)
    tol = 1e-5 / sched.sqrt_alphas_cumprod[t].item()
    assert torch.allclose(sched.predict_x0(xt, t, noise), x0, atol=max(tol, 1e-5))
