"""Fixtures for the diffusion tests."""

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """The networks here are tiny: one thread avoids waiting on busy cores between small ops."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(0)
