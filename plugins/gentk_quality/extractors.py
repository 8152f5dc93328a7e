"""Feature extractors of the sample-quality metrics.

`inception`: torch-fidelity's port of the TensorFlow FID Inception-v3 (2048-d pool features), the
network every published FID uses; its weights are fetched once into gentk's cache.
`classifier`: the penultimate layer of the small CNN the coverage metric trains on the run's
training split (cached by a hash of the data), for offline work and small images.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from gentk.data import to_float
from gentk.errors import GentkError
from gentk.interfaces import DataInfo, Split
from gentk.quality import cache_folder, data_hash, weights_hash
from gentk_common.classifier import get_classifier
from gentk_quality.configs import ClassifierFeaturesConfig, InceptionConfig

INCEPTION_URL = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"
)
INCEPTION_FILE = INCEPTION_URL.rsplit("/", 1)[1]
INCEPTION_HASH_PREFIX = "6726825d"  # the first digits of the file's SHA-256, as its name says


@torch.no_grad()
def _batched(net: Callable[[Tensor], Tensor], images: Tensor, batch_size: int = 250) -> Tensor:
    return torch.cat([net(chunk) for chunk in images.split(batch_size)])


SCALE_IMAGES = 2000  # training images that set the classifier features' scale


def _unit_rms_scale(body: nn.Module, split: Split, info: DataInfo, device: torch.device) -> float:
    """The root mean square per feature over (up to) the first SCALE_IMAGES training images. Dividing by it
    puts the features at order one, the scale KID's polynomial kernel (x.y / D + 1)^3 is made for, as
    Inception's pool features are; unscaled (norms near 35), KID ranked samples by their feature norms."""
    features = _batched(body, to_float(split.x[:SCALE_IMAGES], info).to(device))
    return float(features.double().pow(2).mean().sqrt().clamp_min(1e-12))


class ClassifierFeatures:
    """The `classifier` extractor (a FeatureExtractor that UsesTrainingData)."""

    def __init__(self, cfg: ClassifierFeaturesConfig):
        self.cfg = cfg
        self.train: tuple[Split, DataInfo] | None = None
        self.body: nn.Module | None = None
        self.scale = 1.0
        self.facts: dict[str, Any] = {}

    def fit(self, train: Split, info: DataInfo) -> None:
        if self.train is None or self.train[0] is not train:
            self.train, self.body = (train, info), None

    def _network(self, device: torch.device) -> nn.Module:
        if self.body is None:
            if self.train is None:
                raise GentkError(
                    "the classifier extractor has not seen the training split it learns from",
                    hint="evaluate through `gentk eval` or a recipe's metrics, which fit it first",
                )
            split, info = self.train
            with torch.enable_grad():  # trained on first use, maybe inside a no_grad evaluation
                net = get_classifier(split, info, self.cfg.cache_dir, steps=self.cfg.steps, device=device)
            self.body = net.net[:-1].eval()  # up to the 64-unit layer (dropout is off in eval mode)
            self.scale = _unit_rms_scale(self.body, split, info, device)
            self.facts = {
                "weights_sha256": weights_hash(net),
                "trained_on": f"train split {data_hash(split)} ({len(split)} images)",
                "classifier_accuracy": round(net.accuracy, 4),
                "scale": f"1/{self.scale:.4g} (unit RMS on the training split)",
            }
        return self.body

    def features(self, images: Tensor) -> Tensor:
        body = self._network(images.device)
        device = next(body.parameters()).device
        return _batched(body, images.to(device).float()) / self.scale

    def card(self) -> dict[str, Any]:
        if self.body is None and self.train is not None:
            self._network(torch.device("cpu"))
        return {"extractor": "classifier (64-d penultimate layer)", **self.facts, "resize": "none", "input": "float32"}


class InceptionFeatures:
    """The `inception` extractor (the standard FID features)."""

    def __init__(self, cfg: InceptionConfig):
        self.cfg = cfg
        self.net: nn.Module | None = None
        self.hash = ""

    def weights_file(self) -> Path:
        if self.cfg.weights_path:
            path = Path(self.cfg.weights_path).expanduser()
            if not path.is_file():
                raise GentkError(
                    f"the Inception weights file {path} does not exist",
                    hint=f"download {INCEPTION_URL} there, or leave weights_path out to use the cache",
                )
            return path
        path = cache_folder("weights", self.cfg.cache_dir) / INCEPTION_FILE
        if not path.is_file():
            self._download(path)
        return path

    def _download(self, path: Path) -> None:
        offline = (
            f"put the file {INCEPTION_FILE} (from {INCEPTION_URL}) into {path.parent}, "
            "or set the extractor's weights_path to where it is"
        )
        if not self.cfg.download:
            raise GentkError(f"the FID Inception weights are not in {path.parent} and download = false", hint=offline)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        try:
            torch.hub.download_url_to_file(INCEPTION_URL, str(partial), hash_prefix=INCEPTION_HASH_PREFIX)
        except Exception as exc:  # no network, a proxy, a truncated file: all end the same way
            partial.unlink(missing_ok=True)
            raise GentkError(f"could not download the FID Inception weights: {exc}", hint=offline) from None
        partial.replace(path)

    def _network(self, device: torch.device) -> nn.Module:
        if self.net is None:
            from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

            file = self.weights_file()
            try:
                net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=file)
            except Exception as exc:
                raise GentkError(
                    f"{file} is not a readable Inception-v3 weights file ({type(exc).__name__}: {exc})",
                    hint=f"delete it and download {INCEPTION_URL} again",
                ) from None
            self.hash = weights_hash(net)
            self.net = net
        return self.net.to(device)

    def features(self, images: Tensor) -> Tensor:
        net = self._network(images.device)
        pixels = (images.float().clamp(0, 1) * 255).round().to(torch.uint8)  # as if read back from PNG files
        if pixels.shape[1] == 1:
            pixels = pixels.expand(-1, 3, -1, -1)
        return _batched(lambda x: net(x)[0], pixels, batch_size=64)

    def card(self) -> dict[str, Any]:
        if self.net is None:
            self._network(torch.device("cpu"))
        return {
            "extractor": "inception-v3 (TF FID weights, 2048-d pool3)",
            "weights_sha256": self.hash,
            "resize": "299x299 bilinear (TF1-compatible)",
            "input": "uint8 RGB (grey repeated)",
        }
