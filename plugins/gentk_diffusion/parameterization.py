"""What the denoiser predicts, and the conversions between the three parameterizations.

With x_t = sqrt(abar) x0 + sqrt(1 - abar) eps (the forward process at alpha-bar abar), a network
predicts one of

    epsilon   the noise eps (Ho et al. 2020)
    x0        the clean data x0
    v         the velocity v = sqrt(abar) eps - sqrt(1 - abar) x0 (Salimans & Ho 2022, appendix D)

and each determines the others given x_t: x0 = (x_t - sqrt(1 - abar) eps) / sqrt(abar),
x0 = sqrt(abar) x_t - sqrt(1 - abar) v, eps = sqrt(1 - abar) x_t + sqrt(abar) v. These are the
only conversions in the diffusion plugin: the objective's targets and weights, the model's guided
prediction (which hands every sampler an eps) and the VLB (which needs x0) all use them.

The coefficients are computed in float64 from the alpha-bars and cast to the tensors' dtype;
`abar` broadcasts against the images (a (B, 1, ..., 1) tensor, say). The conversions are affine
in the prediction at fixed x_t, so classifier-free guidance (1 + w) p(x, c) - w p(x) means the same
in every parameterization.

Weightings of the loss (`loss_weight`), all per example, written for the mean squared error in
the parameterization's own space; in x0 units (the error || x0 - x0_hat ||^2) the eps error is
SNR times and the v error (1 + SNR) times the x0 error, SNR = abar / (1 - abar):

    uniform   1: L_simple (Ho et al. 2020, eq. 14) in the chosen parameterization
    min_snr   min(SNR, gamma) in x0 units, i.e. min(SNR, gamma)/SNR for epsilon and
              min(SNR, gamma)/(SNR + 1) for v (Hang et al. 2023, "Efficient diffusion training
              via Min-SNR weighting strategy", eq. 10 and section 3.4)
    vlb       T (SNR(t-1) - SNR(t)) / 2 in x0 units, the weight that makes the loss the diffusion
              terms sum_t L_{t-1} of the variational bound with reverse variance beta~_t, in nats
              per dimension (Ho et al. 2020, eq. 5; Kingma et al. 2021, "Variational diffusion
              models", eq. 13); at the first step (SNR(t-1) infinite) the Gaussian decoder's
              weight T / (2 beta~_2) in its place, as the `vlb` metric scores it
"""

from __future__ import annotations

from typing import Literal, get_args

import torch
from torch import Tensor

Prediction = Literal["epsilon", "x0", "v"]
PREDICTIONS: tuple[str, ...] = get_args(Prediction)
Weighting = Literal["uniform", "min_snr", "vlb"]


def _coefs(abar: Tensor, like: Tensor) -> tuple[Tensor, Tensor]:
    """(sqrt(abar), sqrt(1 - abar)) in float64, cast to `like`'s dtype and device."""
    abar = abar.double()
    return abar.sqrt().to(like), (1 - abar).sqrt().to(like)


def _check(prediction: str) -> None:
    if prediction not in PREDICTIONS:
        raise ValueError(f"unknown prediction {prediction!r}: one of {', '.join(PREDICTIONS)}")


def target(prediction: str, x0: Tensor, eps: Tensor, abar: Tensor) -> Tensor:
    """What a network of this parameterization should output for x_t made from x0 and eps."""
    _check(prediction)
    if prediction == "epsilon":
        return eps
    if prediction == "x0":
        return x0
    a, s = _coefs(abar, x0)
    return a * eps - s * x0


def to_eps(prediction: str, out: Tensor, xt: Tensor, abar: Tensor) -> Tensor:
    """The noise eps a network output `out` of this parameterization implies at x_t."""
    _check(prediction)
    if prediction == "epsilon":
        return out
    a, s = _coefs(abar, xt)
    if prediction == "x0":
        return (xt - a * out) / s
    return s * xt + a * out


def to_x0(prediction: str, out: Tensor, xt: Tensor, abar: Tensor) -> Tensor:
    """The clean data x0 a network output `out` of this parameterization implies at x_t."""
    _check(prediction)
    if prediction == "x0":
        return out
    a, s = _coefs(abar, xt)
    if prediction == "epsilon":
        return (xt - s * out) / a
    return a * xt - s * out


def snr(abar: Tensor) -> Tensor:
    """Signal-to-noise ratio abar / (1 - abar) (float64)."""
    abar = abar.double()
    return abar / (1 - abar)


def loss_weight(
    weighting: str,
    prediction: str,
    abar: Tensor,
    abar_prev: Tensor,
    *,
    num_steps: int,
    decoder_var: float,
    gamma: float = 5.0,
) -> Tensor:
    """Per-example weights (float64, abar's shape) of the squared error in the `prediction`
    space at alpha-bar `abar`; `abar_prev` is the alpha-bar one step earlier (1 at the first
    step), `num_steps` T and `decoder_var` the decoder's variance beta~_2 (for `vlb`). See the
    module docstring for each weighting and its paper."""
    _check(prediction)
    if weighting == "uniform":
        return torch.ones_like(abar, dtype=torch.float64)
    ratio = snr(abar)
    if weighting == "min_snr":
        in_x0 = ratio.clamp(max=gamma)
    elif weighting == "vlb":
        abar, abar_prev = abar.double(), abar_prev.double()
        first = abar_prev >= 1
        # SNR(t-1) - SNR(t) = abar_{t-1} beta_t / ((1 - abar_{t-1})(1 - abar_t)), without cancellation
        beta = 1 - abar / abar_prev
        step = abar_prev * beta / ((1 - abar_prev).clamp(min=1e-300) * (1 - abar))
        # the first step's term is the decoder -log N(x0; x0_hat, beta~_2): weight 1 / (2 beta~_2)
        in_x0 = torch.where(first, torch.full_like(step, 1 / decoder_var), step) * num_steps / 2
    else:
        raise ValueError(f"unknown weighting {weighting!r}: uniform, min_snr or vlb")
    if prediction == "epsilon":
        return in_x0 / ratio
    if prediction == "v":
        return in_x0 / (ratio + 1)
    return in_x0
