"""A weights file for the FID Inception network with random weights, so tests never download."""

from pathlib import Path
from unittest import mock

import torch
import torch_fidelity.feature_extractor_inceptionv3 as inception


def random_inception_weights(folder: Path) -> Path:
    """Write (once per folder) an Inception-v3 state dict with torch's default initialisation."""
    path = folder / "inception-random.pth"
    if not path.is_file():
        cls = inception.FeatureExtractorInceptionV3
        with (
            mock.patch.object(inception, "load_state_dict_from_url", return_value={}),
            mock.patch.object(cls, "load_state_dict", return_value=None),
            torch.random.fork_rng(devices=[]),
        ):
            torch.manual_seed(0)
            net = cls("inception-v3-compat", ["2048"])
        folder.mkdir(parents=True, exist_ok=True)
        torch.save(net.state_dict(), path)
    return path
