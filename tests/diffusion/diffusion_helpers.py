"""Tiny components for fast diffusion tests."""

import torch

from gentk.interfaces import BuildContext, DataInfo
from gentk.recipe import resolve_component

TINY_UNET = {
    "use": "unet",
    "channels": 8,
    "channel_mult": [1, 2],
    "num_res_blocks": 1,
    "attention_resolutions": [4],
    "num_heads": 2,
    "norm_groups": 4,
    "dropout": 0.0,
}


def build_schedule(name: str = "linear", **options):
    return resolve_component("schedule", {"use": name, **options}).build()


def build_model(num_classes: int = 0, shape=(1, 8, 8), **options):
    table = {
        "use": "ddpm",
        "denoiser": TINY_UNET,
        "schedule": {"use": "linear", "num_steps": 20},
        "conditional": num_classes > 0,
        "sampler": {"use": "ddim", "steps": 5},
        "trajectory_steps": [20, 7, 0],  # noise, partly denoised, the sample: within T = 20
        **({"objective": {"use": "ddpm", "p_uncond": 0.1}} if num_classes > 0 else {}),
        **options,
    }
    spec = resolve_component("model", table)
    return spec.build(BuildContext(DataInfo(shape, num_classes=num_classes), torch.device("cpu")))
