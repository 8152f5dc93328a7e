"""gentk's samplers against diffusers' schedulers on a fixed stand-in network (reference values in
reference/samplers.json, written once by scripts/diffusers_reference.py; diffusers is not needed
here)."""

import json
from pathlib import Path

import pytest
import torch

from gentk.recipe import resolve_component

from .reference_cases import CASES, SCHEDULE, SHAPE, stand_in

REFERENCE = json.loads((Path(__file__).parent / "reference" / "samplers.json").read_text())
RTOL = 1e-5


@pytest.fixture(scope="module")
def schedule():
    return resolve_component("schedule", SCHEDULE).build()


def test_the_reference_file_covers_every_case_and_its_noise_is_torchs():
    """Catches a reference file out of date with reference_cases.py (a case added or changed
    without rerunning the script), and a torch whose seeded generator no longer draws the noise
    the reference was made with (then every stochastic case below would fail for that reason)."""
    assert set(REFERENCE["cases"]) == set(CASES)
    for name, (table, *_) in CASES.items():
        assert REFERENCE["cases"][name]["gentk"] == table
    start = torch.randn(SHAPE, generator=torch.Generator().manual_seed(REFERENCE["seed"]))
    assert torch.equal(start, torch.tensor(REFERENCE["cases"]["euler_linspace"]["start"]))


@pytest.mark.parametrize("case", sorted(CASES))
def test_sampler_trajectory_matches_diffusers(case, schedule):
    """Each gentk sampler, run on the stand-in eps(x, t) = 0.1 x cos(t/100) + 0.01 sin(t) from the
    same seeded noise, visits the steps diffusers' matching scheduler visits (spacing: leading /
    linspace / trailing; Karras levels) and passes through the same states to 1e-5 relative.
    Catches a wrong spacing or Karras grid, a wrong sigma at fractional steps, a sigma-space
    scaling error (x = x_t sqrt(1 + sigma^2)), an off-by-one in respaced betas, a wrong DDIM eta
    noise or ancestral variance, clipping or dynamic thresholding applied differently, Heun's
    second evaluation at the wrong level, and DPM-Solver++'s multistep correction or its
    first/last-order steps done differently."""
    ref = REFERENCE["cases"][case]
    sampler = resolve_component("sampler", CASES[case][0]).build()
    got = [float(t) for t in sampler.timesteps(schedule)]
    assert torch.allclose(
        torch.tensor(got, dtype=torch.float32),
        torch.tensor(ref["timesteps"], dtype=torch.float32),
        rtol=1e-6,
        atol=1e-4,
    )
    states = []
    gen = torch.Generator().manual_seed(REFERENCE["seed"])
    sampler.sample(stand_in, schedule, SHAPE, generator=gen, on_step=lambda time, x: states.append(x.clone()))
    want = [torch.tensor(s) for s in ref["states"]]
    assert len(states) == len(want) + 1  # the start, then one state per step
    assert torch.equal(states[0], torch.tensor(ref["start"]))
    for i, (a, b) in enumerate(zip(states[1:], want, strict=True)):
        scale = b.abs().max().clamp(min=1e-3)
        err = ((a - b).abs() / (b.abs() + scale)).max().item()
        assert err < RTOL, f"{case}: step {i} differs by {err:.2e} (relative)"
