"""Optimizer factories: `factory(config, params) -> torch.optim.Optimizer` (an `Optimizer`)."""

import torch
from torch.optim.optimizer import ParamsT

from gentk_common.configs import AdamConfig, RMSpropConfig, SGDConfig


def adam(cfg: AdamConfig, params: ParamsT) -> torch.optim.Optimizer:
    cls = torch.optim.AdamW if cfg.decoupled else torch.optim.Adam
    beta1, beta2 = cfg.betas  # a TOML array arrives as a list
    fused = True if cfg.fused else None  # None: torch picks foreach or the per-tensor loop
    return cls(params, lr=cfg.lr, betas=(beta1, beta2), weight_decay=cfg.weight_decay, fused=fused)


def rmsprop(cfg: RMSpropConfig, params: ParamsT) -> torch.optim.Optimizer:
    return torch.optim.RMSprop(params, lr=cfg.lr, alpha=cfg.alpha, momentum=cfg.momentum)


def sgd(cfg: SGDConfig, params: ParamsT) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum)
