"""Two CPU processes under torchrun train like one process on the same global batch."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import torch

from gentk import api

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def test_two_processes_match_one_process(blob_recipe, tmp_path, train_two_processes):
    single = api.train(blob_recipe, out=tmp_path / "one")
    two = train_two_processes(tmp_path / "two", str(blob_recipe), pythonpath=str(tmp_path / "site"))
    one_state = single.dir.load_checkpoint()["networks"]["gaussian"]
    two_state = two.load_checkpoint()["networks"]["gaussian"]
    for key in one_state:
        torch.testing.assert_close(two_state[key], one_state[key], rtol=1e-5, atol=1e-6)
    one_losses = [r["loss"] for r in single.metrics("epoch")]
    two_losses = [r["loss"] for r in two.metrics() if r.get("kind") == "epoch"]
    assert len(two_losses) == 3 and all(abs(a - b) < 1e-4 for a, b in zip(one_losses, two_losses, strict=True))


def test_gan_alternation_trains_and_resumes_under_two_processes(tmp_path, train_two_processes):
    small = ["--set", "data.n_train=512", "--set", "data.n_test=128", "--set", "run.n_samples=64"]
    run = train_two_processes(tmp_path / "gan", str(RECIPES / "gan_ring.toml"), "--set", "run.epochs=1", *small)
    train_two_processes(tmp_path / "gan", "--resume", str(run.path), "--set", "run.epochs=2")
    epochs = [r for r in run.metrics() if r.get("kind") == "epoch"]
    assert [r["epoch"] for r in epochs] == [1, 2]
    assert all("mode_coverage/modes" in r for r in epochs)
    state = run.load_checkpoint()
    assert set(state["networks"]) == {"generator", "critic"} and state["position"]["step"] == 2 * 512 // 128


def _sync_check(rank: int, init_file: str, drift: float, outcome) -> None:
    import torch.distributed as dist

    from gentk.distributed import check_in_sync
    from gentk.errors import GentkError

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    net = torch.nn.Linear(3, 2)
    torch.nn.init.zeros_(net.bias)
    torch.nn.init.constant_(net.weight, 1.0 + drift * rank)
    try:
        check_in_sync({"net": net}, torch.device("cpu"))
        outcome.put((rank, "in sync"))
    except GentkError as exc:
        outcome.put((rank, str(exc)))
    finally:
        dist.destroy_process_group()


def test_parameters_that_drift_apart_between_processes_are_reported(tmp_path):
    import torch.multiprocessing as mp

    for drift, expected in [(0.0, "in sync"), (1e-6, "differ between processes")]:
        ctx = mp.get_context("spawn")
        outcome = ctx.SimpleQueue()
        mp.spawn(_sync_check, args=(str(tmp_path / f"init{drift}"), drift, outcome), nprocs=2)
        results = [outcome.get() for _ in range(2)]
        assert all(expected in text for _, text in results), results


def test_sigterm_to_the_launcher_saves_every_process_and_resumes_exactly(tmp_path, train_two_processes):
    from tests.core.test_resume import TOY, assert_same_run, wait_for_step

    recipe = tmp_path / "toy.toml"
    recipe.write_text(TOY.format(every="1000").replace("epochs = 4", "epochs = 2"))
    full = train_two_processes(tmp_path / "full", str(recipe))
    out = tmp_path / "cut"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launcher = subprocess.Popen(
        [sys.executable, "-m", "gentk", "run", str(recipe), "--nproc", "2", "--quiet", "--out", str(out)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    cut = wait_for_step(out, launcher, 20, timeout=120)
    launcher.send_signal(signal.SIGTERM)
    _, err = launcher.communicate(timeout=120)
    assert launcher.returncode == 143, err[-3000:]
    assert f"Resume with: gentk run --resume {cut.path} --nproc 2" in err and "Traceback" not in err
    state = cut.load_checkpoint()
    rngs = state["rng"]["processes"]
    assert 20 <= state["position"]["step"] < 200 and len(rngs) == 2
    assert not torch.equal(rngs[0]["torch"], rngs[1]["torch"])  # each process's own random state
    train_two_processes(out, "--resume", str(cut.path))
    assert_same_run(cut, full)


def test_fp16_loss_scaling_under_two_processes_skips_steps_together(tmp_path, train_two_processes):
    """Catches processes that disagree on skipping an overflowing fp16 step (gradients averaged
    after the scaler's local check): their weights drift apart, which the end-of-epoch check
    reports, or one process waits forever in the other's all-reduce (the launcher times out)."""
    small = ["data.n_train=1024", "data.n_test=64", "run.n_samples=0", "metrics=[]", "run.epochs=1"]
    sets = [arg for item in [*small, "run.precision='fp16'"] for arg in ("--set", item)]
    run = train_two_processes(tmp_path / "fp16", str(RECIPES / "vae_toy.toml"), *sets)
    state = run.load_checkpoint()
    [scale] = [s["scale"] for s in state["loss_scales"].values()]
    assert scale < 65536.0  # steps overflowed and were skipped, on both processes alike
    assert all(torch.isfinite(t).all() for net in state["networks"].values() for t in net.values())
