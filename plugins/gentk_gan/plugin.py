"""Registers the GAN family: the `gan` model, generators, critics and adversarial objectives."""

from gentk.families.gan import AdversarialObjective
from gentk.hookspecs import hookimpl
from gentk.registry import lazy
from gentk_gan.configs import (
    ConvCriticConfig,
    ConvGeneratorConfig,
    DCGANCriticConfig,
    GANConfig,
    MinimaxConfig,
    MLPCriticConfig,
    MLPGeneratorConfig,
    WassersteinConfig,
    WassersteinGPConfig,
)


# -- hooks ------------------------------------------------------------------------------------
@hookimpl
def gentk_register_models(register):
    register("gan", lazy("gentk_gan.model:GAN"), GANConfig)


@hookimpl
def gentk_register_generators(register):
    register("mlp", lazy("gentk_gan.networks:MLPGenerator"), MLPGeneratorConfig)
    register("conv", lazy("gentk_gan.networks:ConvGenerator"), ConvGeneratorConfig)


@hookimpl
def gentk_register_critics(register):
    register("mlp", lazy("gentk_gan.networks:MLPCritic"), MLPCriticConfig)
    register("conv", lazy("gentk_gan.networks:ConvCritic"), ConvCriticConfig)
    register("dcgan", lazy("gentk_gan.networks:DCGANCritic"), DCGANCriticConfig)


@hookimpl
def gentk_register_objectives(register):
    register("gan", lazy("gentk_gan.objectives:Minimax"), MinimaxConfig, provides=(AdversarialObjective,))
    register("wgan", lazy("gentk_gan.objectives:Wasserstein"), WassersteinConfig, provides=(AdversarialObjective,))
    register(
        "wgan_gp", lazy("gentk_gan.objectives:WassersteinGP"), WassersteinGPConfig, provides=(AdversarialObjective,)
    )
