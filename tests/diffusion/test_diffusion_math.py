"""The diffusion mathematics pinned to independent float64 values: the variational bound's prior,
diffusion and decoder terms and their bits/dim, the noise of one ancestral and one DDIM step,
and the rate at which the objective drops labels for classifier-free guidance."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from gentk.families.diffusion import DiffusionModel
from gentk.interfaces import DataInfo, Split
from gentk.recipe import resolve_component
from gentk_diffusion.parameterization import target
from gentk_diffusion.vlb import discretized_gaussian_log_likelihood

from .diffusion_helpers import build_schedule

T, BETA_START, BETA_END = 20, 1e-4, 0.3  # a short chain whose prior, posterior and decoder terms are all O(1)


def alpha_bars(num_steps: int = T, beta_start: float = BETA_START, beta_end: float = BETA_END):
    """(betas, alpha-bars) in float64 at indices 0..T-1, from the linear schedule's definition."""
    betas = np.linspace(beta_start, beta_end, num_steps, dtype=np.float64)
    return betas, np.cumprod(1.0 - betas)


def log_bin_probability(x: float, mean: float, std: float) -> float:
    """log P of the pixel level x in [-1, 1] (one of 256) under N(mean, std^2) in float64, from
    the normal CDF: the bin [x - 1/255, x + 1/255], open below at x = -1 and above at x = 1.
    Each probability is taken on the side of the mean where it is a difference of small tails."""
    half = 1.0 / 255.0
    lo, hi = (x - half - mean) / std, (x + half - mean) / std

    def lower_tail(z):  # P(Z < z)
        return 0.5 * math.erfc(-z / math.sqrt(2.0))

    def upper_tail(z):  # P(Z > z)
        return 0.5 * math.erfc(z / math.sqrt(2.0))

    if x == -1.0:
        return math.log(lower_tail(hi))
    if x == 1.0:
        return math.log(upper_tail(lo))
    if lo > 0:
        return math.log(upper_tail(lo) - upper_tail(hi))
    if hi < 0:
        return math.log(lower_tail(hi) - lower_tail(lo))
    return math.log(0.5 * (math.erf(hi / math.sqrt(2.0)) - math.erf(lo / math.sqrt(2.0))))


def gaussian_kl_per_dim(mean_q, var_q, mean_p, var_p):
    """KL(N(mean_q, var_q) || N(mean_p, var_p)) elementwise, float64."""
    return 0.5 * (np.log(var_p / var_q) + (var_q + (mean_q - mean_p) ** 2) / var_p - 1.0)


# -- the variational bound -------------------------------------------------------------------------
class FixedX0Denoiser(nn.Module):
    """Predicts the clean image `x0_hat` whatever x_t is, written in the output space of
    `prediction` (eps, x0 or v); so the model's reverse mean is the posterior mean at x0_hat."""

    def __init__(self, x0_hat: torch.Tensor, prediction: str, num_steps: int = T):
        super().__init__()
        self.x0_hat = x0_hat.double()
        self.prediction = prediction
        _, abar = alpha_bars(num_steps)
        self.abar = torch.from_numpy(abar)

    def forward(self, x, t, y=None):
        abar = self.abar[t].reshape(-1, *[1] * (x.dim() - 1))
        x0 = self.x0_hat.expand_as(x)
        eps = (x.double() - abar.sqrt() * x0) / (1 - abar).sqrt()
        return target(self.prediction, x0, eps, abar).float()


class StandInDiffusionModel:
    """Just what the `vlb` metric reads of a diffusion model."""

    def __init__(self, denoiser: nn.Module, prediction: str):
        self.schedule = build_schedule("linear", num_steps=T, beta_start=BETA_START, beta_end=BETA_END)
        self.num_classes = 0
        self.prediction = prediction
        self.device = torch.device("cpu")
        self.denoiser = denoiser

    def eval_denoiser(self):
        return self.denoiser.eval()


SHAPE = (2, 2, 2)  # C, H, W: D = 8 dimensions
# pixel levels 0..255 of three images; 0 and 255 are the open-ended edge bins
LEVELS = torch.tensor(
    [
        [[[0, 255], [128, 3]], [[40, 200], [90, 250]]],
        [[[1, 254], [127, 17]], [[50, 190], [100, 255]]],
        [[[0, 255], [130, 12]], [[48, 198], [89, 246]]],
    ],
    dtype=torch.uint8,
)
# the predicted clean image: close to some pixels (a likely decoder bin), several decoder standard
# deviations from others (log P of tens of nats), and near the edges of the range
X0_HAT = torch.tensor([[[-0.99, 0.995], [0.004, -0.9]], [[-0.62, 0.55], [-0.3, 0.93]]], dtype=torch.float64)


def expected_bound(variance: str) -> dict[str, float]:
    """The bound's terms per image in nats from the closed forms in float64, and the metric's
    outputs in bits/dim, for the images LEVELS and a model that always predicts X0_HAT."""
    betas, abar = alpha_bars()
    x0 = LEVELS.double().numpy() / 255.0 * 2 - 1  # (N, C, H, W)
    m = X0_HAT.numpy()
    n, d = x0.shape[0], x0[0].size

    # L_T = KL(q(x_T | x_0) || N(0, I)), q(x_T | x_0) = N(sqrt(abar_T) x0, 1 - abar_T)
    prior = gaussian_kl_per_dim(math.sqrt(abar[-1]) * x0, 1 - abar[-1], 0.0, 1.0).reshape(n, -1).sum(1)

    # L_{t-1} = KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t)), t = 2..T (indices 1..T-1): the means
    # differ by the posterior's x0 coefficient times (x0 - x0_hat), whatever x_t is
    middle = np.zeros(n)
    for i in range(1, T):
        var_q = betas[i] * (1 - abar[i - 1]) / (1 - abar[i])
        coef_x0 = math.sqrt(abar[i - 1]) * betas[i] / (1 - abar[i])
        var_p = betas[i] if variance == "beta" else var_q
        middle += gaussian_kl_per_dim(coef_x0 * x0, var_q, coef_x0 * m, var_p).reshape(n, -1).sum(1)

    # L_0 = -log p(x_0 | x_1): the decoder N(x0_hat, beta~ of step 2), discretised to 256 levels
    std = math.sqrt(betas[1] * (1 - abar[0]) / (1 - abar[1]))
    decoder = np.array(
        [
            -sum(log_bin_probability(float(v), float(mu), std) for v, mu in zip(img.ravel(), m.ravel(), strict=True))
            for img in x0
        ]
    )
    nats = np.stack([prior, middle, decoder], axis=1)  # (N, 3)
    bits = nats / (d * math.log(2))
    total = bits.sum(1)
    return {
        "bpd": total.mean(),
        "bpd_stderr": total.std(ddof=1) / math.sqrt(n),
        "prior_bpd": bits[:, 0].mean(),
        "diffusion_bpd": bits[:, 1].mean(),
        "decoder_bpd": bits[:, 2].mean(),
    }


@pytest.mark.parametrize("variance", ["beta", "beta_tilde"])
@pytest.mark.parametrize("prediction", ["x0", "epsilon", "v"])
def test_vlb_terms_match_the_closed_forms_in_bits_per_dim(prediction, variance):
    """Catches the diffusion terms computed as KL(p||q) instead of KL(q||p) (they differ where the
    reverse variance is beta, not the posterior's beta~), the bound reported in nats instead of
    bits (or divided by the wrong number of dimensions), a decoder of the wrong scale (beta_1 or
    beta instead of beta~_2, or a variance read as a log-variance), a prior term other than
    KL(q(x_T|x_0) || N(0, I)), and a wrong conversion of the network's output to x0.

    A stand-in network that always predicts the same clean image makes every term independent of
    the forward noise, so the exact bound (all T - 1 diffusion terms) is a closed form."""
    model = StandInDiffusionModel(FixedX0Denoiser(X0_HAT, prediction), prediction)
    assert isinstance(model, DiffusionModel)
    metric = resolve_component(
        "metric", {"use": "vlb", "n_examples": len(LEVELS), "variance": variance, "batch_size": 2}
    ).build()
    got = metric.evaluate(model, Split(LEVELS), DataInfo(SHAPE), generator=torch.Generator().manual_seed(0))
    want = expected_bound(variance)
    assert want["prior_bpd"] > 1e-3 and want["decoder_bpd"] > 1 and want["diffusion_bpd"] > 1  # each term matters
    for key, value in want.items():
        assert math.isclose(got[key], value, rel_tol=2e-5), (key, got[key], value)


@pytest.mark.parametrize(
    "x,mean,std",
    [
        (-1.0, -0.99, 0.01),  # the open lowest bin, mean inside the range
        (-1.0, -1.02, 0.01),  # the open lowest bin, mean below the range: most of the mass
        (1.0, 0.995, 0.01),  # the open highest bin
        (1.0, 0.9, 0.02),  # the open highest bin, five standard deviations away
        (2 * 128 / 255 - 1, 0.004, 0.01),  # a bin next to the mean
        (2 * 40 / 255 - 1, -0.3, 0.02),  # a low-probability bin above the mean (log P ~ -185)
        (2 * 200 / 255 - 1, 0.9, 0.05),  # a low-probability bin below the mean
    ],
)
def test_discretised_decoder_bins_match_the_normal_cdf(x, mean, std):
    """Catches a decoder whose edge bins at -1 and 1 are not open-ended (they must take all the mass
    below -1 + 1/255 or above 1 - 1/255), bins of the wrong width (a half-width of 2/255 instead of
    1/255), or a standard deviation taken as exp(log_var) instead of
    exp(log_var / 2)."""
    got = discretized_gaussian_log_likelihood(
        torch.tensor([x], dtype=torch.float64),
        torch.tensor([mean], dtype=torch.float64),
        torch.tensor([2 * math.log(std)], dtype=torch.float64),
    ).item()
    want = log_bin_probability(x, mean, std)
    assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12), (got, want)


# -- one stochastic reverse step ---------------------------------------------------------------------
# N draws of each of D coordinates. The sample standard deviation of M = N D independent normal
# draws (pooled around each coordinate's sample mean) has relative standard error
# 1/sqrt(2 (M - D)) ~ 0.0025 for M = 80000; the tolerance is 4 standard errors (1.0%), so a
# standard deviation off by a factor 1.1 (10%, about 40 standard errors) cannot pass while the
# correct one fails with probability ~6e-5 (and not at all with the fixed seed). Each coordinate's
# sample mean has standard error sigma / sqrt(N); its tolerance is 4.5 standard errors (a
# Bonferroni bound over D coordinates keeps the false-alarm rate near 3e-5).
N_DRAWS, X_T, EPS_HAT = 20000, [0.7, -0.4, 0.1, -1.3], [0.3, -1.2, 0.8, 0.0]


def draws_of_one_step(sampler_cfg: dict, t: int, s: int) -> torch.Tensor:
    """N_DRAWS draws of x_s from one step of the sampler at index t, all from the same x_t and the
    same stand-in noise prediction EPS_HAT."""
    sched = build_schedule("linear", num_steps=T, beta_start=BETA_START, beta_end=BETA_END)
    sampler = resolve_component("sampler", {"clip_denoised": False, **sampler_cfg}).build()
    x = torch.tensor(X_T).expand(N_DRAWS, -1).contiguous()
    eps = torch.tensor(EPS_HAT)
    out = sampler.step(lambda xt, tt: eps.expand_as(xt), sched, x, t, s, torch.Generator().manual_seed(1234))
    return out.double()


def check_mean_and_std(out: torch.Tensor, mean: np.ndarray, std: float) -> None:
    got_mean = out.mean(0).numpy()
    assert np.all(np.abs(got_mean - mean) < 4.5 * std / math.sqrt(N_DRAWS)), (got_mean, mean)
    m = out.numel()
    got_std = math.sqrt(((out - out.mean(0)) ** 2).sum().item() / (m - out.shape[1]))
    assert abs(got_std / std - 1) < 4 / math.sqrt(2 * (m - out.shape[1])), (got_std, std)


@pytest.mark.parametrize("variance", ["beta", "beta_tilde"])
@pytest.mark.parametrize("t,s", [(2, 1), (12, 4)])
def test_one_ancestral_step_has_the_posterior_mean_and_the_configured_spread(variance, t, s):
    """Catches an ancestral step that draws with the other variance (beta for beta~ or back: a
    factor 1.7 to 2.2 in the standard deviation here), adds sigma^2 z instead of sigma z, uses the
    unrespaced beta_t on a respaced step t -> s, or moves to a wrong mean (a wrong posterior
    coefficient or x0_hat). The stand-in eps makes x0_hat = (x_t - sqrt(1 - abar_t) eps) /
    sqrt(abar_t); the mean is the posterior's, the variance beta = 1 - abar_t / abar_s or beta~ =
    beta (1 - abar_s) / (1 - abar_t)."""
    _, abar = alpha_bars()
    a_t, a_s = abar[t], abar[s]
    x, e = np.array(X_T), np.array(EPS_HAT)
    x0_hat = (x - math.sqrt(1 - a_t) * e) / math.sqrt(a_t)
    beta = 1 - a_t / a_s
    mean = math.sqrt(a_s) * beta / (1 - a_t) * x0_hat + math.sqrt(1 - beta) * (1 - a_s) / (1 - a_t) * x
    var = beta if variance == "beta" else beta * (1 - a_s) / (1 - a_t)
    out = draws_of_one_step({"use": "ancestral", "variance": variance, "steps": None}, t, s)
    check_mean_and_std(out, mean, math.sqrt(var))


@pytest.mark.parametrize("eta", [1.0, 0.5])
@pytest.mark.parametrize("t,s", [(2, 1), (12, 4)])
def test_one_ddim_step_has_the_noise_of_song_et_al_eq_16(eta, t, s):
    """Catches a DDIM step whose noise is not sigma = eta sqrt((1 - abar_s)/(1 - abar_t))
    sqrt(1 - abar_t/abar_s) (Song et al. 2021, eq. 16): the first factor left out, eta squared or
    not applied, or the direction term sqrt(1 - abar_s - sigma^2) eps without the sigma^2. With
    eta = 1 and consecutive steps the spread is the ancestral beta~_t."""
    _, abar = alpha_bars()
    a_t, a_s = abar[t], abar[s]
    x, e = np.array(X_T), np.array(EPS_HAT)
    x0_hat = (x - math.sqrt(1 - a_t) * e) / math.sqrt(a_t)
    sigma = eta * math.sqrt((1 - a_s) / (1 - a_t) * (1 - a_t / a_s))
    mean = math.sqrt(a_s) * x0_hat + math.sqrt(1 - a_s - sigma**2) * e
    out = draws_of_one_step({"use": "ddim", "eta": eta, "steps": None}, t, s)
    check_mean_and_std(out, mean, sigma)


# -- label dropout for classifier-free guidance ----------------------------------------------------
class LabelRecorder(nn.Module):
    """A stand-in denoiser that remembers the labels it was given and predicts zeros."""

    def __init__(self):
        super().__init__()
        self.seen: list[torch.Tensor] = []

    def forward(self, x, t, y=None):
        self.seen.append(y.clone())
        return torch.zeros_like(x)


def labels_seen(p_uncond: float, y: torch.Tensor, num_classes: int) -> torch.Tensor:
    objective = resolve_component("objective", {"use": "ddpm", "p_uncond": p_uncond}).build()
    net = LabelRecorder()
    sched = build_schedule("linear", num_steps=T)
    torch.manual_seed(7)
    objective(net, sched, torch.zeros(len(y), 1, 1, 1), y, num_classes)
    (seen,) = net.seen
    return seen


def test_labels_are_dropped_to_the_null_label_at_the_configured_rate():
    """Catches label dropout at the wrong rate (1 - p from a reversed comparison, a hard-coded
    p instead of the configured p_uncond), a null label other than num_classes (the embedding's
    extra token), dropout that depends on the class, and kept labels that are altered."""
    num_classes, n, p = 10, 20000, 0.3
    y = torch.arange(n) % num_classes
    seen = labels_seen(p, y, num_classes)
    assert seen.shape == y.shape and seen.dtype == torch.long
    dropped = seen != y
    assert torch.all(seen[dropped] == num_classes)  # a dropped label becomes the null label, nothing else
    # the count of drops is Binomial(n, p): standard error sqrt(p (1 - p) / n) ~ 0.0032 of the rate;
    # 4 standard errors (a false alarm ~6e-5) still rule out a rate off by 0.013 (e.g. 1 - p, or 0.2)
    rate = dropped.double().mean().item()
    assert abs(rate - p) < 4 * math.sqrt(p * (1 - p) / n), rate
    # per class, n / K labels each: 4.5 standard errors (a Bonferroni bound over the K classes)
    per_class = n // num_classes
    for c in range(num_classes):
        rate_c = dropped[y == c].double().mean().item()
        assert abs(rate_c - p) < 4.5 * math.sqrt(p * (1 - p) / per_class), (c, rate_c)


def test_no_label_is_dropped_when_p_uncond_is_zero():
    """Catches a conditional objective that drops labels although p_uncond = 0 (a default
    dropout rate used in place of the configured one, or a comparison that drops at p = 0)."""
    y = torch.arange(5000) % 7
    assert torch.equal(labels_seen(0.0, y, 7), y)
