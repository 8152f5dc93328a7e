"""A weights file for the FID Inception network with random weights, so tests never download."""

from pathlib import Path
from unittest import mock

import torch
import torch_fidelity.feature_extractor_inceptionv3 as inception
from torch import nn

LIVELY = 6**0.5
"""A gain on every convolution's weights that keeps activations at their scale through the network: torch's
default initialisation has a third of the variance a ReLU layer needs, so with gain 1 the 2048 pool
features come out near 1e-8 and barely tell images apart; with sqrt(6) they are of order 1."""


def random_inception_weights(folder: Path, gain: float = 1.0) -> Path:
    """Write (once per folder and gain) an Inception-v3 state dict with torch's default initialisation,
    every convolution's weights multiplied by `gain`."""
    path = folder / ("inception-random.pth" if gain == 1 else f"inception-random-gain{gain:.4f}.pth")
    if not path.is_file():
        cls = inception.FeatureExtractorInceptionV3
        with (
            mock.patch.object(inception, "load_state_dict_from_url", return_value={}),
            mock.patch.object(cls, "load_state_dict", return_value=None),
            torch.random.fork_rng(devices=[]),
        ):
            torch.manual_seed(0)
            net = cls("inception-v3-compat", ["2048"])
        with torch.no_grad():
            for module in net.modules():
                if isinstance(module, nn.Conv2d):
                    module.weight.mul_(gain)
        folder.mkdir(parents=True, exist_ok=True)
        torch.save(net.state_dict(), path)
    return path
