"""Exact resume after any stop: signals at step boundaries, mid-epoch checkpoints, SIGKILL, corrupt files."""

import json
import os
import signal
import subprocess
import sys
import time
import warnings

import pytest
import torch

from gentk import api, engine
from gentk.errors import GentkError, GentkWarning, Interrupted
from gentk.rundir import RunDir

TIMING = {"seconds", "images_per_s"}
# vae_toy made small: 8 steps an epoch, random noise in every step (so RNG states matter)
SMALL = ["run.epochs=3", "data.n_train=512", "data.n_test=64", "run.n_samples=0", "metrics.0.k=8"]


def history(run_dir: RunDir) -> list[dict]:
    """Step and epoch records without the timings (which differ between runs)."""
    return [
        {k: v for k, v in r.items() if k not in TIMING} for r in run_dir.metrics() if r.get("kind") in ("step", "epoch")
    ]


def weights(run_dir: RunDir) -> dict:
    return run_dir.load_checkpoint()["networks"]


def assert_same_run(a: RunDir, b: RunDir) -> None:
    assert history(a) == history(b)
    wa, wb = weights(a), weights(b)
    for net in wa:
        for key in wa[net]:
            assert torch.equal(wa[net][key], wb[net][key]), (net, key)


@pytest.fixture
def log_every_step(monkeypatch):
    monkeypatch.setattr(engine, "LOG_EVERY", 1)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """The uninterrupted small vae_toy run, a record every step."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(engine, "LOG_EVERY", 1)
        return api.train("vae_toy", overrides=SMALL, out=tmp_path_factory.mktemp("full")).dir


def signal_at(monkeypatch, step: int, sig: int, when: str = "after", times: int = 1) -> None:
    """Send `sig` to this process before or after the model's train step number `step` (0-based)."""
    original = engine.build_model

    def build(recipe, info, device):
        model = original(recipe, info, device)
        inner = model.train_step

        def train_step(batch, ctx):
            if when == "before" and ctx.step == step:
                for _ in range(times):
                    os.kill(os.getpid(), sig)
            out = inner(batch, ctx)
            if when == "after" and ctx.step == step:
                for _ in range(times):
                    os.kill(os.getpid(), sig)
            return out

        model.train_step = train_step
        return model

    monkeypatch.setattr(engine, "build_model", build)


@pytest.mark.parametrize(
    ("step", "sig", "when"),
    [
        (0, signal.SIGINT, "after"),  # right after the first optimizer step
        (4, signal.SIGINT, "after"),  # mid-epoch, right after the optimizer step
        (5, signal.SIGTERM, "before"),  # mid-epoch, before the step's work
        (7, signal.SIGINT, "after"),  # the last step of epoch 1: an epoch boundary
        (8, signal.SIGUSR1, "before"),  # the first step of epoch 2
        (13, signal.SIGTERM, "after"),
    ],
)
def test_a_signal_at_any_step_resumes_to_the_same_losses(
    baseline, tmp_path, monkeypatch, log_every_step, step, sig, when
):
    with monkeypatch.context() as patch:
        signal_at(patch, step, sig, when)
        with pytest.raises(Interrupted) as info:
            api.train("vae_toy", overrides=SMALL, out=tmp_path)
    stop = info.value
    assert stop.exit_code == 128 + sig and stop.run_path is not None
    assert f"Resume with: gentk run --resume {stop.run_path}" in str(stop)
    cut = RunDir.open(stop.run_path)
    position = cut.load_checkpoint()["position"]
    assert position["step"] == step + 1  # the stop comes at the end of the step the signal arrived in
    assert cut.status()["status"] == "interrupted"
    assert max(r["step"] for r in cut.metrics()) == step + 1
    api.resume(cut.path)
    assert_same_run(cut, baseline)
    assert cut.status()["status"] == "done"


def test_signals_during_the_checkpoint_write_are_ignored_with_a_message(
    baseline, tmp_path, monkeypatch, capfd, log_every_step
):
    original = RunDir.save_checkpoint

    def save(self, state, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)  # a second (and third) Ctrl-C while saving
        os.kill(os.getpid(), signal.SIGTERM)
        original(self, state, **kwargs)

    with monkeypatch.context() as patch:
        signal_at(patch, 2, signal.SIGINT, "after")
        patch.setattr(RunDir, "save_checkpoint", save)
        with pytest.raises(Interrupted) as info:
            api.train("vae_toy", overrides=SMALL, out=tmp_path)
    err = capfd.readouterr().err
    assert "stopping after this step" in err and "saving a checkpoint; please wait" in err
    assert info.value.signum == signal.SIGINT
    cut = RunDir.open(info.value.run_path)
    assert cut.load_checkpoint()["position"]["step"] == 3
    api.resume(cut.path)
    assert_same_run(cut, baseline)


def test_a_second_signal_before_the_save_is_ignored(tmp_path, monkeypatch, capfd):
    with monkeypatch.context() as patch:
        signal_at(patch, 3, signal.SIGINT, "before", times=2)
        with pytest.raises(Interrupted):
            api.train("vae_toy", overrides=SMALL, out=tmp_path)
    assert "please wait" in capfd.readouterr().err


def test_mid_epoch_checkpoints_keep_the_last_k_and_the_best(tmp_path, log_every_step):
    overrides = [*SMALL, "run.checkpoint_every='3'", "run.keep_checkpoints=2", "run.best_metric='nll/nll'"]
    run = api.train("vae_toy", overrides=overrides, out=tmp_path)
    numbered = sorted(p.name for p in run.path.glob("checkpoint-*.pt"))
    assert numbered == ["checkpoint-00000021.pt", "checkpoint-00000024.pt"]  # steps 3, 6, ... 21, and 24 (end)
    assert os.path.samefile(run.path / "checkpoint.pt", run.path / "checkpoint-00000024.pt")
    nll = [r["nll/nll"] for r in run.metrics("epoch")]
    best_epoch = min(range(3), key=lambda i: nll[i]) + 1
    best = torch.load(run.path / "best.pt", weights_only=True)
    assert best["position"]["epoch"] == best_epoch and best["best"]["value"] == min(nll)
    assert not [p for p in run.path.iterdir() if p.name.startswith(".")]


def test_checkpoints_by_the_clock(tmp_path, monkeypatch):
    monkeypatch.setattr(engine, "parse_every", lambda value: (None, 0.0))  # always due
    run = api.train("vae_toy", overrides=[*SMALL, "run.keep_checkpoints=3"], out=tmp_path)
    assert [p.name for p in sorted(run.path.glob("checkpoint-*.pt"))] == [
        f"checkpoint-{step:08d}.pt" for step in (22, 23, 24)
    ]


def test_checkpoint_every_parses_steps_and_minutes():
    assert engine.parse_every("500") == (500, None)
    assert engine.parse_every("10m") == (None, 600.0)
    assert engine.parse_every(None) == (None, None)
    with pytest.raises(GentkError, match="neither"):
        engine.parse_every("soon")


def test_a_corrupt_newest_checkpoint_falls_back_to_the_previous_one(baseline, tmp_path, monkeypatch, log_every_step):
    overrides = [*SMALL, "run.checkpoint_every='5'", "run.keep_checkpoints=3"]
    with monkeypatch.context() as patch:
        signal_at(patch, 11, signal.SIGTERM)
        with pytest.raises(Interrupted) as info:
            api.train("vae_toy", overrides=overrides, out=tmp_path)
    cut = RunDir.open(info.value.run_path)
    newest = cut.path / "checkpoint-00000012.pt"
    assert os.path.samefile(newest, cut.checkpoint_file)
    newest.write_bytes(newest.read_bytes()[:1000])  # damaged in place: both names see it
    with pytest.warns(GentkWarning, match="falling back to checkpoint-00000010.pt"):
        api.resume(cut.path)
    assert_same_run(cut, baseline)


# -- history ----------------------------------------------------------------------------------
def test_a_second_writer_is_refused_naming_the_holder(tmp_path, log_every_step):
    run = api.train("vae_toy", overrides=[*SMALL, "run.epochs=1"], out=tmp_path)
    holder = RunDir(run.path)
    holder.lock()
    try:
        with pytest.raises(GentkError, match=f"in use by another gentk process \\(pid {os.getpid()} on host"):
            api.resume(run.path, overrides=["run.epochs=2"])
    finally:
        holder.unlock()
    api.resume(run.path, overrides=["run.epochs=2"])  # free again
    assert [r["epoch"] for r in run.metrics("epoch")] == [1, 2]


def test_a_torn_metrics_line_is_skipped_by_readers_and_dropped_on_resume(
    baseline, tmp_path, monkeypatch, log_every_step
):
    with monkeypatch.context() as patch:
        signal_at(patch, 9, signal.SIGINT)
        with pytest.raises(Interrupted) as info:
            api.train("vae_toy", overrides=SMALL, out=tmp_path)
    cut = RunDir.open(info.value.run_path)
    with open(cut.metrics_file, "a") as f:
        f.write('{"kind": "step", "epoch": 1, "step": 11, "loss": 1.2')  # a write cut short
    with pytest.warns(GentkWarning, match="unreadable line"):
        assert max(r["step"] for r in cut.metrics()) == 10
    api.resume(cut.path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_same_run(cut, baseline)


def test_a_run_that_fails_before_its_first_step_leaves_no_directory(tmp_path, monkeypatch):
    def broken(recipe, info, device):
        raise GentkError("cannot build this model")

    monkeypatch.setattr(engine, "build_model", broken)
    with pytest.raises(GentkError, match="cannot build"):
        api.train("vae_toy", overrides=SMALL, out=tmp_path)
    assert list(tmp_path.iterdir()) == []


# -- processes stopped from outside -----------------------------------------------------------
TOY = """
[run]
epochs = 4
batch_size = 16
n_samples = 0
threads = 1
checkpoint_every = "{every}"
[data]
use = "toy2d"
name = "ring"
n_train = 1600
n_test = 64
[model]
use = "vae"
[model.encoder]
use = "mlp_gaussian"
latent_dim = 2
hidden = [32]
[model.decoder]
use = "mlp_gaussian"
hidden = [32]
"""


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """A 400-step toy recipe (100 steps an epoch) and its uninterrupted run."""
    folder = tmp_path_factory.mktemp("toy")
    recipe = folder / "toy.toml"
    recipe.write_text(TOY.format(every="30"))
    return recipe, api.train(recipe, out=folder / "full").dir


def start(recipe, out, *args):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "gentk", "run", str(recipe), "--quiet", "--out", str(out), *args]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_step(out, proc, step: int, timeout: float = 60) -> RunDir:
    """Wait until the run in `out` has logged a step record at or beyond `step`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        for path in out.glob("*/metrics.jsonl"):
            for line in path.read_text().splitlines():
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if record.get("kind") == "step" and record["step"] >= step:
                    return RunDir(path.parent)
        time.sleep(0.005)
    proc.kill()
    raise AssertionError("the run logged no step in time")


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_to_the_process_saves_and_resumes_exactly(toy, tmp_path, sig, code):
    recipe, full = toy
    proc = start(recipe, tmp_path)
    cut = wait_for_step(tmp_path, proc, 20)
    with pytest.raises(GentkError, match=f"in use by another gentk process \\(pid {proc.pid} "):
        RunDir(cut.path).lock()  # a second writer is refused while it runs
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert f"Resume with: gentk run --resume {cut.path}" in err and "Traceback" not in err
    assert cut.status()["status"] == "interrupted"
    api.resume(cut.path)
    assert_same_run(cut, full)


@pytest.mark.parametrize("every", ["30", "1000"])  # a mid-epoch checkpoint before the kill, or none at all
def test_sigkill_resumes_from_the_last_checkpoint_with_history_cut_back(toy, tmp_path, every):
    _, full = toy
    recipe = tmp_path / "toy.toml"
    recipe.write_text(TOY.format(every=every))
    proc = start(recipe, tmp_path / "runs")
    cut = wait_for_step(tmp_path / "runs", proc, 40 if every == "30" else 20)
    proc.kill()
    proc.communicate()
    assert cut.status()["status"] == "stopped"  # marked running, but no process holds its lock
    saved = cut.load_checkpoint()["position"]["step"] if cut.has_checkpoint() else None
    assert saved is None if every == "1000" else saved >= 30
    (cut.path / ".checkpoint.pt.killed.tmp").write_bytes(b"half")  # a write the kill cut short
    api.resume(cut.path)
    assert not (cut.path / ".checkpoint.pt.killed.tmp").exists()
    assert [r["kind"] for r in cut.metrics()].count("start") == 1
    assert_same_run(cut, full)
