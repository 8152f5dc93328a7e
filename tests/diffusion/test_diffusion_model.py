"""The `ddpm` model, its EMA, the `vlb` metric, and a tiny end-to-end run."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from gentk.errors import GentkError
from gentk.families.diffusion import DiffusionModel
from gentk.interfaces import Batch, HasExtraState, HasFigures, Model, Split, StepContext
from gentk.recipe import resolve_component
from gentk_diffusion.ema import EMA
from gentk_diffusion.vlb import discretized_gaussian_log_likelihood, strata

from .diffusion_helpers import TINY_UNET, build_model


def step_ctx():
    import contextlib

    return StepContext(step=0, epoch=0, autocast=contextlib.nullcontext, device=torch.device("cpu"))


def test_model_implements_the_engine_contract():
    model = build_model(num_classes=3)
    assert isinstance(model, Model) and isinstance(model, HasExtraState) and isinstance(model, HasFigures)
    assert isinstance(model, DiffusionModel) and model.grid_columns is None
    batch = Batch(torch.rand(6, 1, 8, 8), torch.tensor([0, 1, 2, 0, 1, 2]))
    before = [p.clone() for p in model.denoiser.parameters()]
    out = model.train_step(batch, step_ctx())
    assert math.isfinite(out["loss"]) and out["loss"] > 0
    assert any(not torch.equal(a, b) for a, b in zip(before, model.denoiser.parameters(), strict=True))
    assert model.extra_state()["ema"]["updates"] == 1


def test_conditional_sample_without_labels_draws_a_row_per_class(gen):
    model = build_model(num_classes=3)
    images = model.sample(7, generator=gen)  # rounded to 6: two per class
    assert images.shape == (6, 1, 8, 8) and images.min() >= 0 and images.max() <= 1
    assert model.grid_columns == 2


def test_sampling_options(gen):
    model = build_model(num_classes=3)
    a = model.sample(
        4, generator=torch.Generator().manual_seed(1), labels=torch.tensor(2), sampler="ddim", steps=4, guidance=3.0
    )
    b = model.sample(4, generator=torch.Generator().manual_seed(1), labels=2, sampler="ddim", steps=4, guidance=3.0)
    assert a.shape == (4, 1, 8, 8) and torch.equal(a, b)
    assert model.sample(2, generator=gen, sampler="ancestral", labels=[0, 1]).shape == (2, 1, 8, 8)
    with pytest.raises(GentkError, match="temperature"):
        model.sample(2, generator=gen, temperature=2.0)
    with pytest.raises(GentkError, match="labels"):
        model.sample(2, generator=gen, labels=torch.tensor([0, 5]))
    with pytest.raises(GentkError):
        model.sample(2, generator=gen, sampler="langevin")  # the probability tools' sampler, not a diffusion one


def test_a_sampler_named_at_run_time_must_be_a_diffusion_sampler(gen):
    """Catches the model building whatever sampler is named and failing inside it, instead of
    the resolver's error naming the samplers that fit."""
    model = build_model()
    with pytest.raises(GentkError) as info:
        model.sample(2, generator=gen, sampler="langevin")
    assert "samplers that fit: ancestral, ddim, ddpm_langevin" in info.value.render()


def test_unconditional_model_rejects_labels_and_guidance(gen):
    model = build_model()
    assert model.sample(3, generator=gen).shape == (3, 1, 8, 8)
    with pytest.raises(GentkError, match="guidance"):
        model.sample(2, generator=gen, guidance=1.0)
    with pytest.raises(GentkError, match="unconditional"):
        model.sample(2, generator=gen, labels=1)


def test_trajectory_figure_is_one_grid_of_samples_by_steps(gen):
    model = build_model(num_classes=2, trajectory_steps=[19, 10, 0], trajectory_samples=3)
    fig = model.figures(Batch(torch.rand(2, 1, 8, 8)), generator=gen)["trajectory"]
    # 3 rows (samples) by 3 columns (steps) of 8x8 images with 2-pixel padding
    assert fig.shape == (1, 3, 3 * 10 + 2, 3 * 10 + 2)


def test_conditional_model_needs_labels():
    with pytest.raises(GentkError, match="labelled"):
        build_model(num_classes=0, conditional=True)


@given(st.floats(0.5, 0.9999), st.integers(0, 30))
def test_ema_is_a_moving_average(decay, updates):
    torch.manual_seed(0)  # the same network on every example, so hypothesis can replay failures
    net = torch.nn.Linear(2, 2)
    ema = EMA(net, decay)
    ema.updates = updates
    old = ema.shadow.weight.clone()
    with torch.no_grad():
        net.weight.add_(1.0)
    d = ema.current_decay()
    ema.update()
    assert d == min(decay, (1 + updates) / (10 + updates))
    assert torch.allclose(ema.shadow.weight, d * old + (1 - d) * net.weight, atol=1e-6)  # lerp rounds differently


@given(st.floats(-1.2, 1.2), st.floats(-9, 1))
def test_discretised_gaussian_sums_to_one_over_the_levels(mean, log_var):
    levels = torch.linspace(-1, 1, 256, dtype=torch.float64)
    logp = discretized_gaussian_log_likelihood(
        levels, torch.tensor(mean, dtype=torch.float64), torch.tensor(log_var, dtype=torch.float64)
    )
    assert abs(logp.exp().sum().item() - 1) < 1e-6


@given(st.integers(1, 300), st.integers(1, 300))
def test_strata_cover_the_sum_with_the_right_weights(num_terms, k):
    t, w = strata(num_terms, k, 5, torch.Generator().manual_seed(0))
    assert w.sum() == num_terms
    assert t.min() >= 1 and t.max() <= num_terms
    if k >= num_terms:
        assert torch.equal(t[:, 0], torch.arange(1, num_terms + 1))


def test_vlb_subsampled_estimate_agrees_with_the_exact_bound():
    torch.manual_seed(0)
    model = build_model()
    for p in model.denoiser.parameters():
        torch.nn.init.normal_(p, std=0.05)
    model.ema.load_state_dict({"weights": model.denoiser.state_dict(), "updates": 0})
    data = Split((torch.rand(4, 1, 8, 8) * 255).to(torch.uint8))
    info = model.info

    def run(timesteps, seed):
        metric = resolve_component("metric", {"use": "vlb", "n_examples": 4, "timesteps": timesteps}).build()
        return metric.evaluate(model, data, info, generator=torch.Generator().manual_seed(seed))

    exact = run(None, 0)
    assert exact["bpd"] > 0 and exact["bpd_stderr"] > 0
    assert math.isclose(exact["bpd"], exact["prior_bpd"] + exact["diffusion_bpd"] + exact["decoder_bpd"], rel_tol=1e-5)
    sub = [run(3, seed)["diffusion_bpd"] for seed in range(12)]
    mean = sum(sub) / len(sub)
    spread = (sum((s - mean) ** 2 for s in sub) / (len(sub) - 1)) ** 0.5
    assert abs(mean - exact["diffusion_bpd"]) < 3 * spread / len(sub) ** 0.5 + 0.05 * exact["diffusion_bpd"]


def write_digits(root, size=8, per_class=12):
    """A tiny labelled image folder: class 0 dark squares with a bright bar, class 1 the transpose."""
    from PIL import Image

    for label in range(2):
        (root / str(label)).mkdir(parents=True)
        for i in range(per_class):
            img = torch.zeros(size, size, dtype=torch.uint8)
            img[:, 2 + i % 3] = 255
            img = img.T if label else img
            Image.fromarray(img.numpy()).save(root / str(label) / f"{i}.png")


def test_tiny_end_to_end_run(tmp_path):
    import gentk.api as gk

    write_digits(tmp_path / "digits")
    recipe = gk.load(str(_recipe(tmp_path)))
    run = gk.train(recipe, out=tmp_path / "runs", name="cfg")
    losses = [r["loss"] for r in run.metrics() if "loss" in r and r.get("kind") != "eval"]
    assert losses and all(math.isfinite(x) for x in losses)
    images = run.sample(4, labels=torch.tensor(1), sampler="ddim", steps=3, guidance=2.0)
    assert images.shape == (4, 1, 8, 8)
    grid = run.save_samples(4, tmp_path / "grid.png", sampler="ddim", steps=3)
    assert grid.exists()
    result = run.evaluate("vlb", n_examples=2, timesteps=3)
    assert result["bpd"] > 0
    assert (run.path / "figures" / "trajectory_epoch001.png").exists()
    assert (run.path / "figures" / "samples_epoch001.png").exists()


def test_ddpm_training_has_no_host_sync_between_log_points(tmp_path, monkeypatch):
    """Catches `loss.item()` or a gradient norm turned into a float every step of DDPM training."""
    import gentk.api as gk
    from gentk import engine
    from tests.syncs import assert_syncs_only_at_readings, record_host_syncs

    monkeypatch.setattr(engine, "LOG_EVERY", 2)
    write_digits(tmp_path / "digits", per_class=40)
    recipe = gk.load(str(_recipe(tmp_path)), overrides=["run.epochs=1", "run.n_samples=0", "model.grad_clip=1.0"])
    calls = record_host_syncs(monkeypatch)
    run = gk.train(recipe, out=tmp_path / "runs", name="cfg")
    steps = run.metrics("epoch")[0]["step"]
    assert steps > 2 * engine.LOG_EVERY
    assert_syncs_only_at_readings(calls, steps)


def test_ema_updates_every_step_under_two_processes(tmp_path, train_two_processes):
    write_digits(tmp_path / "digits")
    run = train_two_processes(tmp_path / "runs", str(_recipe(tmp_path)), "--set", "run.epochs=1", "--set", "metrics=[]")
    state = run.load_checkpoint()
    ema, weights = state["extra"]["ema"], state["networks"]["denoiser"]
    assert ema["updates"] == state["position"]["step"] > 0
    moved = [k for k in weights if weights[k].is_floating_point() and not torch.equal(ema["weights"][k], weights[k])]
    assert moved and all(torch.isfinite(ema["weights"][k]).all() for k in moved)


def _recipe(tmp_path):
    text = f"""
description = "tiny conditional DDPM"
[run]
epochs = 2
batch_size = 8
n_samples = 4
device = "cpu"
[data]
use = "image_folder"
path = "{tmp_path / "digits"}"
test_fraction = 0.25
[model]
use = "ddpm"
conditional = true
guidance = 1.0
ema_decay = 0.9
trajectory_steps = [19, 5, 0]
trajectory_samples = 2
[model.denoiser]
{chr(10).join(f"{k} = {v!r}".replace("'", '"') for k, v in TINY_UNET.items())}
[model.schedule]
use = "cosine"
num_steps = 20
[model.objective]
use = "ddpm"
p_uncond = 0.2
[model.sampler]
use = "ddim"
steps = 4
[[metrics]]
use = "vlb"
n_examples = 2
timesteps = 2
"""
    path = tmp_path / "tiny.toml"
    path.write_text(text.replace("True", "true").replace("False", "false"))
    return path
