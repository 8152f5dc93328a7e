"""Divergence and non-finite values stop training, sampling and evaluation with an error."""

import math

import pytest
import torch

from gentk import api, engine
from gentk.cli import main
from gentk.errors import NumericalError, RecipeError
from gentk.recipe import load_recipe
from gentk.rundir import RunDir

SMALL = ["run.epochs=3", "data.n_train=256", "data.n_test=64", "run.n_samples=0", "metrics.0.k=4"]  # 4 steps/epoch


def patch_step(monkeypatch, change):
    """Let `change(model, figures, ctx)` alter the model and figures after every train step."""
    original = engine.build_model

    def build(recipe, info, device):
        model = original(recipe, info, device)
        inner = model.train_step

        def train_step(batch, ctx):
            return change(model, dict(inner(batch, ctx)), ctx)

        model.train_step = train_step
        return model

    monkeypatch.setattr(engine, "build_model", build)


def only_run(folder) -> RunDir:
    [path] = list(folder.iterdir())
    return RunDir(path)


def all_finite(state) -> bool:
    return all(bool(torch.isfinite(t).all()) for net in state["networks"].values() for t in net.values())


def test_an_infinite_gradient_norm_stops_the_run(tmp_path, monkeypatch):
    """Catches a non-finite figure that is lost in the device-side sums or checked only after the
    epoch's checkpoint: figures are read at the epoch's end (step 8) and the run stops before saving."""
    patch_step(monkeypatch, lambda m, f, ctx: {**f, "grad_norm": math.inf if ctx.step == 6 else 1.0})
    with pytest.raises(NumericalError, match=r"the grad_norm became inf at epoch 2, within steps 5-8") as info:
        api.train("vae_toy", overrides=SMALL, out=tmp_path)
    assert "the last checkpoint, at step 4 (1 epoch done), is kept" in info.value.message
    run = only_run(tmp_path)
    assert run.status()["status"] == "failed"
    assert run.load_checkpoint()["position"]["step"] == 4


def test_a_loss_above_max_loss_stops_the_run(tmp_path, monkeypatch):
    patch_step(monkeypatch, lambda m, f, ctx: {**f, "loss": 1e23 if ctx.step >= 5 else f["loss"]})
    with pytest.raises(NumericalError, match=r"above run.max_loss = 1e\+06.*diverged"):
        api.train("vae_toy", overrides=[*SMALL, "run.max_loss=1e6"], out=tmp_path)


def test_non_finite_weights_are_never_saved(tmp_path, monkeypatch):
    def poison(model, figures, ctx):
        if ctx.step == 7:  # the epoch's last step: its checkpoint finds the weights non-finite
            with torch.no_grad():
                next(iter(model.networks().values())).parameters().__next__().fill_(math.nan)
        return figures

    patch_step(monkeypatch, poison)
    with pytest.raises(NumericalError, match=r"network '\w+' became non-finite by step 8") as info:
        api.train("vae_toy", overrides=[*SMALL, "run.checkpoint_every='1000'"], out=tmp_path)
    assert "without saving" in info.value.message
    state = only_run(tmp_path).load_checkpoint()
    assert state["position"]["step"] == 4 and all_finite(state)


def test_a_non_finite_first_step_leaves_no_directory(tmp_path, monkeypatch):
    patch_step(monkeypatch, lambda m, f, ctx: {**f, "loss": math.nan})
    with pytest.raises(NumericalError, match="no checkpoint had been written yet"):
        api.train("vae_toy", overrides=SMALL, out=tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def nan_run(tmp_path):
    """A trained run whose checkpoint was then poisoned with NaN weights."""
    run = api.train("vae_toy", overrides=[*SMALL, "run.epochs=1"], out=tmp_path / "runs")
    state = run.dir.load_checkpoint()
    for net in state["networks"].values():
        for tensor in net.values():
            tensor.fill_(math.nan)
    torch.save(state, run.dir.checkpoint_file)
    return run.path


def test_non_finite_samples_and_evaluations_are_errors(nan_run, tmp_path, capsys):
    run = api.open_run(nan_run, "cpu")
    with pytest.raises(NumericalError, match="non-finite"):
        run.sample(8)
    with pytest.raises(NumericalError, match="non-finite"):
        run.save_samples(8, tmp_path / "s.pt")
    assert not (tmp_path / "s.pt").exists()
    with pytest.raises(NumericalError, match="non-finite figures"):
        run.evaluate("nll", k=4)
    for argv in (
        ["sample", str(nan_run), "--out", str(tmp_path / "s.png"), "--n", "8", "--device", "cpu"],
        ["eval", str(nan_run), "--metric", "nll", "--set", "k=4", "--device", "cpu"],
    ):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 2
        assert "non-finite" in capsys.readouterr().err


@pytest.mark.parametrize("steps", [0, -3])
def test_steps_per_epoch_below_one_is_refused(steps):
    with pytest.raises(RecipeError):
        load_recipe(api.catalog.find_recipe("vae_toy"), [f"run.steps_per_epoch={steps}"])
