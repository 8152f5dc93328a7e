"""The figures of training steps, kept on the device between log points.

A model's `train_step` returns its figures as tensors (or host floats). Converting each to a Python
number every step would make the host wait for the device every step, and under torch.distributed
would add a collective per step. `Tally` adds them up where they are and hands them over at the
engine's sync points (every `LOG_EVERY` steps, at each epoch's end, before a checkpoint): one
transfer to the host and, with several processes, one all-reduce that also carries the stop and
checkpoint flags. A non-finite figure is caught at the next sync point, since a sum that took in a
NaN or an infinity stays non-finite.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import attrs
import torch
from torch import Tensor

from gentk.distributed import World


@attrs.frozen
class Reading:
    """The epoch's figure sums so far (averaged over processes) and what the steps since the last
    reading showed."""

    sums: dict[str, float]
    steps: int  # steps since the last reading
    peak_loss: float | None  # their highest "loss" (averaged over processes)
    flags: list[bool]  # per flag: whether any process raised it

    def bad_figure(self) -> tuple[str, float] | None:
        """A figure that became NaN or infinite (a sum that took one in stays so), with its value."""
        return next(((k, v) for k, v in self.sums.items() if not math.isfinite(v)), None)


class Tally:
    """Per-figure sums of an epoch's steps on `device` (host floats for CPU figures), in float64,
    continued from `start` (the sums a checkpoint holds). Adding each step to a running sum,
    whenever it is read, keeps the sums bit-for-bit the same whether or not a run was stopped and
    resumed in between."""

    def __init__(self, device: torch.device, start: Mapping[str, float] | None = None):
        self.device = device
        self.sums: dict[str, Tensor | float] = dict(start or {})
        self.peak: Tensor | float | None = None
        self.steps = 0

    def add(self, figures: Mapping[str, Tensor | float]) -> None:
        """One step's figures; tensors stay on the device (no host sync)."""
        for name, value in figures.items():
            value = _scalar(value)
            previous = self.sums.get(name)
            self.sums[name] = value if previous is None else previous + value
        if "loss" in figures:
            loss = _scalar(figures["loss"])
            self.peak = loss if self.peak is None else _maximum(self.peak, loss)
        self.steps += 1

    def read(self, world: World, flags: Sequence[bool] = ()) -> Reading:
        """One host sync and, with several processes, one all-reduce on the device: the sums' mean
        over processes, the peak loss since the last reading, and whether any process raised a flag."""
        names = sorted(self.sums)
        peak = [] if self.peak is None else [self.peak]
        ordered = [*(self.sums[k] for k in names), *peak, *(1.0 if f else 0.0 for f in flags)]
        vector = torch.stack([torch.as_tensor(v, dtype=torch.float64, device=self.device) for v in ordered])
        if world.enabled:
            torch.distributed.all_reduce(vector)
        values = vector.tolist()  # the one host sync
        mean = [v / world.size for v in values[: len(names) + len(peak)]]
        reading = Reading(
            sums=dict(zip(names, mean, strict=False)),
            steps=self.steps,
            peak_loss=mean[-1] if peak else None,
            flags=[v > 0 for v in values[len(names) + len(peak) :]],
        )
        if world.enabled:  # every process goes on from the mean, as a resumed run would
            self.sums = {k: torch.tensor(v, dtype=torch.float64, device=self.device) for k, v in reading.sums.items()}
        self.peak, self.steps = None, 0
        return reading


def _scalar(value: Tensor | float) -> Tensor | float:
    """A figure as a float64 scalar: a tensor on an accelerator stays there (reading it would wait
    for the device); on the CPU there is nothing to wait for, and a Python float (the same float64
    sum) costs less than tensor arithmetic."""
    if not isinstance(value, Tensor):
        return float(value)
    if value.device.type == "cpu":
        return float(value)
    return value.detach().reshape(()).double()


def _maximum(a: Tensor | float, b: Tensor | float) -> Tensor | float:
    if isinstance(a, Tensor):
        return torch.maximum(a, b) if isinstance(b, Tensor) else a.clamp(min=b)
    return b.clamp(min=a) if isinstance(b, Tensor) else max(a, b)
