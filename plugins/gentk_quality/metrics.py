"""The sample-quality metrics: `fid`, `kid`, `precision_recall`, and `quality` (all of them from one
set of generated images).

torch-fidelity computes the figures from features (its FID takes the trace of the matrix square
root from the eigenvalues of S_g S_r; KID is the unbiased MMD^2 of the cubic polynomial kernel over
random subsets; precision/recall are Kynkaanniemi et al.'s k-NN balls): a maintained library whose
numbers are those published papers report, used at the feature level so that gentk owns the
extractors, the caching and the protocol card every figure is returned with (key "protocol").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor
from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_features_to_statistics, fid_statistics_to_metric
from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric
from torch_fidelity.metric_prc import KEY_METRIC_PRECISION, KEY_METRIC_RECALL, prc_features_to_metric

from gentk.errors import GentkError
from gentk.interfaces import DataInfo, FeatureExtractor, Model, Split, UsesTrainingData
from gentk.progress import phase
from gentk.quality import generated_features, reference_features, sampling_settings
from gentk_quality.configs import QualityConfig

KID_SEED = 0  # the subsets KID averages over are drawn with this seed


def frechet_distance(fake: Tensor, real: Tensor) -> float:
    """|mu_f - mu_r|^2 + tr(S_f + S_r - 2 (S_f S_r)^(1/2)) of features (N, D), in float64."""
    stats = [fid_features_to_statistics(f.double().cpu()) for f in (fake, real)]
    return float(fid_statistics_to_metric(*stats, verbose=False)[KEY_METRIC_FID])


def kernel_distance(fake: Tensor, real: Tensor, *, subsets: int = 100, subset_size: int = 1000) -> tuple[float, float]:
    """KID: the unbiased MMD^2 (cubic polynomial kernel) averaged over `subsets` random subsets of
    `subset_size` (at most the smaller set's size), and its standard deviation over the subsets."""
    size = min(subset_size, len(fake), len(real))
    out = kid_features_to_metric(
        fake.double().cpu(), real.double().cpu(), kid_subsets=subsets, kid_subset_size=size, rng_seed=KID_SEED,
        verbose=False,
    )  # fmt: skip
    return float(out[KEY_METRIC_KID_MEAN]), float(out[KEY_METRIC_KID_STD])


def precision_recall(fake: Tensor, real: Tensor, *, neighborhood: int = 3) -> tuple[float, float]:
    """Share of generated features within the k-NN radius of some real feature (precision), and of
    real features within that of some generated one (recall)."""
    out = prc_features_to_metric(
        fake.float().cpu(), real.float().cpu(), prc_neighborhood=neighborhood, save_cpu_ram=True, verbose=False
    )
    return float(out[KEY_METRIC_PRECISION]), float(out[KEY_METRIC_RECALL])


class SampleQuality:
    """A sample-quality metric (a `Metric` that `UsesTrainingData`) reporting `figures`."""

    def __init__(self, cfg: QualityConfig, name: str, figures: tuple[str, ...]):
        self.cfg, self.name, self.figures = cfg, name, figures
        self.extractor: FeatureExtractor = cfg.extractor.build()
        self.train: Split | None = None

    def fit(self, train: Split, info: DataInfo) -> None:
        self.train = train
        if isinstance(self.extractor, UsesTrainingData):
            self.extractor.fit(train, info)

    def evaluate(self, model: Model, data: Split, info: DataInfo, *, generator: torch.Generator) -> Mapping[str, Any]:
        cfg = self.cfg
        given = {"sampler": cfg.sampler, "steps": cfg.steps, "guidance": cfg.guidance}
        options = {k: v for k, v in given.items() if v is not None}
        self.extractor.features(torch.zeros((1, *info.shape), device=model.device))  # built on the model's device
        real, facts = reference_features(
            self._reference(data), cfg.reference_split, info, self.extractor, cfg.n_reference, cfg.cache_dir
        )
        fake = generated_features(
            model, self.extractor, cfg.n_samples, info, generator=generator, block=cfg.block, options=options
        )
        card = {
            "metric": self.name,
            "generated": cfg.n_samples,
            **facts,
            **self.extractor.card(),
            "block": cfg.block,
            **sampling_settings(model, options),
        }
        return {**self._figures(fake, real, card), "protocol": card}

    def _reference(self, data: Split) -> Split:
        if self.cfg.reference_split == "test":
            return data
        if self.train is None:
            raise GentkError(
                "reference_split = 'train' needs the training split, which this evaluation did not pass",
                hint="evaluate through `gentk eval` or a recipe's metrics",
            )
        return self.train

    def _figures(self, fake: Tensor, real: Tensor, card: dict[str, Any]) -> dict[str, float]:
        out: dict[str, float] = {}
        if "fid" in self.figures:
            with phase("Frechet distance"):
                out["fid"] = frechet_distance(fake, real)
        if "kid" in self.figures:
            with phase(f"kernel distance ({self.cfg.kid_subsets} subsets)"):
                out["kid"], out["kid_std"] = kernel_distance(
                    fake, real, subsets=self.cfg.kid_subsets, subset_size=self.cfg.kid_subset_size
                )
            card["kid_subset_size"] = min(self.cfg.kid_subset_size, len(fake), len(real))
        if "precision" in self.figures:
            with phase("precision and recall"):
                out["precision"], out["recall"] = precision_recall(fake, real, neighborhood=self.cfg.neighborhood)
            card["neighborhood"] = self.cfg.neighborhood
        return out


def fid(cfg: QualityConfig) -> SampleQuality:
    return SampleQuality(cfg, "fid", ("fid",))


def kid(cfg: QualityConfig) -> SampleQuality:
    return SampleQuality(cfg, "kid", ("kid",))


def precision_recall_metric(cfg: QualityConfig) -> SampleQuality:
    return SampleQuality(cfg, "precision_recall", ("precision",))


def quality(cfg: QualityConfig) -> SampleQuality:
    return SampleQuality(cfg, "quality", ("fid", "kid", "precision"))
