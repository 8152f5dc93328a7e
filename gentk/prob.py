"""Probability tools the objectives build on.

Every log-domain reduction goes through logsumexp, so nothing overflows for log-weights of
magnitude 1e4. Samples are indexed by the first dimension unless a function says otherwise.

- divergences: `gaussian_kl`, `discrete_kl`, `monte_carlo_kl`, `mutual_information`
- estimators returning an `Estimate` (value and standard error): `mean_estimate`,
  `monte_carlo`, `importance_sampling`, `self_normalised_is`, `log_mean_exp_estimate`
- likelihood: `diag_gaussian_log_prob`, `log_likelihood`, `gaussian_mle`, `GaussianMixture`,
  `em_step`, `em_fit`
- sampling: `langevin`, `langevin_run` (unadjusted Langevin or MALA)
- evaluation of samples from a known mixture: `mode_coverage`
- the toy 2-D mixtures (8 modes on a ring, a 5×5 grid): `toy_mixture`, `toy_mixture_centres`
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal, TypeAlias

import attrs
import torch
from einops import rearrange, reduce
from torch import Tensor

from gentk.errors import GentkError
from gentk.interfaces import LogDensity

LOG_2PI = math.log(2 * math.pi)


# -- the shared core ----------------------------------------------------------------------------
def log_mean_exp(x: Tensor, dim: int = -1, keepdim: bool = False) -> Tensor:
    """log((1/K) sum_k exp(x_k)) along `dim`, computed stably."""
    return torch.logsumexp(x, dim=dim, keepdim=keepdim) - math.log(x.shape[dim])


def gaussian_kl(mu_q: Tensor, logvar_q: Tensor, mu_p: Tensor | None = None, logvar_p: Tensor | None = None) -> Tensor:
    """KL(N(mu_q, diag exp(logvar_q)) || N(mu_p, diag exp(logvar_p))), summed over the last dim.
    Without `mu_p`/`logvar_p` the second distribution is N(0, I)."""
    if mu_p is None:
        mu_p = torch.zeros_like(mu_q)
    if logvar_p is None:
        logvar_p = torch.zeros_like(logvar_q)
    kl = 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p).pow(2)) / logvar_p.exp() - 1.0)
    return kl.sum(dim=-1)


def diag_gaussian_log_prob(x: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """log N(x; mu, diag exp(logvar)) summed over the last dim (broadcasting)."""
    return -0.5 * (LOG_2PI + logvar + (x - mu).pow(2) / logvar.exp()).sum(dim=-1)


# -- divergences and information ----------------------------------------------------------------
def _check_nonnegative(name: str, t: Tensor) -> None:
    if bool((t < 0).any()):
        raise GentkError(f"{name} has negative entries", hint="pass probabilities (non-negative, summing to 1)")


def discrete_kl(p: Tensor, q: Tensor, dim: int = -1) -> Tensor:
    """KL(p || q) = sum_x p(x) log(p(x)/q(x)) of discrete distributions along `dim`.

    Terms with p = 0 count 0; a term with q = 0 < p makes the divergence +inf. Each term is
    written as p log(p/q) - p + q, which is non-negative on its own (and sums to the same value
    for normalised p and q), so rounding never makes the result negative."""
    _check_nonnegative("p", p)
    _check_nonnegative("q", q)
    terms = torch.xlogy(p, p) - torch.xlogy(p, q) - p + q
    return terms.clamp_min(0).sum(dim)


def mutual_information(joint: Tensor) -> Tensor:
    """I(X; Y) = KL(p(x, y) || p(x) p(y)) of a joint table (..., X, Y), normalised here."""
    _check_nonnegative("joint", joint)
    joint = joint / joint.sum(dim=(-2, -1), keepdim=True)  # (..., X, Y)
    product = joint.sum(-1, keepdim=True) * joint.sum(-2, keepdim=True)  # (..., X, Y)
    flat = "... x y -> ... (x y)"
    return discrete_kl(rearrange(joint, flat), rearrange(product, flat))


def draw(dist: Any, n: int, generator: torch.Generator | None = None) -> Tensor:
    """n samples (n, ...) of a distribution-like object (`dist.sample(sample_shape)`), e.g. a
    `torch.distributions` object or a `GaussianMixture`. With `generator`, the draw is seeded from
    it without disturbing torch's global random state."""
    if generator is None:
        return dist.sample((n,))
    seed = int(torch.randint(0, 2**62, (), generator=generator, device=generator.device))
    devices = [generator.device] if generator.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        return dist.sample((n,))


# -- estimators ---------------------------------------------------------------------------------
@attrs.frozen
class Estimate:
    """A Monte Carlo estimate and its standard error (tensors of one shape, usually 0-dim)."""

    value: Tensor
    stderr: Tensor

    def __str__(self) -> str:
        if self.value.numel() == 1:
            return f"{self.value.item():.6g} ± {self.stderr.item():.2g}"
        return f"Estimate(value={self.value.tolist()}, stderr={self.stderr.tolist()})"


@attrs.frozen
class SNISEstimate(Estimate):
    """A self-normalised importance sampling estimate, with the effective sample size
    (sum w)^2 / sum w^2 and the estimated log normaliser ratio log(Z_p / Z_q) and its stderr."""

    ess: Tensor
    log_ratio: Tensor
    log_ratio_stderr: Tensor

    @property
    def ratio(self) -> Tensor:
        """Z_p / Z_q, the mean importance weight."""
        return self.log_ratio.exp()


def mean_estimate(values: Tensor, dim: int = 0) -> Estimate:
    """The sample mean along `dim` and its standard error std / sqrt(S) (NaN for one sample)."""
    n = values.shape[dim]
    value = values.mean(dim)
    if n < 2:
        return Estimate(value, torch.full_like(value, math.nan))
    return Estimate(value, values.std(dim, correction=1) / math.sqrt(n))


def monte_carlo(f: Callable[[Tensor], Tensor], dist: Any, n: int, generator: torch.Generator | None = None) -> Estimate:
    """E_p[f(x)] ≈ (1/S) sum_s f(x_s), x_s ~ p: draws n samples of `dist` and averages f."""
    return mean_estimate(f(draw(dist, n, generator)))


def monte_carlo_kl(p: Any, q: Any, n: int, generator: torch.Generator | None = None) -> Estimate:
    """KL(p || q) ≈ mean of log p(x_s) - log q(x_s), x_s ~ p, for any distribution-like objects
    with `sample(sample_shape)` and `log_prob(x)` (log_prob summed over event dimensions)."""
    x = draw(p, n, generator)
    return mean_estimate(p.log_prob(x) - q.log_prob(x))


def _trailing(t: Tensor, like: Tensor) -> Tensor:
    """`t` (S, ...) with singleton dims appended to broadcast against `like`."""
    return t.reshape(t.shape + (1,) * (like.dim() - t.dim()))


def importance_sampling(values: Tensor, log_p: Tensor, log_q: Tensor) -> Estimate:
    """E_p[f] ≈ (1/S) sum_s f(x_s) p(x_s)/q(x_s), x_s ~ q (unbiased for normalised p and q).
    values: f(x_s) (S, ...); log_p, log_q: (S,)."""
    weights = _trailing((log_p - log_q).exp(), values)
    return mean_estimate(values * weights)


def log_mean_exp_estimate(log_w: Tensor, dim: int = 0) -> Estimate:
    """log((1/S) sum_s w_s) from log-weights, with the delta-method standard error
    std(w) / (mean(w) sqrt(S)); both computed relative to the largest weight, so exact and finite
    for log-weights of any magnitude."""
    value = log_mean_exp(log_w, dim=dim)
    n = log_w.shape[dim]
    if n < 2:
        return Estimate(value, torch.full_like(value, math.nan))
    scaled = (log_w - log_w.amax(dim, keepdim=True)).exp()  # largest weight is 1
    return Estimate(value, scaled.std(dim, correction=1) / (scaled.mean(dim) * math.sqrt(n)))


def self_normalised_is(log_p_tilde: Tensor, log_q_tilde: Tensor, values: Tensor | None = None) -> SNISEstimate:
    """E_p[f] ≈ sum_s w_s f(x_s) / sum_s w_s with w_s = p~(x_s)/q~(x_s), x_s ~ q, for densities
    known up to their normalisers Z_p and Z_q. Also estimates Z_p/Z_q ≈ mean(w) (unbiased) and
    the effective sample size. values: f(x_s) (S, ...), or None for f = 1."""
    log_w = log_p_tilde - log_q_tilde  # (S,)
    normalised = torch.softmax(log_w, dim=0)  # (S,)
    ess = 1.0 / normalised.pow(2).sum()
    ratio = log_mean_exp_estimate(log_w)
    if values is None:
        value, stderr = torch.ones_like(ess), torch.zeros_like(ess)
    else:
        w = _trailing(normalised, values)
        value = (w * values).sum(0)
        stderr = (w.pow(2) * (values - value).pow(2)).sum(0).sqrt()  # delta method
    return SNISEstimate(value, stderr, ess, ratio.value, ratio.stderr)


# -- likelihood -----------------------------------------------------------------------------------
Target: TypeAlias = LogDensity | Callable[[Tensor], Tensor]
"""What Langevin sampling and `log_likelihood` take: an object with an exact log-density
(`LogDensity`), or a function of points (B, ...) -> log p (B,) (or, for Langevin, a score)."""


def _log_density(model: Target) -> Callable[[Tensor], Tensor]:
    return model.log_prob if isinstance(model, LogDensity) else model


def log_likelihood(model: Target, x: Tensor) -> Tensor:
    """L = sum_i log p(x_i) of a dataset x (N, ...) under a log-density callable or an object
    with `log_prob` (per-example log-densities, (N,))."""
    return _log_density(model)(x).sum()


def gaussian_mle(x: Tensor, dim: int = 0) -> tuple[Tensor, Tensor]:
    """Closed-form maximum-likelihood diagonal Gaussian of data x along `dim`: (mean, biased variance)."""
    mean = x.mean(dim)
    return mean, x.var(dim, correction=0)


class GaussianMixture:
    """A mixture of K diagonal Gaussians in D dimensions.

    means (K, D); stds a float, (K,) or (K, D); weights (K,) non-negative (normalised here;
    default uniform). Usable as a Langevin target (`log_prob`), by `em_step`, by `monte_carlo_kl`
    and `draw` (`sample(sample_shape)`)."""

    def __init__(self, means: Tensor, stds: Tensor | float, weights: Tensor | None = None):
        if means.dim() != 2:
            raise GentkError(f"mixture means must be (K, D), got shape {tuple(means.shape)}")
        k, d = means.shape
        stds = torch.as_tensor(stds, dtype=means.dtype, device=means.device)
        if stds.dim() == 1:
            stds = rearrange(stds, "k -> k 1")
        if weights is None:
            weights = torch.full((k,), 1.0 / k, dtype=means.dtype, device=means.device)
        try:
            stds = stds.expand(k, d)
        except RuntimeError:
            raise GentkError(f"mixture stds of shape {tuple(stds.shape)} do not fit means {(k, d)}") from None
        if weights.shape != (k,) or bool((weights < 0).any()) or bool((stds <= 0).any()):
            raise GentkError("mixture weights must be (K,) and non-negative, stds positive")
        self.means = means  # (K, D)
        self.stds = stds  # (K, D)
        self.weights = weights / weights.sum()  # (K,)

    @property
    def num_components(self) -> int:
        return self.means.shape[0]

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def to(self, device: torch.device | str) -> GaussianMixture:
        return GaussianMixture(self.means.to(device), self.stds.to(device), self.weights.to(device))

    def component_log_prob(self, x: Tensor) -> Tensor:
        """log w_k + log N(x; mu_k, diag std_k^2): x (..., D) -> (..., K)."""
        logvar = 2 * self.stds.log()  # (K, D)
        return diag_gaussian_log_prob(x.unsqueeze(-2), self.means, logvar) + self.weights.log()

    def log_prob(self, x: Tensor) -> Tensor:
        """log p(x): x (..., D) -> (...)."""
        return torch.logsumexp(self.component_log_prob(x), dim=-1)

    def responsibilities(self, x: Tensor) -> Tensor:
        """p(component k | x): x (..., D) -> (..., K)."""
        return torch.softmax(self.component_log_prob(x), dim=-1)

    def sample(
        self, sample_shape: tuple[int, ...] | torch.Size = (), generator: torch.Generator | None = None
    ) -> Tensor:
        """Draws of shape (*sample_shape, D)."""
        n = math.prod(sample_shape)
        which = torch.multinomial(self.weights, n, replacement=True, generator=generator)  # (n,)
        noise = torch.randn((n, self.dim), generator=generator, device=self.means.device, dtype=self.means.dtype)
        x = self.means[which] + self.stds[which] * noise  # (n, D)
        return x.reshape(*sample_shape, self.dim)


def em_step(x: Tensor, mixture: GaussianMixture, min_std: float = 1e-3) -> tuple[GaussianMixture, Tensor]:
    """One EM iteration for a diagonal Gaussian mixture on data x (N, D).

    E-step: responsibilities r_nk = p(k | x_n) under the current mixture; M-step: weighted MLE of
    weights, means and variances (variances floored at min_std^2, which keeps the M-step a
    constrained maximum, so the log-likelihood still never decreases). Returns the new mixture
    and the average log-likelihood of x under the *given* one."""
    joint = mixture.component_log_prob(x)  # (N, K)
    log_px = torch.logsumexp(joint, dim=-1)  # (N,)
    resp = (joint - log_px.unsqueeze(-1)).exp()  # (N, K)
    counts = resp.sum(0)  # (K,)
    safe = counts.clamp_min(torch.finfo(x.dtype).tiny).unsqueeze(-1)  # (K, 1)
    means = torch.einsum("nk,nd->kd", resp, x) / safe  # (K, D)
    sq = (x.unsqueeze(1) - means).pow(2)  # (N, K, D)
    var = torch.einsum("nk,nkd->kd", resp, sq) / safe  # (K, D)
    stds = var.clamp_min(min_std**2).sqrt()
    return GaussianMixture(means, stds, counts / len(x)), log_px.mean()


def initial_mixture(
    x: Tensor,
    k: int,
    generator: torch.Generator | None = None,
    *,
    method: Literal["kmeans++", "random"] = "kmeans++",
    min_std: float = 1e-3,
) -> GaussianMixture:
    """A starting mixture for EM on x (N, D): means by greedy k-means++ seeding (each next centre
    the best of 2 + log k candidates drawn with probability proportional to their squared distance
    from those chosen) or k distinct random points; equal weights; every std the RMS distance of the
    data to its nearest mean per dimension."""
    n, d = x.shape
    if k > n:
        raise GentkError(f"cannot fit {k} mixture components to {n} points", hint="use fewer components or more data")
    if method == "random":
        centres = x[torch.randperm(n, generator=generator, device=x.device)[:k]]  # (K, D)
        nearest = torch.cdist(x, centres).min(dim=1).values.pow(2)  # (N,)
    else:
        centres = x[torch.randint(n, (1,), generator=generator, device=x.device)]  # (1, D)
        nearest = (x - centres).pow(2).sum(-1)  # (N,)
        trials = 2 + int(math.log(k))  # greedy k-means++: keep the best of a few candidates
        for _ in range(k - 1):
            picks = torch.multinomial(nearest.clamp_min(0) + 1e-30, trials, replacement=True, generator=generator)
            candidates = torch.minimum(nearest, torch.cdist(x[picks], x).pow(2))  # (trials, N)
            best = candidates.sum(-1).argmin()
            centres = torch.cat([centres, x[picks[best]].unsqueeze(0)])
            nearest = candidates[best]
    std = (nearest.mean() / d).sqrt().clamp_min(min_std)
    return GaussianMixture(centres, std.expand(k, d).clone())


@attrs.frozen
class EMResult:
    """A fitted mixture and the average log-likelihood of the data before the first and after each
    iteration (iterations + 1 values, never decreasing up to rounding)."""

    mixture: GaussianMixture
    log_likelihood: list[float]


def em_fit(
    x: Tensor,
    num_components: int,
    iterations: int,
    generator: torch.Generator | None = None,
    *,
    min_std: float = 1e-3,
    init: GaussianMixture | Literal["kmeans++", "random"] = "kmeans++",
) -> EMResult:
    """Fits a diagonal Gaussian mixture to x (N, D) by EM, from a given mixture or from
    `initial_mixture` with the named method."""
    if isinstance(init, GaussianMixture):
        mixture = init
    else:
        mixture = initial_mixture(x, num_components, generator, method=init, min_std=min_std)
    trace = []
    for _ in range(iterations):
        mixture, ll = em_step(x, mixture, min_std)
        trace.append(float(ll))
    trace.append(float(mixture.log_prob(x).mean()))
    return EMResult(mixture, trace)


# -- Langevin sampling -----------------------------------------------------------------------------
Kind = Literal["auto", "log_density", "score"]


def target_kind(target: Target, x0: Tensor) -> Literal["log_density", "score"]:
    """Whether `target` is a log-density ((B, ...) -> (B,), or a `LogDensity` object) or a
    score function ((B, ...) -> (B, ...)), decided by evaluating it on one example."""
    if isinstance(target, LogDensity):
        return "log_density"
    if x0.dim() < 2:
        raise GentkError(
            f"Langevin chains need a batch dimension: x0 has shape {tuple(x0.shape)}",
            hint="pass x0 as (B, D) or (B, C, H, W)",
        )
    with torch.no_grad():
        out = target(x0[:1])
    if out.shape == x0[:1].shape:
        return "score"
    if out.shape == (1,):
        return "log_density"
    raise GentkError(
        f"the Langevin target maps {tuple(x0[:1].shape)} to {tuple(out.shape)}",
        hint="a log-density returns one value per example (B,); a score returns x's shape",
    )


def _evaluate(fn: Callable[[Tensor], Tensor], kind: str, x: Tensor, need_log_p: bool) -> tuple[Tensor, Tensor | None]:
    """(grad log p(x), log p(x) or None)."""
    if kind == "score":
        with torch.no_grad():
            return fn(x), None
    with torch.inference_mode(False), torch.enable_grad():
        leaf = x.detach().clone().requires_grad_(True)
        log_p = fn(leaf)  # (B,)
        (grad,) = torch.autograd.grad(log_p.sum(), leaf)
    return grad, log_p.detach() if need_log_p else None


def _sum_event(t: Tensor) -> Tensor:
    return reduce(t, "b ... -> b", "sum")


@attrs.frozen
class LangevinResult:
    """Final states of the chains (B, ...) and, for MALA, the share of accepted proposals."""

    samples: Tensor
    acceptance: float | None = None


def langevin_run(
    target: Target,
    x0: Tensor,
    step_size: float,
    steps: int,
    generator: torch.Generator | None = None,
    mala: bool = False,
    *,
    kind: Kind = "auto",
) -> LangevinResult:
    """Runs B Langevin chains from x0 (B, ...): x <- x + η ∇log p(x) + sqrt(2η) ξ, ξ ~ N(0, I).

    `target` is a differentiable log-density ((B, ...) -> (B,), gradients by autograd; or an
    object with `log_prob`) or a score function ((B, ...) -> ∇log p, e.g. a trained denoiser's
    -ε/sqrt(1-ᾱ)); `kind = "auto"` tells them apart by output shape. With `mala`, each proposal is
    accepted with the Metropolis-Hastings probability, which makes p exactly invariant; it needs a
    log-density."""
    if step_size <= 0 or steps < 0:
        raise GentkError(f"Langevin needs step_size > 0 and steps >= 0, got {step_size} and {steps}")
    kind = target_kind(target, x0) if kind == "auto" else kind
    if mala and kind == "score":
        raise GentkError(
            "MALA needs a log-density, not a score function",
            hint="pass mala=False, or a function returning log p(x) per example",
        )
    fn = _log_density(target)
    x = x0.detach().clone()
    grad, log_p = _evaluate(fn, kind, x, mala)
    accepted = 0.0
    for _ in range(steps):
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        proposal = x + step_size * grad + math.sqrt(2 * step_size) * noise
        grad_new, log_p_new = _evaluate(fn, kind, proposal, mala)
        if mala:
            accept = _metropolis(x, proposal, grad, grad_new, log_p, log_p_new, step_size, noise, generator)
            accepted += float(accept.float().mean())
            mask = _trailing(accept, x)
            proposal = torch.where(mask, proposal, x)
            grad_new = torch.where(mask, grad_new, grad)
            assert log_p is not None and log_p_new is not None  # MALA evaluates log p at every point
            log_p_new = torch.where(accept, log_p_new, log_p)
        x, grad, log_p = proposal, grad_new, log_p_new
    return LangevinResult(x, accepted / steps if mala and steps else None)


def _metropolis(x, proposal, grad, grad_new, log_p, log_p_new, step_size, noise, generator) -> Tensor:
    """Which MALA proposals are accepted: log u < log p(y) + log q(x|y) - log p(x) - log q(y|x),
    with q(y|x) = N(y; x + η ∇log p(x), 2η I)."""
    log_q_forward = -0.5 * _sum_event(noise.pow(2))
    back = x - proposal - step_size * grad_new
    log_q_backward = -_sum_event(back.pow(2)) / (4 * step_size)
    log_alpha = log_p_new + log_q_backward - log_p - log_q_forward  # (B,)
    u = torch.rand(log_alpha.shape, generator=generator, device=x.device, dtype=x.dtype)
    return u.log() < log_alpha  # NaN proposals are rejected


def langevin(
    target: Target,
    x0: Tensor,
    step_size: float,
    steps: int,
    generator: torch.Generator | None = None,
    mala: bool = False,
    *,
    kind: Kind = "auto",
) -> Tensor:
    """The final states (B, ...) of `langevin_run`."""
    return langevin_run(target, x0, step_size, steps, generator, mala, kind=kind).samples


# -- samples of a known mixture --------------------------------------------------------------------
@attrs.frozen
class ModeCoverage:
    """How well samples cover the modes of a known mixture."""

    modes_covered: int  # modes with at least min_fraction of their expected share of samples nearby
    num_modes: int
    high_quality: float  # share of samples within `radius` stds of some mode's centre

    @property
    def coverage(self) -> float:
        return self.modes_covered / self.num_modes


def mode_coverage(
    samples: Tensor,
    centres: Tensor,
    std: float | Tensor,
    weights: Tensor | None = None,
    *,
    min_fraction: float = 0.1,
    radius: float = 3.0,
) -> ModeCoverage:
    """Mode coverage of samples (N, D) from a mixture with centres (K, D), per-mode std (float or
    (K,)) and weights (K,) (default uniform). A sample is high quality when within radius·std of its
    nearest centre; a mode is covered when it has ≥ min_fraction · N · w_k such samples."""
    k = len(centres)
    samples = samples.to(centres)
    dist, nearest = torch.cdist(samples, centres).min(dim=1)  # (N,), (N,)
    std = torch.as_tensor(std, dtype=centres.dtype, device=centres.device).expand(k)
    close = dist <= radius * std[nearest]  # (N,)
    counts = torch.bincount(nearest[close], minlength=k)  # (K,)
    w = torch.full((k,), 1.0 / k, device=centres.device) if weights is None else weights / weights.sum()
    covered = counts >= min_fraction * len(samples) * w.to(centres)
    high = float(close.float().mean()) if len(samples) else 0.0
    return ModeCoverage(int(covered.sum()), k, high)


# -- the toy 2-D mixtures ------------------------------------------------------------------------
TOY_MIXTURE_STD = {"ring": 0.02, "grid": 0.05}
"""The default std of each mode of the toy 2-D mixtures."""


def _ring_centres() -> Tensor:
    """8 points evenly spaced on a circle of radius 2."""
    angles = torch.arange(8) * (2 * math.pi / 8)
    return 2.0 * torch.stack([angles.cos(), angles.sin()], dim=-1)  # (8, 2)


def _grid_centres() -> Tensor:
    """A 5×5 grid with spacing 2, centred at the origin."""
    coords = torch.arange(5, dtype=torch.float32) * 2.0 - 4.0
    gx, gy = torch.meshgrid(coords, coords, indexing="ij")
    return rearrange(torch.stack([gx, gy], dim=-1), "i j d -> (i j) d")  # (25, 2)


_TOY_CENTRES: dict[str, Callable[[], Tensor]] = {"ring": _ring_centres, "grid": _grid_centres}
TOY_MIXTURES = tuple(_TOY_CENTRES)
"""The names of the toy 2-D mixtures: "ring" (8 modes on a circle of radius 2) and "grid"
(25 modes on a 5×5 grid, 2 apart)."""


def toy_mixture_centres(name: str) -> Tensor:
    """The mode centres (K, 2), float32, of the toy mixture `name` ("ring" or "grid")."""
    if name not in _TOY_CENTRES:
        raise GentkError(f"{name!r} is not a Gaussian mixture", hint=f"mixtures: {', '.join(TOY_MIXTURES)}")
    return _TOY_CENTRES[name]()


def toy_mixture(name: str, std: float | None = None) -> GaussianMixture:
    """The toy 2-D mixture `name` ("ring" or "grid") with equal weights: the exact density of the
    toy2d dataset's points, a Langevin target, the reference of mode coverage. `std` overrides the
    default std of each mode (`TOY_MIXTURE_STD`)."""
    centres = toy_mixture_centres(name)
    return GaussianMixture(centres, TOY_MIXTURE_STD[name] if std is None else std)
