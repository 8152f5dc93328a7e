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
