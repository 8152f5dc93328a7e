"""Registers the diffusion family: schedules, the U-Net denoiser, the L_simple objective, the
ancestral / DDIM / predictor-corrector samplers, the `ddpm` model and the `vlb` metric."""

from gentk.families.diffusion import DiffusionModel, DiffusionObjective, DiffusionSampler
from gentk.hookspecs import hookimpl
from gentk.registry import lazy
from gentk_diffusion.configs import (
    AncestralConfig,
    CosineScheduleConfig,
    DDIMConfig,
    DDPMConfig,
    DDPMObjectiveConfig,
    LinearScheduleConfig,
    PredictorCorrectorConfig,
    UNetConfig,
    VLBConfig,
)


@hookimpl
def gentk_register_schedules(register):
    register("linear", lazy("gentk_diffusion.schedules:linear"), LinearScheduleConfig)
    register("cosine", lazy("gentk_diffusion.schedules:cosine"), CosineScheduleConfig)


@hookimpl
def gentk_register_denoisers(register):
    register("unet", lazy("gentk_diffusion.unet:build_unet"), UNetConfig)


@hookimpl
def gentk_register_objectives(register):
    register(
        "ddpm", lazy("gentk_diffusion.objective:DDPMObjective"), DDPMObjectiveConfig, provides=(DiffusionObjective,)
    )


@hookimpl
def gentk_register_samplers(register):
    register(
        "ancestral", lazy("gentk_diffusion.samplers:AncestralSampler"), AncestralConfig, provides=(DiffusionSampler,)
    )
    register("ddim", lazy("gentk_diffusion.samplers:DDIMSampler"), DDIMConfig, provides=(DiffusionSampler,))
    register(
        "ddpm_langevin",
        lazy("gentk_diffusion.samplers:PredictorCorrectorSampler"),
        PredictorCorrectorConfig,
        provides=(DiffusionSampler,),
    )


@hookimpl
def gentk_register_models(register):
    register("ddpm", lazy("gentk_diffusion.model:DDPM"), DDPMConfig, provides=(DiffusionModel,))


@hookimpl
def gentk_register_metrics(register):
    register("vlb", lazy("gentk_diffusion.vlb:VLB"), VLBConfig, requires=(DiffusionModel,))
