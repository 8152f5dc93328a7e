"""The cases of the independent sampler check, shared by `scripts/diffusers_reference.py` (which
runs diffusers' schedulers on them once and writes tests/diffusion/reference/samplers.json) and
`test_diffusion_reference.py` (which runs gentk's samplers on them). No diffusers import here.

Every case: the linear schedule (T = 1000, betas 1e-4 .. 0.02), a batch of 2 images (1, 4, 4),
the start noise and every later noise draw from one torch generator seeded with `seed` (gentk
and diffusers draw the same shapes in the same order, so their noises are identical), and the
deterministic stand-in network `stand_in`.
"""

from __future__ import annotations

import torch

SHAPE = (2, 1, 4, 4)
SCHEDULE = {"use": "linear", "num_steps": 1000, "beta_start": 1e-4, "beta_end": 0.02}


def stand_in(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """eps(x, t) = 0.1 x cos(t / 100) + 0.01 sin(t), a pure function of the input and the (possibly
    fractional) step index, evaluated in float64 and returned in float32."""
    tt = t.double().reshape((-1,) + (1,) * (x.dim() - 1))
    return (0.1 * x.double() * torch.cos(tt / 100) + 0.01 * torch.sin(tt)).float()


# name: (gentk sampler table, diffusers scheduler class, its config, step keyword arguments).
# DDIM: diffusers steps from t to t - T//N, so only spacings where that is the next visited step
# (leading; trailing with N dividing T); gentk recomputes eps from a clipped x0, diffusers'
# use_clipped_model_output.
CASES: dict[str, tuple[dict, str, dict, dict]] = {
    "ancestral_leading_beta": (
        {"use": "ancestral", "steps": 10, "spacing": "leading", "variance": "beta", "clip_denoised": True},
        "DDPMScheduler",
        {"timestep_spacing": "leading", "variance_type": "fixed_large", "clip_sample": True},
        {},
    ),
    "ancestral_linspace_beta_tilde": (
        {"use": "ancestral", "steps": 12, "spacing": "linspace", "variance": "beta_tilde", "clip_denoised": True},
        "DDPMScheduler",
        {"timestep_spacing": "linspace", "variance_type": "fixed_small", "clip_sample": True},
        {},
    ),
    "ancestral_trailing_beta_tilde_noclip": (
        {"use": "ancestral", "steps": 10, "spacing": "trailing", "variance": "beta_tilde", "clip_denoised": False},
        "DDPMScheduler",
        {"timestep_spacing": "trailing", "variance_type": "fixed_small", "clip_sample": False},
        {},
    ),
    "ddim_leading_clip": (
        {"use": "ddim", "steps": 10, "spacing": "leading", "eta": 0.0, "clip_denoised": True},
        "DDIMScheduler",
        {"timestep_spacing": "leading", "clip_sample": True, "set_alpha_to_one": True},
        {"eta": 0.0, "use_clipped_model_output": True},
    ),
    "ddim_trailing_eta1": (
        {"use": "ddim", "steps": 20, "spacing": "trailing", "eta": 1.0, "clip_denoised": False},
        "DDIMScheduler",
        {"timestep_spacing": "trailing", "clip_sample": False, "set_alpha_to_one": True},
        {"eta": 1.0},
    ),
    "ddim_leading_dynamic_threshold": (
        {"use": "ddim", "steps": 10, "spacing": "leading", "clip_denoised": False, "dynamic_threshold": 0.9},
        "DDIMScheduler",
        {
            "timestep_spacing": "leading",
            "clip_sample": False,
            "set_alpha_to_one": True,
            "thresholding": True,
            "dynamic_thresholding_ratio": 0.9,
            "sample_max_value": 1e9,
        },
        {"eta": 0.0, "use_clipped_model_output": True},
    ),
    "euler_linspace": (
        {"use": "euler", "steps": 15, "spacing": "linspace", "clip_denoised": False},
        "EulerDiscreteScheduler",
        {"timestep_spacing": "linspace"},
        {},
    ),
    "euler_leading": (
        {"use": "euler", "steps": 10, "spacing": "leading", "clip_denoised": False},
        "EulerDiscreteScheduler",
        {"timestep_spacing": "leading"},
        {},
    ),
    "euler_trailing": (
        {"use": "euler", "steps": 10, "spacing": "trailing", "clip_denoised": False},
        "EulerDiscreteScheduler",
        {"timestep_spacing": "trailing"},
        {},
    ),
    "euler_karras": (
        {"use": "euler", "steps": 15, "spacing": "linspace", "karras": True, "clip_denoised": False},
        "EulerDiscreteScheduler",
        {"timestep_spacing": "linspace", "use_karras_sigmas": True},
        {},
    ),
    "euler_karras_trailing": (
        {"use": "euler", "steps": 12, "spacing": "trailing", "karras": True, "clip_denoised": False},
        "EulerDiscreteScheduler",
        {"timestep_spacing": "trailing", "use_karras_sigmas": True},
        {},
    ),
    "euler_ancestral_linspace": (
        {"use": "euler_ancestral", "steps": 15, "spacing": "linspace", "clip_denoised": False},
        "EulerAncestralDiscreteScheduler",
        {"timestep_spacing": "linspace"},
        {},
    ),
    "euler_ancestral_trailing": (
        {"use": "euler_ancestral", "steps": 10, "spacing": "trailing", "clip_denoised": False},
        "EulerAncestralDiscreteScheduler",
        {"timestep_spacing": "trailing"},
        {},
    ),
    "heun_linspace": (
        {"use": "heun", "steps": 10, "spacing": "linspace", "clip_denoised": False, "second_order_max_sigma": None},
        "HeunDiscreteScheduler",
        {"timestep_spacing": "linspace"},
        {},
    ),
    "heun_karras": (
        {
            "use": "heun",
            "steps": 10,
            "spacing": "linspace",
            "karras": True,
            "clip_denoised": False,
            "second_order_max_sigma": None,
        },
        "HeunDiscreteScheduler",
        {"timestep_spacing": "linspace", "use_karras_sigmas": True},
        {},
    ),
    "heun_trailing": (
        {"use": "heun", "steps": 8, "spacing": "trailing", "clip_denoised": False, "second_order_max_sigma": None},
        "HeunDiscreteScheduler",
        {"timestep_spacing": "trailing"},
        {},
    ),
    "dpmpp_2m_linspace": (
        {"use": "dpmpp_2m", "steps": 15, "spacing": "linspace", "clip_denoised": False},
        "DPMSolverMultistepScheduler",
        {"timestep_spacing": "linspace"},
        {},
    ),
    "dpmpp_2m_leading": (
        {"use": "dpmpp_2m", "steps": 10, "spacing": "leading", "clip_denoised": False},
        "DPMSolverMultistepScheduler",
        {"timestep_spacing": "leading"},
        {},
    ),
    "dpmpp_2m_trailing": (
        {"use": "dpmpp_2m", "steps": 10, "spacing": "trailing", "clip_denoised": False},
        "DPMSolverMultistepScheduler",
        {"timestep_spacing": "trailing"},
        {},
    ),
    "dpmpp_2m_karras": (
        {"use": "dpmpp_2m", "steps": 20, "spacing": "linspace", "karras": True, "clip_denoised": False},
        "DPMSolverMultistepScheduler",
        # diffusers gives the network the Karras steps truncated to integers; the script passes the
        # fractional steps (its own _sigma_to_t of its sigmas), as k-diffusion and gentk do
        {"timestep_spacing": "linspace", "use_karras_sigmas": True},
        {},
    ),
}
DPM_COMMON = {
    "algorithm_type": "dpmsolver++",
    "solver_order": 2,
    "solver_type": "midpoint",
    "final_sigmas_type": "zero",
}
SIGMA_SPACE = ("EulerDiscreteScheduler", "EulerAncestralDiscreteScheduler", "HeunDiscreteScheduler")
