"""Fixtures for the diffusion tests."""

import pytest
import torch


@pytest.fixture(autouse=True)
def tiny_networks(one_thread):
    """The networks here are tiny: they run on one thread."""


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(0)
