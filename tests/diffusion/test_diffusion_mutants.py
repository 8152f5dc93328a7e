"""Pins of the diffusion mathematics that the closed-form tests elsewhere leave open: the loss
weights outside the paths the objective takes, the predictor-corrector sampler's Langevin
corrector (Song et al. 2021), the conditional and subsampled variational bound, and the float64
precision of the cosine schedule and of alpha-bar at fractional steps."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from gentk.interfaces import DataInfo, Split
from gentk.recipe import resolve_component
from gentk_diffusion.parameterization import loss_weight
from gentk_diffusion.schedules import alpha_bar_at
from gentk_diffusion.vlb import discretized_gaussian_log_likelihood, strata

from .diffusion_helpers import build_schedule
from .test_diffusion_math import (
    BETA_END,
    BETA_START,
    LEVELS,
    SHAPE,
    X0_HAT,
    FixedX0Denoiser,
    StandInDiffusionModel,
    T,
    alpha_bars,
    expected_bound,
)


# -- loss weights ------------------------------------------------------------------------------------
def test_uniform_weight_is_one_in_float64_and_an_unknown_weighting_names_the_choices():
    """Catches `loss_weight("uniform", ...)` failing or returning abar's float32 dtype (the objective
    short-circuits uniform, so only a direct caller sees it), and an unknown weighting rejected
    without naming the valid ones."""
    abar = torch.tensor([[0.9], [0.2]], dtype=torch.float32)
    for prediction in ("epsilon", "x0", "v"):
        w = loss_weight("uniform", prediction, abar, abar, num_steps=10, decoder_var=1e-3)
        assert w.dtype == torch.float64 and w.shape == abar.shape and torch.equal(w, torch.ones(2, 1).double())
    with pytest.raises(ValueError, match=r"unknown weighting 'snr'.*uniform, min_snr or vlb"):
        loss_weight("snr", "epsilon", abar, abar, num_steps=10, decoder_var=1e-3)


def test_min_snr_default_gamma_is_the_papers_five():
    """Catches a default gamma other than Hang et al. (2023)'s 5: SNR = abar / (1 - abar) = 9 and
    0.25/0.75 give x0-space weights min(9, 5) = 5 and 1/3."""
    abar = torch.tensor([0.9, 0.25], dtype=torch.float64)
    w = loss_weight("min_snr", "x0", abar, abar, num_steps=10, decoder_var=1e-3)
    assert torch.allclose(w, torch.tensor([5.0, 1 / 3], dtype=torch.float64), rtol=1e-12)


def test_vlb_weight_at_the_first_step_is_the_decoders_one_over_two_beta_tilde():
    """Catches the first step's weight (abar_prev = 1, where SNR(t-1) is infinite) written as
    T beta~_2 / 2 or T / beta~_2 instead of the Gaussian decoder's T / (2 beta~_2) in x0 units
    (-log N(x0; x0_hat, beta~_2) = ||x0 - x0_hat||^2 / (2 beta~_2) + const), and its conversion to
    the epsilon (/ SNR) and v (/ (SNR + 1)) spaces."""
    abar = torch.tensor([0.999, 0.99], dtype=torch.float64)
    ones = torch.ones(2, dtype=torch.float64)
    num_steps, var = 50, 2e-3
    in_x0 = num_steps / (2 * var)  # 12500
    snr = abar / (1 - abar)
    for prediction, scale in (("x0", 1.0), ("epsilon", 1 / snr), ("v", 1 / (snr + 1))):
        w = loss_weight("vlb", prediction, abar, ones, num_steps=num_steps, decoder_var=var)
        assert torch.allclose(w, in_x0 * scale * ones, rtol=1e-12), (prediction, w)


# -- schedules in float64 ----------------------------------------------------------------------------
def test_cosine_schedules_first_step_keeps_float64_digits():
    """Catches the cosine schedule's step grid t/T built in float32: 1 - abar_1 ~ 4e-5 then has
    a relative error ~1e-3 (the cancellation in 1 - f(1)/f(0)); the closed form is Nichol &
    Dhariwal's abar_t = f(t)/f(0), f(t) = cos^2(((t/T + s)/(1 + s)) pi/2), in float64."""
    num_steps, s = 1000, 0.008
    sched = build_schedule("cosine", num_steps=num_steps, offset=s)

    def f(t):
        return math.cos((t / num_steps + s) / (1 + s) * math.pi / 2) ** 2

    got = sched.alpha_bar(torch.tensor([0, 1, 499]))
    want = [f(1) / f(0), f(2) / f(0), f(500) / f(0)]
    for g, w in zip(got.tolist(), want, strict=True):
        assert math.isclose(1 - g, 1 - w, rel_tol=1e-9), (g, w)


def test_alpha_bar_at_a_fractional_step_is_float64_from_the_interpolated_sigma():
    """Catches alpha-bar at fractional steps (Euler's linspace spacing, Karras levels) computed in
    float32: near t = 0, 1 - abar ~ 1e-4 then loses three of its digits in every conversion to
    eps. The value is 1 / (1 + sigma^2), sigma linearly interpolated between the float64 sigmas
    sqrt((1 - abar) / abar) of the neighbouring integer steps."""
    sched = build_schedule("linear", num_steps=T, beta_start=BETA_START, beta_end=BETA_END)
    _, abar = alpha_bars()
    sigma = np.sqrt((1 - abar) / abar)
    t = torch.tensor([0.25, 6.5], dtype=torch.float32)
    got = alpha_bar_at(sched, t)
    assert got.dtype == torch.float64
    for g, (low, w) in zip(got.tolist(), [(0, 0.25), (6, 0.5)], strict=True):
        sig = (1 - w) * sigma[low] + w * sigma[low + 1]
        assert math.isclose(1 - g, sig**2 / (1 + sig**2), rel_tol=1e-9), (g, sig)


# -- the predictor-corrector sampler -------------------------------------------------------------------
X_PC = torch.tensor([[0.7, -0.4, 1.9, -1.3, 0.2, 0.05], [-2.5, 0.3, 0.8, 2.2, -0.6, 1.4]])


def pc_eps(x, t):
    """A stand-in noise prediction that depends on x and on the step (so the corrector's score does)."""
    return 0.4 * x + 0.1 * (t.float() + 1).reshape(-1, 1)


def pc_step(t, s, seed=7, **options):
    sched = build_schedule("linear", num_steps=T, beta_start=BETA_START, beta_end=BETA_END)
    sampler = resolve_component("sampler", {"use": "ddpm_langevin", "steps": None, **options}).build()
    return sampler.step(pc_eps, sched, X_PC.clone(), t, s, torch.Generator().manual_seed(seed)).double()


def ddim_predictor(t, s, x0_of=lambda x0: x0):
    """x_s of the deterministic DDIM step in float64 (Song et al. 2021, eq. 12 with sigma = 0),
    x0_hat passed through `x0_of` and eps made consistent with it."""
    _, abar = alpha_bars()
    a_t, a_s = abar[t], abar[s]
    x = X_PC.double().numpy()
    e = 0.4 * x + 0.1 * (t + 1)
    x0 = x0_of((x - math.sqrt(1 - a_t) * e) / math.sqrt(a_t))
    e = (x - math.sqrt(a_t) * x0) / math.sqrt(1 - a_t)
    return math.sqrt(a_s) * x0 + math.sqrt(1 - a_s) * e


@pytest.mark.parametrize("t,s", [(9, 5), (1, 0)])
def test_predictor_corrector_applies_langevin_updates_with_the_snr_step_size(t, s):
    """Catches a corrector whose Langevin update differs from Song et al. (2021, alg. 5): the score
    is -eps(x_s, s) / sqrt(1 - abar_s) (a sign or a wrong noise level), the step size is
    a = 2 (r ||z|| / ||score||)^2 with per-image norms (not norms over the whole batch), and the
    update is x + a score + sqrt(2 a) z; also a corrector skipped at the last noisy level s = 0,
    and a stochastic predictor (DDIM with eta > 0). The reference is float64 with the same z."""
    r, n_corr = 0.16, 2
    _, abar = alpha_bars()
    a_s = abar[s]
    x = ddim_predictor(t, s)
    gen = torch.Generator().manual_seed(7)
    for _ in range(n_corr):
        z = torch.randn(X_PC.shape, generator=gen).double().numpy()
        score = -(0.4 * x + 0.1 * (s + 1)) / math.sqrt(1 - a_s)
        a = 2 * (r * np.linalg.norm(z, axis=1, keepdims=True) / np.linalg.norm(score, axis=1, keepdims=True)) ** 2
        x = x + a * score + np.sqrt(2 * a) * z
    got = pc_step(t, s, corrector_steps=n_corr, snr=r, clip_denoised=False).numpy()
    assert np.allclose(got, x, rtol=1e-5, atol=1e-5), (got, x)
    assert not np.allclose(got, ddim_predictor(t, s), atol=1e-3)  # the corrector moved x


def test_predictor_corrector_clips_or_thresholds_its_predictor_as_configured():
    """Catches the predictor-corrector sampler ignoring `clip_denoised` or `dynamic_threshold`
    (its x0_hat here reaches |x0| ~ 3). Without corrector steps the step is the deterministic DDIM
    step on the clipped (or thresholded, Saharia et al. 2022) x0_hat, eps made consistent with it."""
    t, s = 9, 5

    def threshold(x0):
        q = np.quantile(np.abs(x0), 0.7, axis=1, keepdims=True)
        q = np.maximum(q, 1.0)
        return np.clip(x0, -q, q) / q

    cases = [
        ({"clip_denoised": False}, lambda x0: x0),
        ({"clip_denoised": True}, lambda x0: np.clip(x0, -1, 1)),
        ({"clip_denoised": False, "dynamic_threshold": 0.7}, threshold),
    ]
    outs = []
    for options, x0_of in cases:
        got = pc_step(t, s, corrector_steps=0, **options).numpy()
        want = ddim_predictor(t, s, x0_of)
        assert np.allclose(got, want, rtol=1e-5, atol=1e-5), (options, got, want)
        outs.append(want)
    assert not np.allclose(outs[0], outs[1], atol=1e-2) and not np.allclose(outs[0], outs[2], atol=1e-2)


# -- the variational bound -----------------------------------------------------------------------------
class LabelledX0Denoiser(nn.Module):
    """Predicts X0_HAT for examples labelled `label` and -X0_HAT for any other label or no label."""

    def __init__(self, prediction: str, label: int):
        super().__init__()
        self.label = label
        self.right, self.wrong = FixedX0Denoiser(X0_HAT, prediction), FixedX0Denoiser(-X0_HAT, prediction)

    def forward(self, x, t, y=None):
        if y is None:
            return self.wrong(x, t)
        keep = (y == self.label).reshape(-1, *[1] * (x.dim() - 1))
        return torch.where(keep, self.right(x, t), self.wrong(x, t))


def vlb_metric(**options):
    return resolve_component("metric", {"use": "vlb", "n_examples": len(LEVELS), "batch_size": 2, **options}).build()


@pytest.mark.parametrize("prediction", ["epsilon", "v"])
def test_conditional_bound_passes_the_true_labels_to_every_term(prediction):
    """Catches a conditional bound (conditional = true) that scores some term without the labels:
    the diffusion terms (L_{t-1}) or the decoder (L_0) computed by the unconditional model. The
    stand-in network predicts the closed-form case's x0_hat only when it is given the label."""
    model = StandInDiffusionModel(LabelledX0Denoiser(prediction, label=2), prediction)
    model.num_classes = 3
    data = Split(LEVELS, torch.full((len(LEVELS),), 2, dtype=torch.long))
    got = vlb_metric(variance="beta", conditional=True).evaluate(
        model, data, DataInfo(SHAPE, num_classes=3), generator=torch.Generator().manual_seed(0)
    )
    want = expected_bound("beta")
    for key in ("bpd", "diffusion_bpd", "decoder_bpd"):
        assert math.isclose(got[key], want[key], rel_tol=2e-5), (key, got[key], want[key])


class CountingEpsDenoiser(nn.Module):
    """Predicts eps = 0.5 x_t (so the bound depends on the forward noise) and counts its calls."""

    def __init__(self):
        super().__init__()
        self.calls: list[torch.Tensor] = []

    def forward(self, x, t, y=None):
        self.calls.append(t.clone())
        return 0.5 * x


def test_subsampled_bound_evaluates_k_strata_per_batch_and_is_reproducible_from_its_generator():
    """Catches `timesteps` = K ignored (all T - 1 diffusion terms evaluated: K + 1 = 5 network calls
    per batch expected, not T = 20), and a bound whose step draws or forward noise come from
    torch's global generator instead of the one passed in (two evaluations with the same
    generator seed would then differ)."""
    results, calls = [], []
    for global_seed, seed in ((1, 5), (2, 5), (1, 6)):
        net = CountingEpsDenoiser()
        model = StandInDiffusionModel(net, "epsilon")
        torch.manual_seed(global_seed)
        results.append(
            vlb_metric(timesteps=4).evaluate(
                model, Split(LEVELS), DataInfo(SHAPE), generator=torch.Generator().manual_seed(seed)
            )
        )
        calls.append(net.calls)
    assert len(calls[0]) == 2 * (4 + 1)  # two batches (2 + 1 images), four strata and the decoder
    assert results[0] == results[1]
    assert results[0]["diffusion_bpd"] != results[2]["diffusion_bpd"]  # the generator does matter


def test_strata_draw_one_step_per_stratum_from_the_given_generator():
    """Catches strata that ignore K (one draw per term instead of one per stratum), steps outside
    their stratum, weights that are not the strata's sizes (the estimate would be biased), and
    draws from torch's global generator: the same generator seed must give the same steps."""
    torch.manual_seed(0)
    t1, w1 = strata(19, 4, 6, torch.Generator().manual_seed(3))
    torch.manual_seed(1)
    t2, w2 = strata(19, 4, 6, torch.Generator().manual_seed(3))
    assert t1.shape == (4, 6) and w1.shape == (4, 1)
    assert torch.equal(t1, t2) and torch.equal(w1, w2)
    edges = [1 + (i * 19) // 4 for i in range(5)]  # 1, 5, 10, 15, 20: strata of 4, 5, 5, 5 steps
    assert w1.flatten().tolist() == [b - a for a, b in zip(edges, edges[1:], strict=False)]
    for k in range(4):
        assert ((t1[k] >= edges[k]) & (t1[k] < edges[k + 1])).all(), (k, t1[k])
    assert strata(19, None, 2, torch.Generator().manual_seed(0))[0].shape == (19, 2)


def test_discretised_decoder_returns_its_inputs_promoted_dtype():
    """Catches the decoder's log-likelihood handed back in its internal float64 whatever the inputs
    (the bound's per-pixel tensors doubling in size and silently promoting what they meet): float32
    inputs give float32, a float64 mean gives float64."""
    x, mean, log_var = torch.tensor([0.1, -1.0]), torch.tensor([0.0, -0.98]), torch.tensor([-6.0, -7.0])
    assert discretized_gaussian_log_likelihood(x, mean, log_var).dtype == torch.float32
    assert discretized_gaussian_log_likelihood(x, mean.double(), log_var).dtype == torch.float64


# -- the objective ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("prediction", ["epsilon", "x0", "v"])
@pytest.mark.parametrize("weighting", ["uniform", "min_snr", "vlb"])
def test_objective_is_the_weighted_squared_error_of_its_target(prediction, weighting):
    """Catches a loss whose target (eps, x0 or v = sqrt(abar) eps - sqrt(1 - abar) x0, Salimans & Ho
    2022) or weight is not the documented one: min(SNR, gamma) with the configured gamma (Hang et
    al. 2023), T (SNR(t-1) - SNR(t)) / 2 with the previous step's alpha-bar, and T / (2 beta~_2)
    at the first step (Ho et al. 2020), each converted to the parameterization's space, or
    x_t not the forward process's sample. Recomputed in float64 from the same t and noise."""
    num, gamma = 64, 2.0
    betas, abar = alpha_bars()
    objective = resolve_component(
        "objective", {"use": "ddpm", "prediction": prediction, "weighting": weighting, "snr_gamma": gamma}
    ).build()
    sched = build_schedule("linear", num_steps=T, beta_start=BETA_START, beta_end=BETA_END)
    x0 = torch.linspace(-0.9, 0.9, num * 4).reshape(num, 1, 2, 2)

    def net(x, t, y=None):
        return 0.3 * x + 0.01 * t.float().reshape(-1, 1, 1, 1)

    torch.manual_seed(11)
    loss = objective(net, sched, x0)
    torch.manual_seed(11)
    t = torch.randint(0, T, (num,)).numpy()
    eps = torch.randn(x0.shape).double().numpy()
    assert (t == 0).any() and (t > 0).any()  # the first step's weight is exercised
    a = abar[t].reshape(-1, 1, 1, 1)
    a_prev = np.where(t > 0, abar[np.maximum(t - 1, 0)], 1.0).reshape(-1, 1, 1, 1)
    x = x0.double().numpy()
    pred = 0.3 * (np.sqrt(a) * x + np.sqrt(1 - a) * eps) + 0.01 * t.reshape(-1, 1, 1, 1)
    want = {"epsilon": eps, "x0": x, "v": np.sqrt(a) * eps - np.sqrt(1 - a) * x}[prediction]
    snr = a / (1 - a)
    if weighting == "uniform":
        w = np.ones_like(a)
    else:
        if weighting == "min_snr":
            in_x0 = np.minimum(snr, gamma)
        else:
            decoder_var = betas[1] * (1 - abar[0]) / (1 - abar[1])
            with np.errstate(divide="ignore"):
                step = T / 2 * (a_prev / (1 - a_prev) - snr)
            in_x0 = np.where(a_prev >= 1, T / (2 * decoder_var), step)
        w = in_x0 * {"epsilon": 1 / snr, "x0": 1.0, "v": 1 / (snr + 1)}[prediction]
    expected = float((w * (pred - want) ** 2).mean())
    assert math.isclose(loss.item(), expected, rel_tol=2e-5), (loss.item(), expected)


def test_v_target_keeps_the_data_dtype_and_an_unknown_prediction_names_the_choices():
    """Catches the v target left in float64 (the coefficients not cast to x0's dtype: a float32 model then
    trains against float64 targets and mixed-precision losses upcast), and an unknown prediction failing
    with a TypeError or a message that does not list the choices."""
    from gentk_diffusion.parameterization import target

    x0, eps = torch.rand(3, 1, 2, 2), torch.randn(3, 1, 2, 2)
    abar = torch.tensor([0.9, 0.5, 0.1], dtype=torch.float64).view(3, 1, 1, 1)
    v = target("v", x0, eps, abar)
    assert v.dtype == torch.float32
    assert torch.allclose(v, (abar.sqrt() * eps - (1 - abar).sqrt() * x0).float())
    with pytest.raises(ValueError, match=r"^unknown prediction 'z': one of epsilon, x0, v$"):
        target("z", x0, eps, abar)
