"""Class coverage of generated images: mode collapse as numbers.

A small CNN (see `classifier.py`) labels n generated images. Reported:

    classes_covered     classes whose share of the samples is at least `min_share` / K
    kl_to_data          KL(generated class histogram || label histogram of the data), in nats;
                        0 for a perfect match, log K for a generator stuck on one class of
                        balanced data
    confident_fraction  share of samples the classifier labels with probability >= `confidence`
                        (a sample-quality figure: blurry or mixed digits fall below)
    hist_k              share of samples labelled k
    classifier_accuracy the classifier's accuracy on data it did not train on

with a "warning" when a class is missing or coverage fell since the previous evaluation.

The classifier is trained on the run's training split (`fit`, called once by the engine and by
`gentk eval`; a random nine tenths train it and the other tenth measures its accuracy) and
cached; without `fit` it falls back to the labelled split passed to `evaluate`. The data's label
histogram is the training split's when known.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from gentk.errors import GentkError
from gentk.interfaces import DataInfo, Model, Split
from gentk.prob import discrete_kl
from gentk.progress import phase
from gentk_common.classifier import classify, get_classifier, labels_of
from gentk_common.configs import CoverageConfig

CHUNK = 250  # samples drawn per call of model.sample


def class_shares(labels: torch.Tensor, num_classes: int, min_share: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The share of each class among `labels` (K,) and which classes count as covered: those
    with a share of at least min_share / K."""
    hist = torch.bincount(labels, minlength=num_classes).double() / len(labels)
    return hist, hist >= min_share / num_classes


class ClassCoverage:
    """The `coverage` metric (a `Metric` that `UsesTrainingData`)."""

    def __init__(self, cfg: CoverageConfig):
        self.cfg = cfg
        self.previous: int | None = None  # classes covered at the last evaluation
        self.train: Split | None = None

    def fit(self, train: Split, info: DataInfo) -> None:
        self.train = train

    def draw(self, model: Model, info: DataInfo, generator: torch.Generator) -> torch.Tensor:
        n = self.cfg.n_samples
        chunks = []
        with phase("coverage samples", n, unit="sample") as bar:
            for i in range(0, n, CHUNK):
                chunks.append(model.sample(min(CHUNK, n - i), generator=generator))
                bar.advance(min(CHUNK, n - i))
        images = torch.cat(chunks).float()  # (N, C, H, W)
        if tuple(images.shape[1:]) != tuple(info.shape):
            raise GentkError(
                f"the model's samples have shape {tuple(images.shape[1:])}, the data {tuple(info.shape)}",
                hint="class coverage needs a model that samples images like its data",
            )
        return images

    def evaluate(self, model: Model, data: Split, info: DataInfo, *, generator: torch.Generator) -> Mapping[str, Any]:
        labelled = self.train if self.train is not None and self.train.y is not None else data
        classifier = get_classifier(
            labelled, info, self.cfg.cache_dir, steps=self.cfg.classifier_steps, device=model.device
        )
        probs = classify(classifier, self.draw(model, info, generator))  # (N, K)
        k = info.num_classes
        hist, covered = class_shares(probs.argmax(dim=1), k, self.cfg.min_share)  # (K,), (K,)
        data_hist, _ = class_shares(labels_of(labelled, info).cpu(), k, self.cfg.min_share)
        result: dict[str, Any] = {
            "classes_covered": int(covered.sum()),
            "kl_to_data": float(discrete_kl(hist, data_hist)),
            "confident_fraction": float((probs.max(dim=1).values >= self.cfg.confidence).float().mean()),
            "classifier_accuracy": classifier.accuracy,
            **{f"hist_{i}": float(h) for i, h in enumerate(hist)},
        }
        warning = self.warning(covered)
        if warning:
            result["warning"] = warning
        self.previous = int(covered.sum())
        return result

    def warning(self, covered: torch.Tensor) -> str | None:
        n, k = int(covered.sum()), len(covered)
        parts = []
        if n < k:
            missing = ", ".join(str(i) for i in torch.nonzero(~covered).flatten().tolist())
            parts.append(f"mode collapse: {n} of {k} classes covered (missing: {missing})")
        if self.previous is not None and n < self.previous:
            parts.append(f"classes covered fell from {self.previous} to {n}")
        return "; ".join(parts) or None
