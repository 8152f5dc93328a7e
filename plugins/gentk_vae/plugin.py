"""Registers the VAE family: networks, objectives, the `vae` model and the `nll` metric."""

from gentk.families.vae import LatentVariableModel, VAEObjective
from gentk.hookspecs import hookimpl
from gentk.registry import lazy
from gentk_vae.configs import (
    BetaELBOConfig,
    ConvDecoderConfig,
    ConvEncoderConfig,
    ConvGaussianDecoderConfig,
    ELBOConfig,
    IWAEConfig,
    MLPDecoderConfig,
    MLPEncoderConfig,
    MLPGaussianDecoderConfig,
    NLLConfig,
    VAEConfig,
)


@hookimpl
def gentk_register_encoders(register):
    register("mlp_gaussian", lazy("gentk_vae.networks:mlp_encoder"), MLPEncoderConfig)
    register("conv_gaussian", lazy("gentk_vae.networks:conv_encoder"), ConvEncoderConfig)


@hookimpl
def gentk_register_decoders(register):
    register("mlp_bernoulli", lazy("gentk_vae.networks:mlp_bernoulli"), MLPDecoderConfig)
    register("mlp_gaussian", lazy("gentk_vae.networks:mlp_gaussian"), MLPGaussianDecoderConfig)
    register("conv_bernoulli", lazy("gentk_vae.networks:conv_bernoulli"), ConvDecoderConfig)
    register("conv_gaussian", lazy("gentk_vae.networks:conv_gaussian"), ConvGaussianDecoderConfig)


@hookimpl
def gentk_register_objectives(register):
    register("elbo", lazy("gentk_vae.objectives:elbo"), ELBOConfig, provides=(VAEObjective,))
    register("beta_elbo", lazy("gentk_vae.objectives:beta_elbo"), BetaELBOConfig, provides=(VAEObjective,))
    register("iwae", lazy("gentk_vae.objectives:IWAE"), IWAEConfig, provides=(VAEObjective,))


@hookimpl
def gentk_register_models(register):
    register("vae", lazy("gentk_vae.model:VAE"), VAEConfig, provides=(LatentVariableModel,))


@hookimpl
def gentk_register_metrics(register):
    register("nll", lazy("gentk_vae.metrics:ImportanceNLL"), NLLConfig, requires=(LatentVariableModel,))
