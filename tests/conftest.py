"""Shared test settings: hypothesis profiles and a fresh plugin manager per test."""

import os

import pytest
import torch
from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=30, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=300, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(autouse=True)
def fresh_plugins():
    """Each test starts with plugins loaded afresh from the entry points."""
    from gentk.registry import reset_plugins

    reset_plugins()
    yield
    reset_plugins()


@pytest.fixture
def one_thread():
    """Tiny tensors: one thread avoids waiting on busy cores between small ops."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def run_cli():
    """Runs `python -m gentk ARGS` in a subprocess, one OpenMP thread per process; returns the
    finished process."""
    return _run_cli


def _run_cli(*args: str, pythonpath: str | None = None, timeout: int = 240):
    import subprocess
    import sys

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join([pythonpath, os.environ.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "gentk", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)
