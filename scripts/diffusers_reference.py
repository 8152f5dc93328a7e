"""Reference trajectories of diffusers' schedulers for gentk's sampler check (run by hand).

    pip install diffusers          # into the venv, for this script only: not a gentk dependency
    python scripts/diffusers_reference.py

For each case of tests/diffusion/reference_cases.py it builds the diffusers scheduler that
matches a gentk sampler, replaces its alpha-bars by gentk's float64 ones (diffusers keeps them in
float32, whose 1 - abar near t = 0 is off by ~1e-4 relative: the check is of the stepping rules,
not of float32 tables), runs it on the stand-in network from the same seeded noise, and writes
the visited steps and the variance-preserving state after every step (x_t; sigma-space states
divided by sqrt(1 + sigma^2)) to tests/diffusion/reference/samplers.json, which
tests/diffusion/test_diffusion_reference.py compares gentk's trajectories against (1e-5 relative).

Conventions the cases pin down (see gentk_diffusion.samplers): the sigma-space start is
z sqrt(1 + sigma_max^2) for z ~ N(0, I) (diffusers' init_noise_sigma is sigma_max for linspace
and trailing spacing, so the script scales the start itself); DDIM with linspace spacing is left
out (diffusers steps to t - T//N there, not to the next visited step); DPM-Solver++ with Karras
levels is given its fractional steps (diffusers truncates them to integers for the network); Euler-ancestral has no
Karras option in diffusers and is checked without it.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import diffusers  # noqa: E402

from gentk.recipe import resolve_component  # noqa: E402
from tests.diffusion.reference_cases import CASES, DPM_COMMON, SCHEDULE, SHAPE, SIGMA_SPACE, stand_in  # noqa: E402

OUT = ROOT / "tests" / "diffusion" / "reference" / "samplers.json"
SEED = 1234


def scheduler(name: str, config: dict, abar: torch.Tensor):
    common = {
        "num_train_timesteps": SCHEDULE["num_steps"],
        "beta_start": SCHEDULE["beta_start"],
        "beta_end": SCHEDULE["beta_end"],
        "beta_schedule": "linear",
    }
    extra = DPM_COMMON if name == "DPMSolverMultistepScheduler" else {}
    sched = getattr(diffusers, name)(**{**common, **extra, **config})
    sched.alphas_cumprod = abar.clone()
    if name == "DPMSolverMultistepScheduler":
        sched.alpha_t = abar.sqrt()
        sched.sigma_t = (1 - abar).sqrt()
        sched.lambda_t = sched.alpha_t.log() - sched.sigma_t.log()
    return sched


def run(name: str, config: dict, step_kwargs: dict, steps: int, abar: torch.Tensor) -> dict:
    sched = scheduler(name, config, abar)
    sched.set_timesteps(steps)
    if name == "DPMSolverMultistepScheduler" and config.get("use_karras_sigmas"):
        # diffusers truncates these steps to integers for the network; use its own fractional ones
        log_sigmas = ((1 - abar) / abar).sqrt().log().numpy()
        fractional = [float(sched._sigma_to_t(s.double().numpy(), log_sigmas)) for s in sched.sigmas[:-1]]
        sched.timesteps = torch.tensor(fractional, dtype=torch.float32)
    gen = torch.Generator().manual_seed(SEED)
    z = torch.randn(SHAPE, generator=gen)
    sigma_space = name in SIGMA_SPACE
    x = z * math.sqrt(1 + float(sched.sigmas[0]) ** 2) if sigma_space else z.clone()
    timesteps = sched.timesteps.tolist()
    states = []
    for i, t in enumerate(sched.timesteps):
        inp = sched.scale_model_input(x, t)
        eps = stand_in(inp, t.reshape(1).expand(SHAPE[0]))
        kwargs = dict(step_kwargs)
        if name != "HeunDiscreteScheduler":
            kwargs["generator"] = gen
        x = sched.step(eps, t, x, **kwargs).prev_sample
        if name == "HeunDiscreteScheduler" and not (i % 2 == 1 or i == len(timesteps) - 1):
            continue  # the first half of a Heun step
        if sigma_space:
            sigma = float(sched.sigmas[sched.step_index]) if sched.step_index < len(sched.sigmas) else 0.0
            states.append((x / math.sqrt(1 + sigma**2)).tolist())
        else:
            states.append(x.tolist())
    if name == "HeunDiscreteScheduler":
        timesteps = [timesteps[0]] + timesteps[1::2]
    return {"timesteps": timesteps, "start": z.tolist(), "states": states}


def main() -> None:
    schedule = resolve_component("schedule", SCHEDULE).build()
    abar = schedule.alpha_bar(torch.arange(SCHEDULE["num_steps"])).double()
    cases = {}
    for case, (gentk, name, config, step_kwargs) in CASES.items():
        cases[case] = {"gentk": gentk, "diffusers": {"scheduler": name, **config, **step_kwargs}}
        cases[case].update(run(name, config, step_kwargs, gentk["steps"], abar))
        print(f"{case}: {len(cases[case]['states'])} states")
    data = {
        "generated_by": "scripts/diffusers_reference.py",
        "diffusers": diffusers.__version__,
        "torch": torch.__version__,
        "seed": SEED,
        "shape": list(SHAPE),
        "schedule": SCHEDULE,
        "cases": cases,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(data, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
