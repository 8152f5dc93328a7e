"""Exponential moving average of a network's weights (used for sampling, as in Ho et al.)."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn


class EMA:
    """shadow <- d * shadow + (1 - d) * weights after each update; with `warmup`,
    d = min(decay, (1 + n)/(10 + n)) after n updates."""

    def __init__(self, net: nn.Module, decay: float, warmup: bool = True):
        self.net = net
        self.shadow = copy.deepcopy(net).eval().requires_grad_(False)
        self.decay = decay
        self.warmup = warmup
        self.updates = 0

    def current_decay(self) -> float:
        if not self.warmup:
            return self.decay
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self) -> None:
        weight = 1.0 - self.current_decay()
        torch._foreach_lerp_(list(self.shadow.parameters()), list(self.net.parameters()), weight)
        for mine, theirs in zip(self.shadow.buffers(), self.net.buffers(), strict=False):
            mine.copy_(theirs)
        self.updates += 1

    def state_dict(self) -> dict[str, Any]:
        return {"weights": self.shadow.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.shadow.load_state_dict(state["weights"])
        self.updates = int(state["updates"])
