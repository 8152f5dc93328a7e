"""A small CNN classifier for labelled image data, trained once per dataset and cached.

Metrics use it to label generated images (class coverage of GANs, class accuracy of
conditional models). `get_classifier(split, info)` trains it on the labelled split it is given
(holding out a tenth to measure its accuracy) or loads it from the cache:
`$GENTK_CACHE/classifiers/<hash>.pt`, else `~/.cache/gentk/classifiers/<hash>.pt`, where the hash
covers the split's pixels and labels and the training settings.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from einops.layers.torch import Rearrange
from torch import Tensor, nn

from gentk.data import batches, to_float
from gentk.errors import GentkError
from gentk.interfaces import DataInfo, Split
from gentk.progress import phase
from gentk.quality import cache_folder

VERSION = 1  # bump when the architecture or training changes, so old caches are not reused
HOLDOUT = 0.1  # share of the split kept out of training to measure accuracy


class SmallCNN(nn.Module):
    """conv 3x3 (16) -> pool -> conv 3x3 (32) -> pool -> fc 64 -> K logits, for (C, H, W) images."""

    accuracy: float  # on held-out data, set by `get_classifier`

    def __init__(self, channels: int, height: int, width: int, num_classes: int):
        super().__init__()
        self.accuracy = float("nan")
        self.net = nn.Sequential(
            nn.Conv2d(channels, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # (B, 16, H/2, W/2)
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # (B, 32, H/4, W/4)
            Rearrange("b c h w -> b (c h w)"),
            nn.Linear(32 * (height // 4) * (width // 4), 64),
            nn.ReLU(),
            nn.Dropout(0.25),
            nn.Linear(64, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)  # (B, K)


def cache_root(root: str | Path | None = None) -> Path:
    return cache_folder("classifiers", root)


def dataset_key(split: Split, info: DataInfo, steps: int, seed: int) -> str:
    """A hash of the split's content and the training settings."""
    h = hashlib.sha256()
    h.update(repr((VERSION, tuple(info.shape), info.num_classes, info.binarized, steps, seed, len(split))).encode())
    h.update(split.x.contiguous().cpu().numpy().tobytes())
    h.update(labels_of(split, info).contiguous().cpu().numpy().tobytes())
    return h.hexdigest()[:24]


def labels_of(split: Split, info: DataInfo) -> Tensor:
    """The labels (N,) of a split of labelled images; a GentkError for any other data."""
    _check(split, info)
    assert split.y is not None  # _check raised otherwise
    return split.y


def _network(info: DataInfo) -> SmallCNN:
    channels, height, width = info.shape
    return SmallCNN(channels, height, width, info.num_classes)


def _check(split: Split, info: DataInfo) -> None:
    if info.kind != "image" or info.num_classes < 2 or split.y is None:
        raise GentkError(
            "the classifier needs labelled images, but this dataset is "
            f"{'unlabelled' if info.num_classes < 2 or split.y is None else info.kind}",
            hint="class coverage works on labelled image data (e.g. mnist); for toy2d points use "
            "the mode_coverage metric",
        )
    if len(info.shape) != 3 or info.shape[1] < 4 or info.shape[2] < 4:
        raise GentkError(f"the classifier needs (C, H, W) images of at least 4x4, got {info.shape}")


def train_classifier(
    split: Split,
    info: DataInfo,
    *,
    steps: int = 500,
    batch_size: int = 128,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> tuple[SmallCNN, float]:
    """Train on a random nine tenths of `split` for `steps` Adam steps; return the network and
    its accuracy on the other tenth."""
    y = labels_of(split, info)
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(split), generator=g)
    n_hold = max(1, int(len(split) * HOLDOUT))
    hold, keep = order[:n_hold], order[n_hold:]
    train, held = Split(split.x[keep], y[keep]), Split(split.x[hold], y[hold])
    net = _network(info).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    net.train()
    done = 0
    with phase("fitting the classifier", steps, unit="step") as bar:
        while done < steps:
            for batch in batches(train, info, batch_size, device=device, generator=g, shuffle=True):
                assert batch.y is not None  # the split is labelled
                loss = F.cross_entropy(net(batch.x), batch.y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                done += 1
                bar.advance()
                if done >= steps:
                    break
    net.eval()
    probs = classify(net, to_float(held.x, info))
    accuracy = float((probs.argmax(1) == y[hold].cpu()).float().mean())
    return net, accuracy


def _save(path: Path, state: dict) -> None:
    """Write through a temporary file and rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def get_classifier(
    split: Split,
    info: DataInfo,
    cache_dir: str | Path | None = None,
    *,
    steps: int = 500,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> SmallCNN:
    """The cached classifier for this labelled split, trained now if the cache lacks it. Its
    held-out accuracy is in `.accuracy`."""
    _check(split, info)
    path = cache_root(cache_dir) / f"{dataset_key(split, info, steps, seed)}.pt"
    net = _network(info)
    if path.is_file():
        state = torch.load(path, map_location="cpu", weights_only=True)
        net.load_state_dict(state["weights"])
        accuracy = float(state["accuracy"])
    else:
        net, accuracy = train_classifier(split, info, steps=steps, seed=seed, device=device)
        _save(path, {"weights": net.cpu().state_dict(), "accuracy": accuracy})
    net.accuracy = accuracy
    return net.to(device).eval()


@torch.no_grad()
def classify(classifier: nn.Module, images: Tensor, batch_size: int = 500) -> Tensor:
    """Class probabilities (N, K) of images (N, C, H, W) in [0, 1]."""
    device = next(classifier.parameters()).device
    was_training = classifier.training
    classifier.eval()
    probs = [F.softmax(classifier(chunk.to(device).float()), dim=1) for chunk in images.split(batch_size)]
    classifier.train(was_training)
    return torch.cat(probs).cpu()
