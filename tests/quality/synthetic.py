"""Synthetic labelled images, image degradations, a fixed random feature network and stand-in models
for the sample-quality tests (small, deterministic, no downloads)."""

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gentk.interfaces import DataInfo

SIZE = 16
CLASSES = 4
INFO = DataInfo(shape=(1, SIZE, SIZE), num_classes=CLASSES)


def strokes(labels: Tensor, generator: torch.Generator, size: int = SIZE) -> Tensor:
    """uint8 images (N, 1, size, size): class k is a soft line through the middle at angle k * pi / K,
    jittered in angle, offset, width and brightness, over faint noise."""
    n = len(labels)

    def uniform(lo: float, hi: float) -> Tensor:
        return lo + (hi - lo) * torch.rand(n, 1, 1, generator=generator)

    angle = labels.view(n, 1, 1).double() * math.pi / CLASSES + uniform(-0.2, 0.2)
    cy, cx = (size - 1) / 2 + uniform(-2, 2), (size - 1) / 2 + uniform(-2, 2)
    width, brightness = uniform(0.7, 1.6), uniform(0.6, 1.0)
    rows = torch.arange(size, dtype=torch.float64).view(1, size, 1)
    cols = torch.arange(size, dtype=torch.float64).view(1, 1, size)
    distance = (rows - cy) * torch.cos(angle) - (cols - cx) * torch.sin(angle)  # to the line, signed
    image = brightness * torch.exp(-((distance / width) ** 2))
    image = image + 0.05 * torch.rand(n, size, size, generator=generator, dtype=torch.float64)
    return (image.clamp(0, 1) * 255).round().to(torch.uint8).unsqueeze(1)


def labelled(n: int, seed: int, classes: int = CLASSES, *, iid: bool = False) -> tuple[Tensor, Tensor]:
    """n images (uint8) of the first `classes` classes and their labels: in equal shares (cycling), or
    drawn independently and uniformly when `iid`."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(classes, (n,), generator=g) if iid else torch.arange(n) % classes
    return strokes(labels, g), labels


def as_float(x: Tensor) -> Tensor:
    return x.float() / 255


def blur(images: Tensor, sigma: float) -> Tensor:
    """Gaussian blur (separable, reflected borders) of float images (N, 1, H, W)."""
    if sigma == 0:
        return images
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=images.dtype)
    kernel = torch.exp(-(t**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    padded = F.pad(images, (radius, radius, radius, radius), mode="reflect")
    out = F.conv2d(padded, kernel.view(1, 1, 1, -1))
    return F.conv2d(out, kernel.view(1, 1, -1, 1))


def noisy(images: Tensor, std: float, seed: int) -> Tensor:
    """Float images plus N(0, std^2) pixel noise, clipped to [0, 1]."""
    noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(seed))
    return (images + std * noise).clamp(0, 1)


class RandomConvFeatures:
    """A fixed random conv network (seeded) as a FeatureExtractor: 64 features per image."""

    def __init__(self, seed: int = 0, channels: int = 1):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.net = nn.Sequential(
                nn.Conv2d(channels, 8, 3, padding=1),
                nn.ReLU(),
                nn.AvgPool2d(2),
                nn.Conv2d(8, 16, 3, padding=1),
                nn.ReLU(),
                nn.AdaptiveAvgPool2d(2),
                nn.Flatten(),
            ).eval()
        self.seed = seed
        self.calls: list[int] = []  # images per call

    @torch.no_grad()
    def features(self, images: Tensor) -> Tensor:
        self.calls.append(len(images))
        return self.net(images.float())

    def card(self) -> dict:
        return {
            "extractor": f"random conv (seed {self.seed})",
            "weights_sha256": f"seed{self.seed}",
            "resize": "none",
            "input": "float32",
        }
