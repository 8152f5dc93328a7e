"""`gentk compare`: the runs' latest figures in one table, protocol cards and their warnings, the Markdown
and CSV files, the curves figure, and the sweep of a diffusion sampling setting."""

import csv
import io
import json

import pytest
from PIL import Image

from gentk.compare import (
    compare_command,
    comparison,
    csv_text,
    curve_figures,
    loss_panels,
    markdown,
    read_run,
    read_runs,
)
from gentk.errors import GentkError, GentkWarning
from gentk.rundir import RunDir
from tests.core.test_cli import gentk
from tests.diffusion.diffusion_helpers import TINY_UNET
from tests.diffusion.test_diffusion_model import write_digits

FACTS = {"seed": 0, "run_precision": "bf16", "step": 700, "checkpoint": "newest"}
CARD = {"metric": "quality", "generated": 200, "extractor": "classifier (64-d)", "sampler": "ddim", "steps": 10}


def card(**changes):
    return {**CARD, **FACTS, **changes}


def make_run(root, name, model, records):
    """A run directory written by hand: a recipe naming the model, and the metric records."""
    path = root / name
    path.mkdir(parents=True)
    (path / "recipe.toml").write_text(f'[model]\nuse = "{model}"\n')
    run = RunDir(path)
    for record in records:
        run.log(record)
    return path


def losses(*values, start=20):
    return [{"kind": "step", "epoch": 0, "step": start * (i + 1), "loss": v} for i, v in enumerate(values)]


def ddpm_run(root, name, fid, **card_changes):
    return make_run(
        root,
        name,
        "ddpm",
        [
            *losses(0.4, 0.1, 0.05),
            {"kind": "epoch", "epoch": 1, "step": 60, "loss": 0.1},
            {
                "kind": "eval",
                "metric": "quality",
                "step": 60,
                "epoch": 1,
                "fid": fid,
                "kid": 0.5,
                "kid_std": fid / 100,
                "protocol": card(**card_changes),
            },
        ],
    )


def vae_run(root, name="vae", k=100):
    return make_run(
        root,
        name,
        "vae",
        [
            *losses(30.0, 12.0),
            {"kind": "epoch", "epoch": 1, "step": 40, "loss": 12.0, "nll/nll": 95.25, "nll/k": k},
            {"kind": "epoch", "epoch": 2, "step": 80, "loss": 9.0, "nll/nll": -417.43109130859375, "nll/k": k},
        ],
    )


def test_latest_figures_are_the_newest_by_step_not_by_line(tmp_path):
    """Catches the latest figures taken from the last line of the file (an eval of an old checkpoint,
    logged after training ended, shown as the run's figures), or an epoch record preferred to the eval
    record logged after it at the same step."""
    path = make_run(
        tmp_path,
        "run",
        "ddpm",
        [
            {"kind": "epoch", "epoch": 1, "step": 100, "quality/fid": 90.0, "quality/protocol": card(step=100)},
            {
                "kind": "epoch",
                "epoch": 3,
                "step": 300,
                "quality/fid": 30.0,
                "quality/kid": 2.0,
                "nll/nll": 1.7,
                "quality/protocol": card(step=300),
            },
            {
                "kind": "eval",
                "metric": "quality",
                "step": 100,
                "epoch": 1,
                "fid": 80.0,
                "kid": 5.0,
                "protocol": card(step=100, checkpoint="checkpoint-00000100.pt"),
            },
            {"kind": "eval", "metric": "nll", "step": 300, "epoch": 3, "nll": 1.5, "warning": "text is no figure"},
        ],
    )
    run = read_run(path)
    assert run.figures == {"quality/fid": 30.0, "quality/kid": 2.0, "nll/nll": 1.5}
    assert run.latest["quality"].card == card(step=300)
    assert (run.model, run.epoch, run.step) == ("ddpm", 3, 300)


def test_table_leaves_blanks_where_a_run_lacks_a_figure(tmp_path):
    """Catches a run's figures written under another run's columns (or a missing one shown as 0), and
    CSV cells rounded to the terminal's four digits."""
    runs = read_runs([ddpm_run(tmp_path, "ddpm", fid=67.09980767299226), vae_run(tmp_path)])
    report = comparison(runs)
    assert report.columns == [
        "run",
        "model",
        "epoch",
        "step",
        "quality/fid",
        "quality/kid",
        "quality/kid_std",
        "nll/nll",
        "nll/k",
    ]
    assert report.rows == [
        ["ddpm", "ddpm", 1, 60, 67.09980767299226, 0.5, 67.09980767299226 / 100, None, None],
        ["vae", "vae", 2, 80, None, None, None, -417.43109130859375, 100],
    ]
    rows = list(csv.DictReader(io.StringIO(csv_text(report))))
    assert float(rows[0]["quality/fid"]) == 67.09980767299226 and rows[0]["nll/nll"] == ""
    assert rows[1]["quality/fid"] == "" and float(rows[1]["nll/nll"]) == -417.43109130859375


def test_cards_that_differ_beyond_run_facts_warn_naming_fields_and_values(tmp_path):
    """Catches figures of different protocols (500 generated images against 200) compared without a warning,
    or a warning (and a card apiece) for runs that differ only in run facts such as the seed."""
    a = ddpm_run(tmp_path, "a", fid=60.0)
    b = ddpm_run(tmp_path, "b", fid=40.0, generated=500, seed=1)
    c = ddpm_run(tmp_path, "c", fid=55.0, seed=2, step=900)
    report = comparison(read_runs([a, b, c]))
    assert report.warnings == [
        "the quality figures were measured under different protocols: generated (a: 200, b: 500, c: 200)"
    ]
    assert [g.labels for g in report.cards] == [("a", "c"), ("b",)]
    assert report.cards[0].card["generated"] == 200 and report.cards[0].card["seed"] == "a: 0, c: 2"
    text = markdown(report)
    assert "### quality: a, c" in text and "### quality: b" in text and "| generated | 500 |" in text
    assert "**warning:** the quality figures were measured under different protocols: generated" in text
    assert comparison(read_runs([a, c])).warnings == []


def test_cli_prints_the_table_and_writes_markdown_csv_and_the_curves(capsys, tmp_path):
    """Catches `gentk compare` failing on runs of different families, the protocol warning not reaching
    the user, or the --out and --plot files not written."""
    a, b = ddpm_run(tmp_path, "a", fid=60.0), ddpm_run(tmp_path, "b", fid=40.0, generated=500)
    vae = vae_run(tmp_path)
    md, table, png = tmp_path / "t.md", tmp_path / "t.csv", tmp_path / "curves.png"
    code, out, err = gentk(capsys, "compare", a, b, vae, "--out", md, "--plot", png)
    assert code == 0, err
    assert "quality/fid" in out and "-417.4" in out and "protocol" in out
    assert "warning: the quality figures were measured under different protocols: generated (a: 200, b: 500)" in err
    assert "## Protocol cards" in md.read_text()
    with Image.open(png) as image:
        assert image.format == "PNG" and image.width >= 800
    code, _, err = gentk(capsys, "compare", a, vae, "--out", table)
    assert code == 0, err
    assert next(csv.reader(table.open()))[:5] == ["run", "model", "epoch", "step", "quality/fid"]


def test_curves_share_a_loss_panel_per_model_and_skip_spreads_and_settings(tmp_path):
    """Catches losses of different models (a VAE's nats, a DDPM's noise error) drawn on one axis, a
    figure measured once per run left out (here equal in both runs), or spreads (kid_std) and fixed settings
    (nll/k, the same in every epoch of a run) drawn as curves."""
    a, b = ddpm_run(tmp_path, "a", fid=40.0), ddpm_run(tmp_path, "b", fid=40.0)
    runs = read_runs([a, vae_run(tmp_path), b, vae_run(tmp_path, "vae2", k=200)])
    assert loss_panels(runs) == {"ddpm": [0, 2], "vae": [1, 3]}
    assert curve_figures(runs) == ["quality/fid", "quality/kid", "nll/nll"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--out", "t.txt"], "cannot write the table to 't.txt'"),
        (["--plot", "c.jpg"], "cannot write the curves to 'c.jpg'"),
        (["--sweep", "sampler.steps"], "bad --sweep 'sampler.steps'"),
        (["--sweep", "sampler.steps=5,10", "--set", "steps=20"], "would fix the model.sampler.steps"),
    ],
)
def test_bad_options_are_errors_with_a_hint(capsys, tmp_path, args, expected):
    """Catches bad output names or sweeps failing with a traceback (or after the work), and a metric's
    own `steps` silently overriding every value of a steps sweep."""
    run = vae_run(tmp_path)
    code, _, err = gentk(capsys, "compare", run, *args)
    assert code == 2 and expected in err and "hint:" in err and "Traceback" not in err


def test_a_folder_that_is_no_run_is_an_error(capsys, tmp_path):
    """Catches a typo in a run's path reported as an unexpected error."""
    code, _, err = gentk(capsys, "compare", tmp_path / "missing")
    assert code == 2 and "is not a run directory" in err


# -- the sweep --------------------------------------------------------------------------------------
def tiny_ddpm(tmp_path):
    import gentk.api as gk

    write_digits(tmp_path / "digits", per_class=20)
    unet = "\n".join(f"{k} = {json.dumps(v)}" for k, v in TINY_UNET.items())
    recipe = tmp_path / "tiny.toml"
    recipe.write_text(
        f"""
[run]
epochs = 1
batch_size = 10
n_samples = 0
device = "cpu"
[data]
use = "image_folder"
path = "{tmp_path / "digits"}"
test_fraction = 0.25
[model]
use = "ddpm"
conditional = true
trajectory_steps = [19, 0]
trajectory_samples = 2
[model.denoiser]
{unet}
[model.schedule]
use = "cosine"
num_steps = 20
[model.objective]
use = "ddpm"
p_uncond = 0.2
[model.sampler]
use = "ddim"
steps = 4
"""
    )
    return gk.train(gk.load(recipe), out=tmp_path / "runs", name="tiny").path


QUICK_QUALITY = [
    "n_samples=20",
    "block=10",
    "n_reference=40",
    "kid_subsets=5",
    "kid_subset_size=10",
    "extractor.steps=10",
]


def test_sweep_evaluates_each_diffusion_run_at_each_value_and_logs_its_cards(tmp_path, monkeypatch, one_thread):
    """Catches a sweep that evaluates the recipe's sampler instead of each value (the same figures and
    cards at every value), non-diffusion runs not skipped, figures not logged with their cards, a bad
    value found only after the values before it were evaluated, or no figure drawn."""
    import gentk.api as gk

    monkeypatch.setenv("GENTK_CACHE", str(tmp_path / "cache"))
    ddpm = tiny_ddpm(tmp_path)
    vae = vae_run(tmp_path)
    (vae / "recipe.toml").write_text(gk.show("vae_toy"))  # a whole recipe: the sweep resolves it
    before = RunDir(ddpm).metrics()
    with pytest.raises(GentkError, match="recipe"):
        compare_command([ddpm], sweep_spec="sampler.steps=2,0", settings=QUICK_QUALITY)
    with pytest.raises(GentkError, match="recipe"):
        compare_command([ddpm], sweep_spec="sampler.stepz=2", settings=QUICK_QUALITY)
    assert RunDir(ddpm).metrics() == before  # nothing evaluated before the bad value was found
    report = compare_command([ddpm, vae], sweep_spec="sampler.steps=1,3", settings=QUICK_QUALITY)
    assert [row[:2] for row in report.rows] == [[ddpm.name, "1"], [ddpm.name, "3"]]
    assert report.notes == ["vae: skipped, not a diffusion run (model 'vae')"]
    logged = RunDir(ddpm).metrics()[len(before) :]
    assert [(r["kind"], r["protocol"]["steps"]) for r in logged] == [("eval", 1), ("eval", 3)]
    assert [row[2] for row in report.rows] == [r["fid"] for r in logged] and logged[0]["fid"] != logged[1]["fid"]
    assert report.cards[0].card["steps"] == "swept: 1, 3" and report.warnings == []
    with Image.open(ddpm / "sweep_sampler.steps.png") as image:
        assert image.format == "PNG"
    assert not [r for r in RunDir(vae).metrics() if r["kind"] == "eval"]


def test_sweep_warns_when_runs_are_evaluated_under_different_protocols(tmp_path):
    """Catches the sweep's runs compared at one value without a warning when their cards differ beyond the
    swept fields (and a warning for the swept field itself)."""
    from gentk.compare import Sweep, SweepPoint

    def point(label, value, **changes):
        return SweepPoint(
            label, value, {"fid": 1.0}, card(steps=int(value), **{"model.sampler.steps": value}, **changes)
        )

    points = [point("a", "5"), point("a", "10"), point("b", "5", guidance=2.0), point("b", "10", guidance=2.0)]
    result = Sweep("sampler.steps", ["5", "10"], "quality", [("a", tmp_path), ("b", tmp_path)], points, [])
    report = result.report()
    assert report.warnings == [
        "at the same sampler.steps, the quality figures were measured under different protocols: "
        "guidance (a: absent, b: 2.0)"
    ]
    assert [g.labels for g in report.cards] == [("a",), ("b",)]
    assert report.cards[1].card["model.sampler.steps"] == "swept: 5, 10"


def test_warnings_reach_python_callers(tmp_path):
    """Catches the protocol warning printed only by the CLI, so a script comparing runs never hears of it."""
    a, b = ddpm_run(tmp_path, "a", fid=60.0), ddpm_run(tmp_path, "b", fid=40.0, generated=500)
    with pytest.warns(GentkWarning, match="generated"):
        compare_command([a, b])


def test_runs_of_different_families_do_not_warn_about_how_each_samples(tmp_path):
    """Catches a warning for every cross-family table: a VAE (one pass) and a DDPM (a sampler, steps,
    guidance) sample differently by nature; the card lists each run's sampler instead."""
    a = ddpm_run(tmp_path, "a", fid=60.0)
    b = ddpm_run(tmp_path, "b", fid=40.0, sampler="VAE (one pass)", steps=None, guidance=None)
    report = comparison(read_runs([a, b]))
    assert report.warnings == [] and [g.labels for g in report.cards] == [("a", "b")]
    assert report.cards[0].card["sampler"] == "a: ddim, b: VAE (one pass)"
