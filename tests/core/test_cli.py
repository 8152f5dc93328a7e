"""The CLI, driven in-process through `gentk.cli.main` and once through the console script."""

import shutil
import subprocess
import sys

import pytest
import torch

from gentk.cli import main


def gentk(capsys, *args):
    """Run the CLI; return (exit code, stdout, stderr)."""
    try:
        main(list(map(str, args)))
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err


def test_resume_with_a_recipe_is_an_error(capsys, tmp_path):
    """Catches `gentk run R --resume RUN` silently ignoring one of the two."""
    code, _, err = gentk(capsys, "run", "vae_toy", "--resume", tmp_path)
    assert code == 2 and "not both" in err


def test_help_lists_every_command(capsys):
    code, out, _ = gentk(capsys, "--help")
    assert code == 0
    for command in ("run", "check", "show", "recipes", "plugins", "kinds", "components", "describe", "sample", "eval"):
        assert command in out


def test_check_show_and_describe(capsys, blob_recipe):
    assert gentk(capsys, "check", blob_recipe)[0] == 0
    code, out, _ = gentk(capsys, "show", blob_recipe, "--set", "run.epochs=7")
    assert code == 0 and "epochs = 7" in out and 'use = "adam"' in out
    code, out, _ = gentk(capsys, "describe", "blob")
    assert code == 0 and "n_train" in out and "512" in out
    code, out, _ = gentk(capsys, "components", "model")
    assert code == 0 and "gaussian_fit" in out


def test_plugins_command_shows_distributions(capsys, example_plugin):
    code, out, _ = gentk(capsys, "plugins")
    assert code == 0 and "gentk-example-plugin" in out and "gaussian_fit" in out


def test_user_errors_exit_nonzero_without_traceback(capsys, blob_recipe, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(blob_recipe.read_text().replace('use = "blob"', 'use = "blobb"') + "\n[run.extra]\nx = 1\n")
    code, out, err = gentk(capsys, "check", bad)
    assert code == 2 and "Traceback" not in err
    assert "bad.toml" in err and "data -> use" in err and "blob" in err
    code, _, err = gentk(capsys, "run", tmp_path / "missing.toml", "--out", tmp_path)
    assert code == 2 and "not found" in err and "Traceback" not in err
    code, _, err = gentk(capsys, "components", "widget")
    assert code == 2 and "encoder" in err
    code, _, err = gentk(capsys, "--debug", "check", bad)
    assert code == 2 and "Traceback" in err


def test_run_sample_eval_and_resume(capsys, blob_recipe, tmp_path):
    code, out, _ = gentk(capsys, "run", blob_recipe, "--out", tmp_path / "runs", "--quiet", "--set", "run.epochs=2")
    assert code == 0
    [run_dir] = list((tmp_path / "runs").iterdir())
    code, _, _ = gentk(capsys, "sample", run_dir, "--n", "9", "--out", tmp_path / "s.pt")
    samples = torch.load(tmp_path / "s.pt", weights_only=True)
    assert code == 0 and samples.shape == (9, 2)
    assert gentk(capsys, "sample", run_dir, "--n", "9", "--out", tmp_path / "s.png")[0] == 0
    assert (tmp_path / "s.png").stat().st_size > 0
    code, _, err = gentk(capsys, "sample", run_dir, "--out", tmp_path / "s.jpg")
    assert code == 2 and ".png" in err
    code, _, err = gentk(capsys, "sample", run_dir, "--out", tmp_path / "g.png", "--guidance", "2")
    assert code == 2 and "guidance" in err
    code, _, _ = gentk(capsys, "run", "--resume", run_dir, "--quiet", "--set", "run.epochs=3")
    assert code == 0
    code, _, err = gentk(capsys, "sample", tmp_path, "--out", tmp_path / "x.png")
    assert code == 2 and "not a run directory" in err


def test_sample_and_eval_from_a_chosen_checkpoint(capsys, blob_recipe, tmp_path):
    """Catches --checkpoint being ignored (the newest weights used instead) or a missing
    checkpoint failing with a traceback rather than naming the checkpoints there are."""
    args = ("--out", tmp_path / "runs", "--quiet", "--set", "run.epochs=2", "--set", "run.keep_checkpoints=2")
    assert gentk(capsys, "run", blob_recipe, *args)[0] == 0
    [run_dir] = list((tmp_path / "runs").iterdir())
    [first, second] = sorted(p.name for p in run_dir.glob("checkpoint-*.pt"))
    for name in (first, second):
        assert gentk(capsys, "sample", run_dir, "--checkpoint", name, "--out", tmp_path / f"{name}.pt")[0] == 0
    newest = gentk(capsys, "sample", run_dir, "--out", tmp_path / "newest.pt")[0]
    drawn = {name: torch.load(tmp_path / f"{name}.pt", weights_only=True) for name in (first, second, "newest")}
    assert newest == 0 and torch.equal(drawn[second], drawn["newest"]) and not torch.equal(drawn[first], drawn[second])
    code, _, err = gentk(capsys, "eval", run_dir, "--metric", "nll", "--checkpoint", "best.pt")
    assert code == 2 and "no checkpoint 'best.pt'" in err and first in err


@pytest.mark.skipif(shutil.which("gentk") is None, reason="console script not installed")
def test_console_script_runs():
    done = subprocess.run(["gentk", "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("gentk ")
    done = subprocess.run([sys.executable, "-m", "gentk", "check", "no-such.toml"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
