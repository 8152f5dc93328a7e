"""Two CPU processes under torchrun train like one process on the same global batch."""

import os
import subprocess
import sys

import torch

from gentk import api
from gentk.rundir import RunDir


def test_two_processes_match_one_process(blob_recipe, tmp_path):
    single = api.train(blob_recipe, out=tmp_path / "one")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "gentk", "run", str(blob_recipe), "--nproc", "2", "--quiet",
                           "--out", str(tmp_path / "two")], env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    [run_path] = list((tmp_path / "two").iterdir())
    two = RunDir(run_path)
    one_state = single.dir.load_checkpoint()["networks"]["gaussian"]
    two_state = two.load_checkpoint()["networks"]["gaussian"]
    for key in one_state:
        torch.testing.assert_close(two_state[key], one_state[key], rtol=1e-5, atol=1e-6)
    one_losses = [r["loss"] for r in single.metrics("epoch")]
    two_losses = [r["loss"] for r in two.metrics() if r.get("kind") == "epoch"]
    assert len(two_losses) == 3 and all(abs(a - b) < 1e-4 for a, b in zip(one_losses, two_losses))
