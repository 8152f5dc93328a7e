"""Epsilon / x0 / v parameterizations, the loss weightings, and the guardrails around them."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from gentk.config import ConfigError
from gentk.errors import GentkError, RecipeError
from gentk_diffusion.parameterization import PREDICTIONS, loss_weight, snr, target, to_eps, to_x0
from gentk_diffusion.vlb import discretized_gaussian_log_likelihood

from .diffusion_helpers import build_model, build_schedule


@given(st.sampled_from(PREDICTIONS), st.floats(1e-4, 1 - 1e-4))
def test_conversions_invert_the_targets(prediction, abar):
    """The target of each parameterization converts back to the x0 and eps that made x_t.
    Catches a sign or a swapped coefficient in v = sqrt(abar) eps - sqrt(1 - abar) x0 or in its
    inverses (Salimans & Ho 2022, appendix D)."""
    torch.manual_seed(0)
    x0, eps = torch.rand(2, 5) * 2 - 1, torch.randn(2, 5)
    a = torch.tensor(abar, dtype=torch.float64)
    xt = (a.sqrt() * x0.double() + (1 - a).sqrt() * eps.double()).float()
    out = target(prediction, x0, eps, a)
    tol = 1e-4 / math.sqrt(abar)
    assert torch.allclose(to_eps(prediction, out, xt, a), eps, atol=1e-4 / math.sqrt(1 - abar))
    assert torch.allclose(to_x0(prediction, out, xt, a), x0, atol=tol)


def test_min_snr_weights_are_min_snr_gamma_in_x0_units():
    """Catches min-SNR weights not converted to the parameterization's space: min(SNR, g)/SNR for
    epsilon, min(SNR, g)/(SNR + 1) for v, min(SNR, g) for x0 (Hang et al. 2023)."""
    abar = torch.tensor([0.999, 0.9, 0.5, 0.01], dtype=torch.float64)
    r = snr(abar)
    common = {"num_steps": 1000, "decoder_var": 1e-4, "gamma": 5.0}
    assert torch.allclose(loss_weight("min_snr", "epsilon", abar, abar, **common), r.clamp(max=5) / r)
    assert torch.allclose(loss_weight("min_snr", "v", abar, abar, **common), r.clamp(max=5) / (r + 1))
    assert torch.allclose(loss_weight("min_snr", "x0", abar, abar, **common), r.clamp(max=5))


def test_vlb_weighting_makes_the_loss_the_bound():
    """With the vlb weighting, T times the weighted epsilon error at step t is the bound's term
    L_{t-1} = ||mu~ - mu_theta||^2 / (2 beta~_t) per dimension (Ho et al. eq. 5 with sigma^2 =
    beta~). Catches a weight off by the step's coefficient or by the factor T."""
    sched = build_schedule("linear", num_steps=50)
    t = torch.tensor([10, 30, 49])
    x0, eps, eps_hat = torch.zeros(3, 4), torch.randn(3, 4), torch.randn(3, 4)
    xt = sched.q_sample(x0, t, eps)
    abar, prev = sched.alpha_bar(t), sched.alpha_bar(t - 1)
    w = loss_weight("vlb", "epsilon", abar, prev, num_steps=50, decoder_var=float(sched.posterior_variance[1]))
    mean_q, var = sched.posterior(x0, xt, t)
    mean_p, _ = sched.posterior(sched.predict_x0(xt, t, eps_hat), xt, t)
    kl = ((mean_q - mean_p) ** 2).double().sum(1) / (2 * var[:, 0].double())
    mine = w * ((eps - eps_hat) ** 2).double().sum(1) / 50
    assert torch.allclose(mine, kl, rtol=1e-3)


@pytest.mark.parametrize("prediction", PREDICTIONS)
@pytest.mark.parametrize("weighting", ["uniform", "min_snr", "vlb"])
def test_every_parameterization_and_weighting_trains_and_samples(prediction, weighting, gen):
    """Catches an objective whose loss is not finite for some combination, a model that does not
    pass its parameterization to the samplers (x0 or v would be read as eps), and a sampler that
    does not fit one: every sampler draws finite images from every parameterization."""
    model = build_model(objective={"use": "ddpm", "prediction": prediction, "weighting": weighting})
    assert model.prediction == prediction
    torch.manual_seed(0)
    loss = model.objective(model.denoiser, model.schedule, torch.rand(4, 1, 8, 8) * 2 - 1)
    assert math.isfinite(loss.item()) and loss.item() > 0
    for name in ("ancestral", "ddim", "ddpm_langevin", "euler", "euler_ancestral", "heun", "dpmpp_2m"):
        images = model.sample(2, generator=gen, sampler=name, steps=3)
        assert torch.isfinite(images).all()


def test_the_models_prediction_function_converts_to_eps(gen):
    """An x0-predicting denoiser that outputs a constant c must reach the samplers as the eps that
    c implies. Catches guidance or conversion applied in the wrong order or with the wrong
    alpha-bar, at integer and at fractional steps."""
    model = build_model(objective={"use": "ddpm", "prediction": "x0"})
    model.cfg = model.cfg  # unchanged; the net is replaced below
    model._denoise_in_run_precision = lambda: lambda x, t, y=None: torch.full_like(x, 0.25)  # type: ignore[method-assign]
    eps = model._guided_eps(None, 0.0)
    x = torch.randn(2, 1, 8, 8)
    for t in (torch.tensor([7, 7]), torch.tensor([7.0, 7.0])):
        abar = model.schedule.alpha_bar(torch.tensor([7])).double()
        want = (x - abar.sqrt() * 0.25) / (1 - abar).sqrt()
        assert torch.allclose(eps(x, t), want.float(), atol=1e-5)


def test_guidance_on_a_model_trained_without_label_dropout_is_refused_before_sampling(gen):
    """`gentk sample --guidance W` on a conditional run whose objective had p_uncond = 0 (the
    recipe's guidance = 0 passed `gentk check`). Catches sampling silently with an
    unconditional branch that was never trained."""
    model = build_model(num_classes=3, objective={"use": "ddpm", "p_uncond": 0.0})
    calls = []
    model._denoise_in_run_precision = lambda: lambda x, t, y=None: calls.append(1) or x  # type: ignore[method-assign]
    with pytest.raises(GentkError, match="label dropout") as info:
        model.sample(3, generator=gen, guidance=2.0)
    assert "p_uncond" in info.value.render() and calls == []
    assert model.sample(3, generator=gen).shape == (3, 1, 8, 8)  # no guidance: fine


@pytest.mark.parametrize("name", ["ancestral", "ddim", "ddpm_langevin", "euler", "euler_ancestral", "heun", "dpmpp_2m"])
def test_more_steps_than_the_schedule_has_is_refused_for_every_sampler(name, gen):
    """In the recipe (`gentk check`) and at sampling time. Catches a new sampler left out of the
    steps check (it would crash or repeat steps), and DPM-Solver++'s spacing, which needs N + 1
    distinct indices, allowed T steps."""
    most = 19 if name == "dpmpp_2m" else 20
    with pytest.raises((ConfigError, RecipeError)) as info:
        build_model(sampler={"use": name, "steps": most + 1})
    assert f"{most + 1} sampler steps exceed" in info.value.render()
    model = build_model(sampler={"use": name, "steps": most})
    with pytest.raises(GentkError, match="steps"):
        model.sample(2, generator=gen, sampler=name, steps=most + 1)
    assert model.sample(1, generator=gen, sampler=name, steps=2).shape == (1, 1, 8, 8)


def _log_bin_reference(x: float, mean: float, std: float) -> float:
    """log P of a pixel's bin under N(mean, std^2) with Python's float64 erfc on the tail side."""
    bin_ = 1 / 255
    lo, hi = (x - mean - bin_) / std, (x - mean + bin_) / std
    if x < -0.999:
        return math.log(0.5 * math.erfc(-hi / math.sqrt(2)))
    if x > 0.999:
        return math.log(0.5 * math.erfc(lo / math.sqrt(2)))
    if lo > 0:  # upper tail: Q(lo) - Q(hi)
        return math.log(0.5 * (math.erfc(lo / math.sqrt(2)) - math.erfc(hi / math.sqrt(2))))
    return math.log(0.5 * (math.erfc(-hi / math.sqrt(2)) - math.erfc(-lo / math.sqrt(2))))


@pytest.mark.parametrize(
    "x,mean,std",
    [(0.5, 0.0, 0.05), (-0.6, 0.2, 0.07), (0.3, 0.29, 1e-3), (1.0, -0.5, 0.2), (-0.2, -0.2, 0.01), (0.7, 0.1, 0.3)],
)
def test_discretised_decoder_is_accurate_in_the_tails(x, mean, std):
    """log P of a bin far from the mean (log P down to about -400) in float32 inputs agrees with a
    float64 erfc reference to 1e-4 relative. Catches the float32 difference of CDFs clamped at
    1e-12, which was off by nats where log P < -12 (the bin's two CDFs round to the same number)."""
    got = discretized_gaussian_log_likelihood(
        torch.tensor([x]), torch.tensor([mean]), torch.tensor([2 * math.log(std)])
    ).item()
    want = _log_bin_reference(x, mean, std)
    assert math.isclose(got, want, rel_tol=1e-4, abs_tol=1e-5), (got, want)
