"""Configs of the GAN family: the `gan` model, generators, critics and adversarial objectives."""

from typing import Literal

from attrs import validators as v

from gentk.config import MAX_LAYERS, MAX_WIDTH, config, in_range, open_range, param, probability, sub
from gentk.families.gan import AdversarialObjective
from gentk.registry import Spec

_width = in_range(1, MAX_WIDTH)
_slope = in_range(0, 10)

OUTPUTS = Literal["auto", "tanh", "sigmoid", "linear"]
NORMS = Literal["batch", "layer", "none"]
OUTPUT_DOC = "output activation: 'auto' is tanh for images (data scaled to [-1, 1]) and linear for points"


# -- model ------------------------------------------------------------------------------------
@config
class GANConfig:
    """Adversarial training: k critic steps per generator step, each with its own optimizer.

    One critic step per training batch; every `n_critic`-th batch also updates the generator.
    The objective chooses the game (minimax, Wasserstein, gradient penalty)."""

    generator: Spec = sub("generator", "mlp", "the generator G(z, y)")
    critic: Spec = sub("critic", "mlp", "the discriminator or critic D(x, y)")
    objective: Spec = sub(
        "objective", "gan", "the adversarial objective: gan, wgan or wgan_gp", accepts=AdversarialObjective
    )
    g_optimizer: Spec = sub("optimizer", "adam", "optimizer of the generator")
    d_optimizer: Spec = sub("optimizer", "adam", "optimizer of the critic")
    n_critic: int = param(5, "critic steps per generator step (k; report and WGAN paper: 5)", in_range(1, 1000))
    aux_weight: float = param(
        1.0, "weight of the class log-loss when the critic has an auxiliary classifier (AC-GAN)", in_range(0, 1e4)
    )
    critic_batch: Literal["new", "same"] = param(
        "new",
        "'new': each critic step takes the next training batch and the generator steps every n_critic-th "
        "batch (WGAN paper); 'same': every batch gets all n_critic critic steps (fresh noise each), then one "
        "generator step, so an epoch makes as many generator steps as it has batches",
    )


# -- generators -------------------------------------------------------------------------------
@config
class MLPGeneratorConfig:
    """MLP generator: noise -> hidden layers (ReLU) -> sample; the reference GAN uses one hidden layer."""

    latent_dim: int = param(100, "noise dimension", _width)
    hidden: int = param(256, "units per hidden layer", _width)
    layers: int = param(1, "number of hidden layers", in_range(1, MAX_LAYERS))
    slope: float = param(0.0, "negative slope of the hidden activation: 0 is ReLU, above 0 LeakyReLU", _slope)
    output: OUTPUTS = param("auto", OUTPUT_DOC)
    conditional: bool = param(False, "condition on the class label (a learned embedding concatenated to z)")
    embed_dim: int = param(16, "size of the label embedding (conditional only)", _width)


@config
class ConvGeneratorConfig:
    """Convolutional generator: noise -> [fc layer] -> (2C, H/4, W/4) -> two 2x upsampling blocks with batch norm.

    With `fc_hidden = 0` this is the DCGAN-style generator (a direct projection of the noise)."""

    latent_dim: int = param(100, "noise dimension", _width)
    channels: int = param(64, "channels C of the last upsampling block (the first has 2C)", in_range(1, 4096))
    fc_hidden: int = param(
        256, "units of the fully connected hidden layer before the projection; 0: none", in_range(0, MAX_WIDTH)
    )
    upsample: Literal["transposed", "resize"] = param(
        "transposed",
        "'transposed': 4x4 stride-2 transposed convolution; 'resize': nearest upsampling then 3x3 "
        "convolution (no checkerboard artefacts)",
    )
    output: OUTPUTS = param("auto", OUTPUT_DOC)
    conditional: bool = param(False, "condition on the class label (a learned embedding concatenated to z)")
    embed_dim: int = param(16, "size of the label embedding (conditional only)", _width)


# -- critics ----------------------------------------------------------------------------------
@config
class MLPCriticConfig:
    """MLP discriminator/critic: input -> hidden layers (LeakyReLU) -> one unbounded score."""

    hidden: int = param(256, "units per hidden layer", _width)
    layers: int = param(1, "number of hidden layers (reference: 1)", in_range(1, MAX_LAYERS))
    slope: float = param(0.2, "negative slope of the LeakyReLU", _slope)
    dropout: float = param(
        0.0, "dropout rate after each hidden layer (the original GAN's discriminator used dropout)", probability
    )
    conditional: bool = param(False, "condition on the label with a projection term <embed(y), h(x)>")
    aux_classifier: bool = param(False, "add a class-prediction head (AC-GAN)")


@config
class ConvCriticConfig:
    """Reference WGAN critic: two stride-1 3x3 convs, each with norm and 2x2 max-pooling, then an fc hidden layer."""

    channels: int = param(32, "channels of the first convolution (the second has twice as many)", in_range(1, 4096))
    hidden: int = param(256, "units of the fully connected hidden layer", _width)
    norm: NORMS = param("batch", "normalisation after each convolution ('layer' or 'none' with a gradient penalty)")
    slope: float = param(0.2, "negative slope of the LeakyReLU", _slope)
    conditional: bool = param(False, "condition on the label with a projection term <embed(y), h(x)>")
    aux_classifier: bool = param(False, "add a class-prediction head (AC-GAN)")


@config
class DCGANCriticConfig:
    """DCGAN-style discriminator: two stride-2 4x4 convolutions (norm on the second), then a linear score."""

    channels: int = param(64, "channels of the first convolution (the second has twice as many)", in_range(1, 4096))
    norm: NORMS = param(
        "batch", "normalisation after the second convolution ('layer' or 'none' with a gradient penalty)"
    )
    slope: float = param(0.2, "negative slope of the LeakyReLU", _slope)
    conditional: bool = param(False, "condition on the label with a projection term <embed(y), h(x)>")
    aux_classifier: bool = param(False, "add a class-prediction head (AC-GAN)")


# -- objectives -------------------------------------------------------------------------------
@config
class MinimaxConfig:
    """Minimax GAN (Goodfellow et al. 2014): V = E log D(x) + E log(1 - D(G(z)))."""

    non_saturating: bool = param(False, "generator minimises -E log D(G(z)) instead of E log(1 - D(G(z)))")
    real_label: float = param(
        1.0,
        "critic's target for real samples; below 1 is one-sided label smoothing "
        "(Salimans et al. 2016), which keeps D(x) from saturating",
        v.and_(v.gt(0.5), v.le(1)),
    )


@config
class WassersteinConfig:
    """Wasserstein GAN (Arjovsky et al. 2017): V = E D(x) - E D(G(z)), critic weights clipped to [-clip, clip]."""

    clip: float = param(
        0.01, "clipping bound c applied after every critic step (paper: 0.01; report: 0.001)", open_range(0, 100)
    )
    clip_norm_layers: bool = param(
        True,
        "clip the scale and shift of normalisation layers too (the paper clips every parameter); false "
        "clips only convolution, linear and embedding weights, so a tiny c does not shrink every feature to c",
    )


@config
class WassersteinGPConfig:
    """WGAN with gradient penalty (Gulrajani et al. 2017): weight * E(||grad D(x_hat)|| - 1)^2, no clipping."""

    weight: float = param(10.0, "penalty weight lambda (paper: 10)", in_range(0, 1e6))
