"""Counting the host-device synchronisations of training steps."""

import sys

import torch

from gentk import engine

SYNCING = ("item", "tolist", "__float__", "__int__", "__bool__", "numpy")


def record_host_syncs(monkeypatch) -> list[int]:
    """Patch the tensor methods that make the host wait for the device; returns the list that
    collects the training step during which each was called (-1 outside a train step)."""
    calls: list[int] = []
    current = {"step": -1}
    for name in SYNCING:
        original = getattr(torch.Tensor, name)

        def counting(self, *args, _original=original, **kwargs):
            if not _host_side(sys._getframe(1).f_code.co_filename, self):
                calls.append(current["step"])
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counting)
    build = engine.build_model

    def build_tracked(recipe, info, device):
        model = build(recipe, info, device)
        inner = model.train_step

        def train_step(batch, ctx):
            current["step"] = ctx.step
            return inner(batch, ctx)

        model.train_step = train_step
        return model

    monkeypatch.setattr(engine, "build_model", build_tracked)
    return calls


def assert_syncs_only_at_readings(calls: list[int], steps: int) -> None:
    """Host syncs happen only in the steps after which the engine reads the figures (every
    LOG_EVERY steps and at the epoch's end); `steps` is the epoch's length."""
    readings = {s for s in range(steps) if (s + 1) % engine.LOG_EVERY == 0 or s + 1 == steps}
    during = {s for s in calls if s >= 0}
    assert during <= readings, f"host syncs in steps {sorted(during - readings)}"


def _host_side(caller: str, tensor: torch.Tensor) -> bool:
    """Reads that never wait for a device: torch's optimizers read their step counts, which they
    keep in host memory (a GPU run included), with `.item()`; gentk.tally reads figures that are
    CPU tensors at once (test_hot_path checks that it leaves accelerator tensors alone)."""
    caller = caller.replace("\\", "/")
    return "/torch/optim/" in caller or (caller.endswith("/gentk/tally.py") and tensor.device.type == "cpu")
