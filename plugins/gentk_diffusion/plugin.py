"""Registers the diffusion family: schedules, the U-Net denoiser, the L_simple objective (epsilon,
x0 or v prediction; uniform, min-SNR or VLB weighting), the ancestral / DDIM / predictor-corrector
/ Euler / Euler-ancestral / Heun / DPM-Solver++ 2M samplers, the `ddpm` model and the `vlb` metric."""

from gentk.families.diffusion import DiffusionModel, DiffusionObjective, DiffusionSampler
from gentk.hookspecs import hookimpl
from gentk.registry import lazy
from gentk_diffusion.configs import (
    AncestralConfig,
    CosineScheduleConfig,
    DDIMConfig,
    DDPMConfig,
    DDPMObjectiveConfig,
    DPMSolverConfig,
    EulerAncestralConfig,
    EulerConfig,
    HeunConfig,
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
    register("euler", lazy("gentk_diffusion.samplers:EulerSampler"), EulerConfig, provides=(DiffusionSampler,))
    register(
        "euler_ancestral",
        lazy("gentk_diffusion.samplers:EulerAncestralSampler"),
        EulerAncestralConfig,
        provides=(DiffusionSampler,),
    )
    register("heun", lazy("gentk_diffusion.samplers:HeunSampler"), HeunConfig, provides=(DiffusionSampler,))
    register(
        "dpmpp_2m", lazy("gentk_diffusion.samplers:DPMSolverSampler"), DPMSolverConfig, provides=(DiffusionSampler,)
    )


@hookimpl
def gentk_register_models(register):
    register("ddpm", lazy("gentk_diffusion.model:DDPM"), DDPMConfig, provides=(DiffusionModel,))


@hookimpl
def gentk_register_metrics(register):
    register("vlb", lazy("gentk_diffusion.vlb:VLB"), VLBConfig, requires=(DiffusionModel,))
