"""The configs of the VAE family's components (what a recipe's tables hold).

Kept free of torch so that listing and checking plugins stays fast.
"""

from typing import Literal, get_args

import attrs
from attrs import validators as v

from gentk.config import MAX_LAYERS, MAX_WIDTH, config, in_range, ints_in, param, sub
from gentk.families.vae import VAEObjective
from gentk.registry import Spec

Activation = Literal["relu", "elu", "silu", "tanh"]
ACTIVATION_NAMES: tuple[str, ...] = get_args(Activation)
Upsample = Literal["transposed", "resize"]
_width = in_range(1, MAX_WIDTH)
_widths = ints_in(1, MAX_WIDTH, max_len=MAX_LAYERS)
_conv_channels = ints_in(1, 4096, min_len=1, max_len=8)
_logvar = in_range(-30, 30)


# -- networks -----------------------------------------------------------------------------------
@config
class MLPEncoderConfig:
    """MLP Gaussian encoder q(z|x): x -> hidden layers -> (mu, log sigma^2) of the latent."""

    latent_dim: int = param(20, "size of the latent z", _width)
    hidden: tuple[int, ...] = param((512, 512, 512), "widths of the hidden layers", _widths)
    activation: Activation = param("relu", "nonlinearity after each hidden layer", v.in_(ACTIVATION_NAMES))


@config
class ConvEncoderConfig:
    """Convolutional Gaussian encoder: stride-2 convolutions, one hidden layer, (mu, log sigma^2)."""

    latent_dim: int = param(20, "size of the latent z", _width)
    channels: tuple[int, ...] = param(
        (32, 64), "channels of the stride-2 convolutions (each halves H and W)", _conv_channels
    )
    hidden: int = param(256, "width of the fully connected layer before the head", _width)
    activation: Activation = param("relu", "nonlinearity after each layer", v.in_(ACTIVATION_NAMES))


@config
class MLPDecoderConfig:
    """MLP decoder with a Bernoulli likelihood (logits) for binarised images."""

    hidden: tuple[int, ...] = param((512, 512, 512), "widths of the hidden layers (z -> ... -> x)", _widths)
    activation: Activation = param("relu", "nonlinearity after each hidden layer", v.in_(ACTIVATION_NAMES))


@config
class ConvDecoderConfig:
    """Convolutional decoder with a Bernoulli likelihood; upsampling by transposed or resize-convolution."""

    channels: tuple[int, ...] = param(
        (32, 64),
        "channels, mirrored from the encoder (last = smallest feature map)",
        _conv_channels,
    )
    hidden: int = param(256, "width of the fully connected layer after z", _width)
    activation: Activation = param("relu", "nonlinearity after each layer", v.in_(ACTIVATION_NAMES))
    upsample: Upsample = param(
        "transposed",
        "'transposed': stride-2 transposed convolution; 'resize': upsample then 3x3 convolution "
        "(Odena, Dumoulin & Olah 2016; no checkerboard artefacts)",
        v.in_(get_args(Upsample)),
    )
    resize_mode: Literal["nearest", "bilinear"] = param(
        "nearest", "interpolation of the resize-convolution", v.in_(("nearest", "bilinear"))
    )


@attrs.frozen(kw_only=True, slots=False)  # a mixin: slotted bases cannot be combined
class _GaussianOutput:
    """Learned per-dimension variance of a Gaussian likelihood."""

    init_logvar: float = param(-3.0, "initial log-variance of every data dimension (pixel space)", _logvar)
    min_logvar: float = param(-6.0, "lower clamp of the log-variance; keeps constant pixels from diverging", _logvar)
    max_logvar: float = param(2.0, "upper clamp of the log-variance", _logvar)

    def __attrs_post_init__(self) -> None:
        if self.max_logvar < self.min_logvar:
            raise ValueError(f"max_logvar ({self.max_logvar}) must not be below min_logvar ({self.min_logvar})")


@config
class MLPGaussianDecoderConfig(_GaussianOutput, MLPDecoderConfig):
    """MLP decoder with a Gaussian likelihood and a learned per-pixel diagonal variance."""


@config
class ConvGaussianDecoderConfig(_GaussianOutput, ConvDecoderConfig):
    """Convolutional decoder with a Gaussian likelihood and a learned per-pixel diagonal variance."""


# -- objectives ---------------------------------------------------------------------------------
@config
class ELBOConfig:
    """Evidence lower bound E_q[log p(x|z)] - KL(q(z|x) || N(0, I)), analytic KL (Kingma & Welling 2014)."""


@config
class BetaELBOConfig:
    """beta-VAE objective E_q[log p(x|z)] - beta KL(q(z|x) || N(0, I)) (Higgins et al. 2017)."""

    beta: float = param(4.0, "weight of the KL term; 1 is the plain ELBO", in_range(0, 1e4))


@config
class IWAEConfig:
    """Importance-weighted bound with K samples, log (1/K) sum_k p(x, z_k)/q(z_k|x) (Burda et al. 2016)."""

    k: int = param(50, "importance samples per example (K = 1 is a one-sample ELBO)", in_range(1, 100_000))


# -- model and metric ---------------------------------------------------------------------------
@config
class VAEConfig:
    """Variational autoencoder (VAE, beta-VAE or IWAE, chosen by the objective)."""

    encoder: Spec = sub("encoder", "mlp_gaussian", "q(z|x): mlp_gaussian or conv_gaussian")
    decoder: Spec = sub(
        "decoder", "mlp_bernoulli", "p(x|z): mlp_bernoulli, mlp_gaussian, conv_bernoulli, conv_gaussian"
    )
    objective: Spec = sub("objective", "elbo", "training objective: elbo, beta_elbo or iwae", accepts=VAEObjective)
    optimizer: Spec = sub("optimizer", "adam", "optimizer of the encoder and decoder together")


@config
class NLLConfig:
    """Test negative log-likelihood by importance sampling with the encoder as proposal, in nats."""

    k: int = param(5000, "importance samples per test example", in_range(1, 10**6))
    batch_size: int = param(50, "test examples per pass", in_range(1, 2**16))
    chunk: int = param(500, "importance samples per pass; memory grows with batch_size x chunk", in_range(1, 10**6))
    n_examples: int | None = param(
        None, "evaluate only the first N test examples; none: all", v.optional(in_range(1, 10**9))
    )
