"""Metrics: mode coverage of toy2d mixtures (any model whose samples are 2-D points) and the
held-out log-likelihood of models with an exact density."""

import math
from typing import Any

import torch
from torch import Tensor

from gentk.data import batches
from gentk.errors import GentkError
from gentk.interfaces import DataInfo, LogDensity, Model, Split
from gentk.prob import TOY_MIXTURES, GaussianMixture, mean_estimate, mode_coverage, toy_mixture_centres
from gentk.progress import track
from gentk_prob.configs import LogLikelihoodConfig, ModeCoverageConfig


def fitted_std(points: Tensor, centres: Tensor) -> float:
    """Maximum-likelihood std of isotropic modes at known centres: RMS distance to the nearest
    centre per dimension."""
    nearest = torch.cdist(points, centres).min(dim=1).values  # (N,)
    return float(nearest.pow(2).mean().div(points.shape[1]).sqrt())


def identify_mixture(points: Tensor, names: tuple[str, ...] = TOY_MIXTURES) -> tuple[str, Tensor, float]:
    """The toy mixture (name, centres, fitted std) under which `points` (N, 2) are most likely."""
    candidates = []
    for name in names:
        centres = toy_mixture_centres(name).to(points)
        std = max(fitted_std(points, centres), 1e-6)
        score = float(GaussianMixture(centres, std).log_prob(points).mean())
        candidates.append((score, name, centres, std))
    _, name, centres, std = max(candidates, key=lambda c: c[0])
    return name, centres, std


class ModeCoverageMetric:
    """Draws n_samples points from the model and reports modes covered (count and share of all
    modes) and the share of high-quality samples; warns when modes are missed."""

    def __init__(self, cfg: ModeCoverageConfig):
        self.cfg = cfg

    def target(self, data: Split) -> tuple[str, Tensor, float]:
        points = data.x.float().cpu()
        names = TOY_MIXTURES if self.cfg.mixture == "auto" else (self.cfg.mixture,)
        name, centres, std = identify_mixture(points, names)
        return name, centres, std if self.cfg.std is None else self.cfg.std

    def evaluate(self, model: Model, data: Split, info: DataInfo, *, generator: torch.Generator) -> dict[str, Any]:
        if info.kind != "points" or info.shape != (2,):
            raise GentkError(
                "mode_coverage needs 2-D points from a toy2d mixture",
                hint='use it with [data] use = "toy2d", name = "ring" or "grid"',
            )
        name, centres, std = self.target(data)
        samples = model.sample(self.cfg.n_samples, generator=generator).detach().float().cpu()
        result = mode_coverage(samples, centres, std, min_fraction=self.cfg.min_fraction, radius=self.cfg.radius)
        out: dict[str, Any] = {
            "modes": result.modes_covered,
            "num_modes": result.num_modes,
            "coverage": result.coverage,
            "high_quality": result.high_quality,
        }
        spacing = float(torch.pdist(centres).min())
        if self.cfg.radius * std > spacing / 2:
            out["warning"] = (
                f"modes of the {name} mixture overlap at std {std:.3g}: coverage is not meaningful "
                f"(is the data really the {name} mixture?)"
            )
        elif result.modes_covered < result.num_modes:
            missed = result.num_modes - result.modes_covered
            out["warning"] = (
                f"{missed} of {result.num_modes} modes of the {name} mixture are missed "
                f"(mode collapse?); {result.high_quality:.0%} of samples are near a mode"
            )
        return out


class LogLikelihoodMetric:
    """Average log p(x) over the held-out split and its standard error, for models with an exact
    log-density (`LogDensity`)."""

    def __init__(self, cfg: LogLikelihoodConfig):
        self.cfg = cfg

    def evaluate(self, model: Model, data: Split, info: DataInfo, *, generator: torch.Generator) -> dict[str, Any]:
        if not isinstance(model, LogDensity):
            raise GentkError(
                f"{type(model).__name__} has no exact log-density (log_prob)",
                hint="log_likelihood works for density models such as gmm_em; VAEs estimate it with their nll metric",
            )
        with torch.no_grad():
            parts = [
                model.log_prob(b.x)
                for b in track(
                    batches(data, info, self.cfg.batch_size, device=model.device),
                    "log-likelihood",
                    math.ceil(len(data) / self.cfg.batch_size),
                    unit="batch",
                )
            ]
        estimate = mean_estimate(torch.cat(parts).double())
        return {"log_likelihood": float(estimate.value), "stderr": float(estimate.stderr)}
