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
def train_two_processes():
    """Runs `python -m gentk run ARGS --nproc 2 --out OUT` (OUT empty before) in a subprocess, one
    OpenMP thread per process; returns the run directory."""

    def train(out, *args: str, pythonpath: str | None = None):
        import subprocess
        import sys

        from gentk.rundir import RunDir

        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        if pythonpath:
            env["PYTHONPATH"] = os.pathsep.join([pythonpath, os.environ.get("PYTHONPATH", "")])
        done = subprocess.run([sys.executable, "-m", "gentk", "run", *args, "--nproc", "2", "--quiet", "--out",
                               str(out)], env=env, capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, done.stderr[-2000:]
        [path] = list(out.iterdir())
        return RunDir(path)

    return train
