"""Run directories: atomic writes, a full disk, the lock, torn metrics lines, status and `gentk runs`."""

import errno
import json
import os
import stat

import pytest
import torch
from typer.testing import CliRunner

from gentk import api, rundir
from gentk.errors import GentkError, GentkWarning
from gentk.rundir import DiskFullError, RunDir, atomic_write_bytes

SMALL = ["run.epochs=2", "data.n_train=256", "data.n_test=64", "run.n_samples=0", "metrics.0.k=4"]


def full_disk_after(monkeypatch, budget: int):
    """Writes succeed for `budget` bytes, then fail with ENOSPC (after writing what fits)."""
    left = [budget]
    original = rundir._write_all

    def write(fd, data):
        view = memoryview(data).cast("B")
        if len(view) > left[0]:
            os.write(fd, view[: left[0]])
            left[0] = 0
            raise OSError(errno.ENOSPC, "No space left on device")
        left[0] -= len(view)
        original(fd, view)

    monkeypatch.setattr(rundir, "_write_all", write)


def test_disk_full_during_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch):
    run = RunDir(tmp_path)
    run.save_checkpoint({"networks": {"a": torch.zeros(3)}})
    with monkeypatch.context() as patch:
        full_disk_after(patch, 100)
        with pytest.raises(DiskFullError, match=r"disk full while writing .*checkpoint.pt \(.* free"):
            run.save_checkpoint({"networks": {"a": torch.ones(1000)}})
    assert torch.equal(run.load_checkpoint()["networks"]["a"], torch.zeros(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]  # no temporary file left


def test_disk_full_during_a_metrics_write_leaves_no_half_line(tmp_path, monkeypatch):
    run = RunDir(tmp_path)
    run.log({"kind": "step", "step": 1, "loss": 1.0})
    with monkeypatch.context() as patch:
        full_disk_after(patch, 10)
        with pytest.raises(DiskFullError, match="metrics.jsonl"):
            run.log({"kind": "step", "step": 2, "loss": 0.5})
    assert (tmp_path / "metrics.jsonl").read_text() == '{"kind": "step", "step": 1, "loss": 1.0}\n'
    run.log({"kind": "step", "step": 2, "loss": 0.5})
    assert [r["step"] for r in run.metrics()] == [1, 2]


def test_disk_full_at_start_leaves_no_run_directory(tmp_path, monkeypatch):
    full_disk_after(monkeypatch, 0)
    with pytest.raises(DiskFullError, match="recipe.toml"):
        api.train("vae_toy", overrides=SMALL, out=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_disk_full_mid_run_reports_it_and_keeps_the_checkpoint(tmp_path, monkeypatch):
    original = RunDir.save_checkpoint
    calls = []

    def save(self, state, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            full_disk_after(monkeypatch, 50)
        original(self, state, **kwargs)

    monkeypatch.setattr(RunDir, "save_checkpoint", save)
    with pytest.raises(DiskFullError, match="disk full while writing"):
        api.train("vae_toy", overrides=SMALL, out=tmp_path)
    monkeypatch.undo()
    [path] = list(tmp_path.iterdir())
    run = RunDir(path)
    assert run.load_checkpoint()["position"]["epoch"] == 1
    assert not [p for p in path.iterdir() if p.name.startswith(".")]
    api.resume(path)  # space freed: the run goes on
    assert [r["epoch"] for r in run.metrics() if r["kind"] == "epoch"] == [1, 2]


def test_torn_and_corrupt_lines_are_skipped_with_a_warning(tmp_path):
    run = RunDir(tmp_path)
    run.log({"kind": "step", "step": 1})
    with open(run.metrics_file, "a") as f:
        f.write('{"kind": "st')  # torn: no newline
    with pytest.warns(GentkWarning, match="skipped 1 unreadable line"):
        assert run.metrics() == [{"kind": "step", "step": 1}]
    run.log({"kind": "step", "step": 2})  # starts a line of its own
    with pytest.warns(GentkWarning):
        assert [r["step"] for r in run.metrics()] == [1, 2]
    run.truncate_metrics(5)
    assert run.metrics_file.read_text().count("\n") == 2


def test_the_lock_names_its_holder_and_is_released(tmp_path):
    a, b = RunDir(tmp_path), RunDir(tmp_path)
    a.lock()
    assert b.holder() is not None and f"pid {os.getpid()}" in b.holder()
    with pytest.raises(GentkError, match=f"pid {os.getpid()} on host"):
        b.lock()
    a.unlock()
    assert b.holder() is None
    b.lock()
    b.unlock()


def test_status_and_the_runs_listing(tmp_path):
    from gentk.cli import app

    done = api.train("vae_toy", overrides=SMALL, out=tmp_path)
    status = done.dir.status()
    assert status["status"] == "done" and status["epoch"] == 2 and status["step"] == 8
    failed = RunDir(tmp_path / "other")
    (tmp_path / "other").mkdir()
    failed.recipe_file.write_text("")
    failed.write_status("running", epoch=1, epochs=4, step=3)  # its process is gone
    result = CliRunner().invoke(app, ["runs", str(tmp_path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert done.path.name in result.output and "done" in result.output and "2/2" in result.output
    assert "stopped" in result.output and "nll/nll" in result.output
    status = json.loads((done.path / "status.json").read_text())
    assert status["latest"]["loss"] == done.metrics("epoch")[-1]["loss"]


def test_a_figure_written_on_a_full_disk_is_reported_and_the_old_one_kept(tmp_path, monkeypatch):
    """Catches figure writes bypassing the atomic writer: a full disk surfaced as an `unexpected
    error: OSError` and left a truncated PNG."""
    import errno

    import torch

    from gentk import figures, rundir

    path = tmp_path / "figures" / "samples.png"
    figures.save_samples(torch.rand(4, 1, 8, 8), path)
    before = path.read_bytes()

    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(rundir, "_write_all", full)
    with pytest.raises(rundir.DiskFullError, match="disk full while writing"):
        figures.save_samples(torch.rand(4, 1, 8, 8), path)
    assert path.read_bytes() == before and sorted(p.name for p in path.parent.iterdir()) == ["samples.png"]


def test_a_folder_turned_read_only_mid_write_is_a_clear_error(tmp_path, monkeypatch):
    """Catches the cleanup of a failed write raising its own OSError (the folder became read-only
    between writing the temporary file and renaming it), which escaped as an unexpected error."""
    import errno
    from pathlib import Path

    from gentk import rundir

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(rundir.os, "replace", read_only)
    monkeypatch.setattr(Path, "unlink", read_only)
    with pytest.raises(GentkError, match="could not write .*status.json: Read-only file system"):
        rundir.atomic_write_text(tmp_path / "status.json", "{}")


def test_atomic_writes_follow_the_umask(tmp_path):
    """Catches the temporary file's private 0600 mode surviving the rename, which left checkpoints,
    recipes and reports unreadable to the group and to web servers."""
    plain = tmp_path / "plain.txt"
    plain.write_bytes(b"x")
    atomic = tmp_path / "atomic.txt"
    atomic_write_bytes(atomic, lambda f: f.write(b"x"))
    assert stat.S_IMODE(os.stat(atomic).st_mode) == stat.S_IMODE(os.stat(plain).st_mode)
