"""Reverse samplers (stepping rules on a noise prediction) and classifier-free guidance."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from gentk.errors import RecipeError
from gentk.families.diffusion import DiffusionSampler, NoiseSchedule
from gentk.recipe import resolve_component
from gentk_diffusion.samplers import guided_eps, interpolated_sigma, step_sequence

from .diffusion_helpers import build_schedule


def oracle(sched, x0):
    """The noise prediction that is exact for data concentrated at x0."""

    def eps(x, t):
        abar = sched.alphas_cumprod[t].reshape(-1, *[1] * (x.dim() - 1))
        return (x - abar.sqrt() * x0) / (1 - abar).sqrt()

    return eps


def sampler(name, **options):
    return resolve_component("sampler", {"use": name, **options}).build()


@pytest.mark.parametrize(
    "name,options",
    [
        ("ancestral", {"variance": "beta"}),
        ("ancestral", {"variance": "beta_tilde", "steps": 7}),
        ("ddim", {"steps": 10}),
        ("ddim", {"steps": 10, "eta": 1.0}),
        ("ddpm_langevin", {"steps": 10}),
    ],
)
def test_reverse_chain_with_the_true_noise_recovers_x0(name, options, gen):
    sched = build_schedule("linear", num_steps=100)
    x0 = torch.rand(4, 1, 3, 3) * 1.6 - 0.8
    out = sampler(name, clip_denoised=False, **options).sample(oracle(sched, x0), sched, x0.shape, generator=gen)
    assert torch.allclose(out, x0, atol=1e-4)


@given(st.integers(1, 999))
def test_one_reverse_step_with_the_true_noise_moves_to_the_posterior_mean(t):
    sched = build_schedule("linear")
    x0, noise = torch.rand(2, 5) * 2 - 1, torch.randn(2, 5)
    tt = torch.full((2,), t)
    xt = sched.q_sample(x0, tt, noise)
    out = sampler("ddim", steps=None, eta=0.0, clip_denoised=False).step(
        lambda x, s: noise, sched, xt, t, t - 1, torch.Generator()
    )
    # eta = 0 keeps the same noise: x_{t-1} = sqrt(abar_{t-1}) x0 + sqrt(1 - abar_{t-1}) noise
    assert torch.allclose(out, sched.q_sample(x0, tt - 1, noise), atol=1e-4)


def test_ddim_with_eta_zero_is_deterministic_given_the_start_noise():
    sched = build_schedule("linear", num_steps=50)
    eps = lambda x, t: torch.tanh(x) * 0.5  # noqa: E731
    ddim = sampler("ddim", steps=10, eta=0.0)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    a, b = ddim.sample(eps, sched, (3, 4), generator=g1), ddim.sample(eps, sched, (3, 4), generator=g2)
    assert torch.equal(a, b)
    # only the start noise was drawn
    ref = torch.Generator().manual_seed(3)
    torch.randn((3, 4), generator=ref)
    assert torch.equal(g1.get_state(), ref.get_state())
    stochastic = sampler("ddim", steps=10, eta=1.0).sample(
        eps, sched, (3, 4), generator=torch.Generator().manual_seed(3)
    )
    assert not torch.allclose(stochastic, a)


@given(st.integers(1, 100), st.integers(1, 200))
def test_step_sequence_is_descending_and_spans_the_chain(steps, num_steps):
    seq = step_sequence(num_steps, steps)
    assert seq[0] == num_steps - 1 and (seq[-1] == 0 or steps == 1)
    assert all(a > b for a, b in zip(seq, seq[1:], strict=False))
    assert len(seq) == min(steps, num_steps)


def fake_denoiser(x, t, y):
    return x * (y.float() + 1).reshape(-1, 1) + t.float().reshape(-1, 1)


@given(st.floats(0, 10))
def test_guidance_combines_both_branches_from_one_batched_pass(w):
    calls = []

    def net(x, t, y):
        calls.append(len(x))
        return fake_denoiser(x, t, y)

    x, t, y = torch.randn(3, 2), torch.tensor([1, 2, 3]), torch.tensor([0, 1, 2])
    out = guided_eps(net, y, w, null=5)(x, t)
    cond, uncond = fake_denoiser(x, t, y), fake_denoiser(x, t, torch.full_like(y, 5))
    assert torch.allclose(out, (1 + w) * cond - w * uncond, rtol=1e-5, atol=1e-5)
    assert calls == ([3] if w == 0 else [6])


def test_guidance_zero_is_the_conditional_prediction():
    x, t, y = torch.randn(3, 2), torch.tensor([1, 2, 3]), torch.tensor([0, 1, 2])
    assert torch.equal(guided_eps(fake_denoiser, y, 0.0, null=5)(x, t), fake_denoiser(x, t, y))


@pytest.mark.parametrize("name", ["ancestral", "ddim", "ddpm_langevin"])
def test_bundled_samplers_and_the_schedule_implement_their_protocols(name):
    """Catches a sampler or schedule missing a member its protocol declares (the registry would
    reject it at build time) or a sampler registered without provides=(DiffusionSampler,)."""
    assert isinstance(sampler(name), DiffusionSampler)
    assert isinstance(build_schedule("linear", num_steps=10), NoiseSchedule)
    assert sampler(name, steps=3).timesteps(build_schedule("linear", num_steps=10)) == [9, 4, 0]


@given(st.integers(1, 99), st.integers(-1, 98), st.floats(-2, 2), st.floats(-1, 1))
def test_ddim_step_is_a_pure_function_of_the_noise_prediction(t, s, value, c):
    """A DDIM eta = 0 step on a constant fake eps (no network) matches the closed form
    x_s = sqrt(abar_s) (x - sqrt(1 - abar_t) c) / sqrt(abar_t) + sqrt(1 - abar_s) c. Catches a
    stepping rule that reads anything but `eps` and the schedule (the denoiser, a hidden state),
    draws noise when eta = 0, or mixes up the indices t and s (s = -1: the clean sample)."""
    s = min(s, t - 1)
    sched = build_schedule("linear", num_steps=100)
    calls = []

    def eps(x, tt):
        calls.append(tt.tolist())
        return torch.full_like(x, c)

    x = torch.full((2, 3), value)
    g = torch.Generator().manual_seed(0)
    state = g.get_state()
    ddim = sampler("ddim", steps=None, eta=0.0, clip_denoised=False)
    out = ddim.step(eps, sched, x, t, s, g)
    abar = sched.alpha_bar(torch.tensor([t, s]))
    x0 = (value - (1 - abar[0]).sqrt() * c) / abar[0].sqrt()
    want = abar[1].sqrt() * x0 + (1 - abar[1]).sqrt() * c
    assert torch.allclose(out.double(), want.expand(2, 3), rtol=1e-4, atol=1e-4)
    assert calls == [[t, t]] and torch.equal(g.get_state(), state)
    assert torch.equal(ddim.step(eps, sched, x, t, s, g), out)  # the same inputs, the same step


def test_a_sampler_of_another_family_is_rejected_with_the_ones_that_fit():
    """Catches the DDPM model accepting the probability tools' `langevin` sampler (which fails
    only when it first samples) and an error that does not name the diffusion samplers."""
    with pytest.raises(RecipeError) as info:
        resolve_component("sampler", "langevin", accepts=DiffusionSampler)
    message = info.value.render()
    assert "DiffusionSampler" in message
    for name in ("ancestral", "ddim", "ddpm_langevin"):
        assert name in message


NEW_SAMPLERS = ["euler", "euler_ancestral", "heun", "dpmpp_2m"]


@pytest.mark.parametrize("name", NEW_SAMPLERS)
@pytest.mark.parametrize("karras", [False, True])
def test_sigma_space_samplers_with_the_true_noise_recover_x0(name, karras, gen):
    """With the exact noise prediction for data at one point x0, every solver lands on x0.
    Catches a sigma-space sampler that mis-scales x = x_t sqrt(1 + sigma^2) on the way in or
    out, a last step that does not reach sigma = 0, or Karras levels outside the schedule."""
    sched = build_schedule("linear", num_steps=100)
    x0 = torch.rand(3, 1, 3, 3) * 1.6 - 0.8

    def eps(x, t):  # exact at fractional steps too: alpha-bar interpolated as the samplers do
        from gentk_diffusion.schedules import alpha_bar_at

        abar = alpha_bar_at(sched, t).float().reshape(-1, 1, 1, 1)
        return (x - abar.sqrt() * x0) / (1 - abar).sqrt()

    steps = 7 if name != "heun" else 4
    out = sampler(name, steps=steps, karras=karras).sample(eps, sched, x0.shape, generator=gen)
    assert torch.allclose(out, x0, atol=1e-3)


@pytest.mark.parametrize("name", ["ancestral", "ddim", "ddpm_langevin", *NEW_SAMPLERS])
def test_every_sampler_is_registered_with_its_protocol(name):
    """Catches a new sampler registered without provides=(DiffusionSampler,) or missing a
    protocol member, and one whose step count disagrees with its steps option."""
    built = sampler(name, steps=6)
    assert isinstance(built, DiffusionSampler)
    assert len(built.timesteps(build_schedule("linear", num_steps=50))) == 6


def test_dpm_solver_uses_its_previous_prediction_only_within_one_trajectory(gen):
    """DPM-Solver++ 2M's second-order correction reads the prediction of the step before. Catches
    a multistep sampler that carries that memory from one `sample` call into the next (the
    second of two identical calls would then differ from the first)."""
    sched = build_schedule("linear", num_steps=100)
    dpm = sampler("dpmpp_2m", steps=8)
    eps = lambda x, t: 0.3 * torch.tanh(x) + 0.01 * t.reshape(-1, 1).float() / 100  # noqa: E731
    a = dpm.sample(eps, sched, (2, 3), generator=torch.Generator().manual_seed(1))
    b = dpm.sample(eps, sched, (2, 3), generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    first_order = sampler("euler", steps=8)  # not the same rule: the correction is in use
    assert not torch.allclose(a, first_order.sample(eps, sched, (2, 3), generator=torch.Generator().manual_seed(1)))


def test_dynamic_thresholding_rescales_only_images_beyond_the_range():
    """Catches thresholding that rescales an image already inside [-1, 1] (s must be at least 1)
    or that uses a quantile across the batch instead of per image."""
    from gentk_diffusion.samplers import threshold_x0

    x0 = torch.stack([torch.linspace(-0.5, 0.5, 16), torch.linspace(-4, 4, 16)]).reshape(2, 1, 4, 4)
    out = threshold_x0(x0, clip=False, ratio=0.9)
    assert torch.equal(out[0], x0[0])
    s = torch.quantile(x0[1].abs().flatten(), 0.9)
    assert torch.allclose(out[1], x0[1].clamp(-s, s) / s) and out[1].abs().max() <= 1


@given(st.sampled_from(["linspace", "leading", "trailing"]), st.integers(1, 60), st.integers(2, 300))
def test_spacings_are_descending_distinct_and_inside_the_schedule(spacing, steps, num_steps):
    """Catches a spacing that repeats an index, leaves [0, T-1], or visits the wrong number of steps."""
    from gentk_diffusion.samplers import spaced_timesteps

    seq = spaced_timesteps(num_steps, steps, spacing)
    assert len(seq) == min(steps, num_steps)
    assert all(a > b for a, b in zip(seq, seq[1:], strict=False))
    assert 0 <= seq[-1] and seq[0] <= num_steps - 1


def two_point_oracle(sched, error: float = 0.0):
    """The exact noise prediction for data at -1 and +1 with equal weight (per coordinate): its
    posterior mean x0_hat = tanh(sqrt(abar) x / (1 - abar)) changes along the ODE's path. Steps
    at fractional t take abar from the sigma the samplers interpolate there."""
    table = sampler("heun").table(sched)

    def eps(x, t):
        sigma = torch.tensor([interpolated_sigma(table, float(v)) for v in t], dtype=torch.float64)
        abar = (1 / (1 + sigma**2)).reshape(-1, *[1] * (x.dim() - 1))
        x0_hat = torch.tanh(abar.sqrt() * x.double() / (1 - abar))
        return ((1 + error) * (x.double() - abar.sqrt() * x0_hat) / (1 - abar).sqrt()).to(x.dtype)

    return eps


def test_heun_from_the_cosine_schedules_pure_noise_lands_on_the_data():
    """Catches Heun's trapezoid taken over the first step from sigma ~ 2e4 (the cosine schedule's
    start): averaging the slopes at both ends multiplies a network's error by sigma / 2 there. With
    a noise prediction 2 % off, Euler on that step (EDM's sigma_max = 80 rule) lands the samples
    near -1 or +1 in 8 levels; the trapezoid leaves them hundreds away."""
    sched = build_schedule("cosine", num_steps=1000)
    shape = (512, 1)
    out = sampler("heun", steps=8, clip_denoised=False).sample(
        two_point_oracle(sched, error=0.02), sched, shape, generator=torch.Generator().manual_seed(0)
    )
    assert float((out.abs() - 1).abs().mean()) < 0.5  # about 0.12 with the rule
    assert 0.4 < (out > 0).float().mean() < 0.6  # both points are reached
    trapezoid = sampler("heun", steps=8, clip_denoised=False, second_order_max_sigma=None).sample(
        two_point_oracle(sched, error=0.02), sched, shape, generator=torch.Generator().manual_seed(0)
    )
    assert float((trapezoid.abs() - 1).abs().mean()) > 50  # about 290: the failure this rule avoids
