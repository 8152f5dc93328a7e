"""Optimizer factories: `factory(config, params) -> torch.optim.Optimizer`."""

import torch


def adam(cfg, params):
    cls = torch.optim.AdamW if cfg.decoupled else torch.optim.Adam
    return cls(params, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)


def rmsprop(cfg, params):
    return torch.optim.RMSprop(params, lr=cfg.lr, alpha=cfg.alpha, momentum=cfg.momentum)


def sgd(cfg, params):
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum)
