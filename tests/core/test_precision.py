"""bf16 autocast trains to the fp32 loss on a toy problem; 'auto' resolves by hardware."""

import math

import torch

from gentk import api
from gentk.hardware import select_precision

QUICK = ["run.epochs=3", "run.n_samples=0", "data.n_train=4096", "data.n_test=256", "metrics=[]"]


def final_loss(precision, tmp_path):
    run = api.train("recipes/vae_toy.toml", overrides=[*QUICK, f"run.precision='{precision}'"], out=tmp_path)
    return run.metrics("epoch")[-1]["loss"]


def test_bf16_reaches_the_fp32_loss(tmp_path, monkeypatch):
    monkeypatch.chdir(__import__("pathlib").Path(__file__).resolve().parents[2])
    fp32, bf16 = final_loss("fp32", tmp_path), final_loss("bf16", tmp_path)
    assert math.isfinite(bf16)
    assert abs(bf16 - fp32) < 0.05 * abs(fp32) + 0.05


def test_auto_precision_follows_the_hardware(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr("gentk.hardware.cpu_has_fast_bf16", lambda: True)
    assert select_precision("auto", cpu) == "bf16"
    monkeypatch.setattr("gentk.hardware.cpu_has_fast_bf16", lambda: False)
    assert select_precision("auto", cpu) == "fp32"
    assert select_precision("fp32", cpu) == "fp32"


def test_auto_precision_on_gpus_without_bf16_is_fp16(monkeypatch):
    """Catches 'auto' falling back to fp32 (twice the memory traffic) on GPUs without bf16."""
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert select_precision("auto", torch.device("cuda")) == "fp16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert select_precision("auto", torch.device("cuda")) == "bf16"


FP16 = [*QUICK, "run.precision='fp16'", "run.epochs=2", "data.n_train=1024"]


def test_fp16_trains_with_a_loss_scale_that_resumes_exactly(tmp_path, monkeypatch):
    """Catches fp16 without loss scaling (gradients underflow: the loss does not fall), a scale
    left out of the checkpoint (the resumed run restarts at 65536, skips steps on overflow and
    ends on other weights) or a skipped step that is not skipped."""
    monkeypatch.chdir(__import__("pathlib").Path(__file__).resolve().parents[2])
    whole = api.train("vae_toy", overrides=FP16, out=tmp_path / "whole")
    state = whole.dir.load_checkpoint()
    [scale] = [s["scale"] for s in state["loss_scales"].values()]
    assert scale < 65536.0  # the scale came down from its start: overflowing steps were skipped
    losses = [r["loss"] for r in whole.metrics("epoch")]
    assert all(math.isfinite(x) for x in losses) and losses[-1] < losses[0]
    half = api.train("vae_toy", overrides=[*FP16, "run.epochs=1"], out=tmp_path / "half")
    resumed = api.resume(half.path, overrides=["run.epochs=2"])
    for name, weights in whole.dir.load_checkpoint()["networks"].items():
        for key, value in weights.items():
            assert torch.equal(resumed.dir.load_checkpoint()["networks"][name][key], value), (name, key)
