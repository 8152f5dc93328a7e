"""The engine: run directories, determinism, resumption, interruption, NaN handling."""

import math
import os
import signal

import pytest
import torch

from gentk import api
from gentk.errors import Interrupted, NumericalError
from gentk.rundir import RunDir


def losses(run):
    return [r["loss"] for r in run.metrics("step")] + [r["loss"] for r in run.metrics("epoch")]


def test_run_directory_contents(blob_recipe, tmp_path):
    run = api.train(blob_recipe, out=tmp_path)
    names = {p.name for p in run.path.iterdir()}
    assert {"recipe.toml", "plugins.json", "data.json", "metrics.jsonl", "checkpoint.pt", "figures"} <= names
    figures = {p.name for p in (run.path / "figures").iterdir()}
    assert {"samples_epoch001.png", "samples_epoch003.png", "loss.png"} <= figures
    assert not [p for p in run.path.iterdir() if p.name.startswith(".")]  # no temporary files left
    assert [r["epoch"] for r in run.metrics("epoch")] == [1, 2, 3]
    plugins = run.dir.read_json("plugins.json")
    assert "example" in {p["name"] for p in plugins["plugins"]}


def test_same_seed_same_losses_and_different_seed_differs(blob_recipe, tmp_path):
    a = api.train(blob_recipe, out=tmp_path)
    b = api.train(blob_recipe, out=tmp_path)
    c = api.train(blob_recipe, overrides=["run.seed=1"], out=tmp_path)
    assert losses(a) == losses(b)
    assert losses(a) != losses(c)


def interrupt_at(monkeypatch, step):
    """Ctrl-C right after the optimizer step of `step` (the handler only asks for a stop)."""
    from gentk_example.components import GaussianFit

    original = GaussianFit.train_step

    def train_step(self, batch, ctx):
        out = original(self, batch, ctx)
        if ctx.step == step:
            os.kill(os.getpid(), signal.SIGINT)
        return out

    monkeypatch.setattr(GaussianFit, "train_step", train_step)


@pytest.mark.parametrize("stop_step", [4, 7])  # mid-epoch, and the last step of an epoch (8 steps each)
def test_interrupted_run_resumes_to_the_same_losses(blob_recipe, tmp_path, monkeypatch, stop_step):
    full = api.train(blob_recipe, out=tmp_path / "full")
    with monkeypatch.context() as patch:
        interrupt_at(patch, stop_step)
        with pytest.raises(Interrupted) as info:
            api.train(blob_recipe, out=tmp_path / "cut")
    run_path = info.value.run_path
    assert info.value.exit_code == 130 and f"gentk run --resume {run_path}" in str(info.value)
    assert RunDir.open(run_path).load_checkpoint()["position"]["step"] == stop_step + 1
    resumed = api.resume(run_path)
    assert losses(resumed) == losses(full)
    assert torch.equal(resumed.model.net["mean"], full.model.net["mean"])


def test_resume_with_more_epochs_continues(blob_recipe, tmp_path):
    run = api.train(blob_recipe, out=tmp_path)
    longer = api.resume(run.path, overrides=["run.epochs=5"])
    assert [r["epoch"] for r in longer.metrics("epoch")] == [1, 2, 3, 4, 5]


def test_nan_loss_stops_with_a_clear_error_and_keeps_the_checkpoint(blob_recipe, tmp_path, monkeypatch):
    from gentk_example.components import GaussianFit

    original = GaussianFit.train_step

    def train_step(self, batch, ctx):
        out = original(self, batch, ctx)
        return {"loss": math.nan} if ctx.epoch == 1 and ctx.step >= 10 else out

    monkeypatch.setattr(GaussianFit, "train_step", train_step)
    with pytest.raises(NumericalError) as info:
        api.train(blob_recipe, out=tmp_path / "runs")
    assert "nan" in info.value.message and "epoch 2" in info.value.message
    [run_dir] = list((tmp_path / "runs").iterdir())
    state = RunDir(run_dir).load_checkpoint()
    assert state["position"]["epoch"] == 1  # the checkpoint after the last good epoch


def test_bf16_precision_trains(blob_recipe, tmp_path):
    run = api.train(blob_recipe, overrides=["run.precision='bf16'"], out=tmp_path)
    assert run.metrics("start")[0]["precision"] == "bf16"
    assert math.isfinite(run.metrics("epoch")[-1]["loss"])


def test_samples_and_unknown_sampling_options(blob_recipe, tmp_path):
    run = api.train(blob_recipe, out=tmp_path)
    assert run.sample(10).shape == (10, 2)
    assert torch.equal(run.sample(4, seed=3), run.sample(4, seed=3))
    from gentk.errors import GentkError

    with pytest.raises(GentkError, match="guidance"):
        run.sample(4, guidance=3.0)
