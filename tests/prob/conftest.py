"""The probability tests work on small tensors, where one CPU thread is fastest."""

import pytest


@pytest.fixture(autouse=True)
def small_tensors(one_thread):
    """Everything here runs on one thread."""
