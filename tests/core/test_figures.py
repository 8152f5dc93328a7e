"""Run figures a researcher can read: titled sample grids with a label per class row, labelled
trajectory and reconstruction panels, 2-D samples over the data, loss panels with held-out
metrics and without constant-zero figures, warnings printed once, points/s for point data."""

import io
import math

import numpy as np
import pytest
import torch
from PIL import Image
from rich.console import Console
from torchvision.utils import save_image

from gentk import api, figures, progress
from gentk.figures import GridLabels, class_labels, grid_image, labels_of, loss_panels, save_samples
from gentk.interfaces import Batch, BuildContext, DataInfo
from gentk.progress import Reporter
from gentk.recipe import resolve_component
from tests.diffusion.diffusion_helpers import build_model

RED = np.array([255, 0, 0])


def red_images(n: int) -> torch.Tensor:
    """n RGB images 8x8, a red and black checkerboard: red pixels mark where the grid lands."""
    checker = ((torch.arange(8)[:, None] + torch.arange(8)[None, :]) % 2).float()
    images = torch.zeros(n, 3, 8, 8)
    images[:, 0] = checker
    return images


def read_png(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(int)


def placed_grid(canvas: np.ndarray, bare: np.ndarray) -> tuple[int, int, int]:
    """Where the bare grid sits in the labelled figure, and its enlargement: (top, left, scale)."""
    red = (canvas == RED).all(-1)
    bare_red = (bare == RED).all(-1)
    ys, xs = np.nonzero(red)
    bys, bxs = np.nonzero(bare_red)
    scale = (xs.max() - xs.min() + 1) // (bxs.max() - bxs.min() + 1)
    return ys.min() - bys.min() * scale, xs.min() - bxs.min() * scale, scale


def dark(region: np.ndarray) -> np.ndarray:
    return (region < 160).all(-1)


def test_a_class_grid_has_a_title_a_label_per_row_and_crisp_enlarged_pixels(tmp_path):
    """Catches a sample grid written without its title or its per-class row labels (the header
    or the left margin left blank), and small images enlarged with smoothing (bilinear) instead
    of whole-pixel copies, which blurs 28-pixel digits."""
    samples = red_images(6)
    path = tmp_path / "grid.png"
    save_samples(samples, path, nrow=2, title="run-a · epoch 3", row_labels=["class 0", "class 1", "class 2"])
    canvas = read_png(path)
    bare = np.asarray(grid_image(samples, 2)).astype(int)  # 3 rows x 2 columns of 10-pixel cells, +2
    assert bare.shape == (32, 22, 3)
    top, left, scale = placed_grid(canvas, bare)
    assert scale >= 2 and canvas.shape[0] > top + 32 * scale - 1 and canvas.shape[1] > left + 22 * scale - 1
    enlarged = np.kron(bare, np.ones((scale, scale, 1), dtype=int))
    np.testing.assert_array_equal(canvas[top : top + 32 * scale, left : left + 22 * scale], enlarged)
    assert dark(canvas[:top]).sum() > 20  # the title
    assert top > 0 and left > 0
    for row in range(3):  # each row's label sits in the margin at the height of that row's images
        band = canvas[top + (2 + 10 * row) * scale : top + (10 + 10 * row) * scale, :left]
        assert dark(band).sum() > 10, f"no label beside row {row}"
    between = canvas[top + 10 * scale - scale : top + 10 * scale + 2 * scale, :left]  # padding between rows
    assert dark(between).sum() == 0


def test_a_grid_without_title_or_labels_is_written_as_before(tmp_path):
    """Catches `gentk sample` grids (no title, no labels) gaining a margin or an enlargement:
    they are the same pixels torchvision's save_image writes."""
    samples = torch.rand(5, 1, 6, 6, generator=torch.Generator().manual_seed(0))
    save_samples(samples, tmp_path / "ours.png", nrow=3)
    save_image(samples, tmp_path / "theirs.png", nrow=3, padding=2)
    np.testing.assert_array_equal(read_png(tmp_path / "ours.png"), read_png(tmp_path / "theirs.png"))


def test_column_labels_of_a_premade_grid_sit_over_their_columns(tmp_path):
    """Catches the labels of a figure that is one pre-made grid (the trajectory) placed by the
    number of images (one) instead of the number of labels, or off by half a column."""
    from torchvision.utils import make_grid

    grid = make_grid(red_images(6), nrow=3, padding=2, pad_value=1.0)[None]  # 2 rows x 3 steps
    path = tmp_path / "trajectory.png"
    save_samples(grid, path, title="t", column_labels=["t = 20", "t = 6", "t = 0"])
    canvas = read_png(path)
    top, left, scale = placed_grid(canvas, np.asarray(grid_image(grid)).astype(int))
    band = dark(canvas[top - 16 : top, left:])  # the label line just above the grid (the title is higher)
    cols = np.nonzero(band.any(0))[0]
    pitch = 10 * scale  # each column: 8 pixels and 2 of padding, enlarged
    for i in range(3):
        inside = cols[(cols >= (2 + 10 * i) * scale) & (cols < (10 + 10 * i) * scale)]
        assert len(inside), f"no label over column {i}"
        centre = (inside.min() + inside.max()) / 2
        assert abs(centre - (1 + 10 * i + 5) * scale) < pitch / 4


def test_class_labels_follow_the_grid_layout():
    """Catches per-class labels put on rows of a grid whose classes run along its columns (the
    conditional GAN's), or on a grid with neither as many rows nor as many columns as classes."""
    assert class_labels(100, 10, 10).rows == tuple(f"class {k}" for k in range(10))  # one row per class
    assert class_labels(60, 6, 10).rows[-1] == "class 9" and class_labels(60, 6, 10).columns == 6
    gan = class_labels(64, 10, 10)  # 7 rows, a class per column
    assert gan.rows == () and gan.column_labels[3] == "class 3" and gan.columns == 10
    assert class_labels(64, 8, 10) == GridLabels(8)
    assert class_labels(64, None, 0) == GridLabels() and class_labels(64, 8, 0) == GridLabels(8)


def test_trajectory_columns_name_the_step_each_frame_shows():
    """Catches trajectory columns labelled with the step asked for when the sampler skips it:
    DDIM with 5 of T = 20 steps (indices 19, 14, 10, 5, 0, linspace 0..19 rounded) passes
    states x_20 (noise), x_15, x_11, x_6, x_1, x_0, so the frame asked for at t = 10 is x_6."""
    model = build_model(num_classes=2, trajectory_steps=[20, 10, 0], trajectory_samples=3)
    drawn = model.figures(Batch(torch.rand(2, 1, 8, 8)), generator=torch.Generator().manual_seed(0))
    labels = labels_of(drawn, "trajectory")
    assert labels.column_labels == ("t = 20 (noise)", "t = 6", "t = 0 (sample)")
    assert labels.rows == ("class 0", "class 1", "class 0")  # the classes cycle down the rows
    assert drawn["trajectory"].shape == (1, 3, 3 * 10 + 2, 3 * 10 + 2)


def test_reconstruction_columns_say_which_are_data_and_which_reconstructions():
    """Catches the reconstruction grid's columns labelled out of step with the images (an odd
    row length splits the data/reconstruction pairs across rows) or not labelled at all."""
    info = DataInfo(shape=(1, 8, 8), binarized=True)
    small = {
        "encoder": {"use": "mlp_gaussian", "latent_dim": 3, "hidden": [16]},
        "decoder": {"use": "mlp_bernoulli", "hidden": [16]},
    }
    model = resolve_component("model", {"use": "vae", **small}).build(BuildContext(info, torch.device("cpu")))
    for n in (40, 3):
        drawn = model.figures(Batch(torch.rand(n, 1, 8, 8).round()), generator=torch.Generator())
        labels = labels_of(drawn, "reconstructions")
        assert labels.columns == 2 * min(4, n)
        assert labels.column_labels == ("data", "recon.") * min(4, n)


def test_loss_panels_leave_out_constant_zero_figures_and_add_held_out_metrics():
    """Catches a panel drawn for a figure that is zero all run (an unused penalty), held-out
    metrics missing from the loss figure, and non-numeric epoch values (a metric's warning, its
    protocol card, a flag) or the epoch's training means drawn as metrics."""
    records = [
        {"kind": "step", "epoch": 0, "step": 10, "loss": 2.0, "penalty": 0.0, "grad_norm": 0.0, "images_per_s": 9.0},
        {"kind": "step", "epoch": 0, "step": 20, "loss": 1.5, "penalty": 0.0, "grad_norm": 0.3, "images_per_s": 9.0},
        {
            "kind": "epoch",
            "epoch": 1,
            "step": 20,
            "loss": 1.7,
            "seconds": 3.0,
            "nll/nll": 90.5,
            "nll/warning": "few samples",
            "fid/protocol": {"n": 10},
            "coverage/ok": True,
        },
        {"kind": "step", "epoch": 1, "step": 30, "loss": 1.2, "penalty": 0.0, "grad_norm": 0.1, "images_per_s": 9.0},
        {"kind": "epoch", "epoch": 2, "step": 40, "loss": 1.1, "seconds": 3.0, "nll/nll": 88.0},
    ]
    panels = loss_panels(records)
    assert [(p.figure, p.what) for p in panels] == [
        ("loss", "training"),
        ("grad_norm", "training"),  # zero at first, not all run
        ("nll/nll", "held-out, each epoch"),
    ]
    (loss,), (nll,) = panels[0].series, panels[2].series
    assert (loss.steps, loss.values) == ([10, 20, 30], [2.0, 1.5, 1.2])
    assert (nll.steps, nll.values, nll.errors) == ([20, 40], [90.5, 88.0], None)  # against the step of its epoch


def test_held_out_spreads_are_error_bars_and_settings_get_no_panel():
    """Catches a metric's standard error drawn as a curve of its own instead of error bars on
    its figure (or put on the wrong epochs), and a metric's settings (a sample count logged at
    every epoch, never changing) drawn as flat panels, while a figure measured once is kept."""
    records = [
        {"kind": "epoch", "step": 10, "nll/nll": 3.0, "nll/nll_stderr": 0.2, "nll/k": 200, "vlb/bpd": 1.5},
        {"kind": "epoch", "step": 20, "nll/nll": 2.5, "nll/k": 200},
        {"kind": "epoch", "step": 30, "nll/nll": 2.4, "nll/nll_stderr": 0.1, "nll/k": 200},
    ]
    panels = loss_panels(records)
    assert [(p.figure, p.what) for p in panels] == [
        ("nll/nll", "held-out, each epoch"),
        ("vlb/bpd", "held-out, each epoch"),
    ]
    (nll,) = panels[0].series
    assert nll.steps == [10, 20, 30] and panels[0].spread == "standard error"
    assert nll.errors[0] == 0.2 and math.isnan(nll.errors[1]) and nll.errors[2] == 0.1


def test_a_class_histogram_shares_one_panel_and_short_runs_show_epoch_means():
    """Catches a metric's per-class shares ("hist_0" ... "hist_9") drawn as ten panels, or with
    the missing classes (share 0 all run) dropped from it; and a run too short to log a step
    drawing no training loss at all."""
    records = [
        {
            "kind": "epoch",
            "step": 8,
            "loss": 2.0,
            "seconds": 1.0,
            "cov/hist_0": 0.0,
            "cov/hist_1": 0.5,
            "cov/hist_2": 0.5,
        },
        {
            "kind": "epoch",
            "step": 16,
            "loss": 1.0,
            "seconds": 1.0,
            "cov/hist_0": 0.0,
            "cov/hist_1": 0.4,
            "cov/hist_2": 0.6,
        },
    ]
    panels = loss_panels(records)
    assert [(p.figure, p.what) for p in panels] == [
        ("loss", "training, epoch means"),
        ("cov/hist_k", "held-out, each epoch"),
    ]
    assert [(line.label, line.values) for line in panels[1].series] == [
        ("0", [0.0, 0.0]),
        ("1", [0.5, 0.4]),
        ("2", [0.5, 0.6]),
    ]
    assert panels[0].series[0].values == [2.0, 1.0]
    two = [{k: v for k, v in r.items() if k != "cov/hist_2"} for r in records]  # two of a kind are not a family
    assert [p.figure for p in loss_panels(two)] == ["loss", "cov/hist_1"]


def test_the_loss_figure_is_written_with_its_panels(tmp_path):
    """Catches the loss figure skipped when it has only held-out metrics, and a crash on an
    empty run (no panels: no figure)."""
    figures.save_loss_curve([{"kind": "epoch", "epoch": 1, "step": 5, "nll/nll": 3.0}], tmp_path / "a.png", "run")
    assert Image.open(tmp_path / "a.png").size[0] > 100
    figures.save_loss_curve([{"kind": "step", "step": 1, "penalty": 0.0}], tmp_path / "b.png", "run")
    assert not (tmp_path / "b.png").exists()


def test_two_d_samples_are_drawn_over_the_data_with_axis_labels(tmp_path, monkeypatch):
    """Catches 2-D samples drawn without the data under them (or over them, hiding the samples),
    and scatter plots without axis labels, title or legend."""
    import matplotlib.pyplot as plt

    drawn = []
    monkeypatch.setattr(plt, "close", drawn.append)  # keeps the figure to look at
    data = torch.randn(300, 2, generator=torch.Generator().manual_seed(0)) * 3
    samples = torch.randn(50, 2, generator=torch.Generator().manual_seed(1))
    save_samples(samples, tmp_path / "s.png", title="run-b · epoch 2", reference=data)
    ax = drawn[-1].axes[0]
    under, over = ax.collections
    np.testing.assert_allclose(under.get_offsets(), data.numpy())
    np.testing.assert_allclose(over.get_offsets(), samples.numpy())
    assert under.get_zorder() <= over.get_zorder()
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("x1", "x2", "run-b · epoch 2")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["data (300)", "samples (50)"]
    assert (tmp_path / "s.png").stat().st_size > 1000
    monkeypatch.undo()
    plt.close(drawn[-1])


def test_reference_points_are_a_fixed_subset_of_the_data():
    """Catches the data drawn under the samples changing from epoch to epoch (a fresh random
    subset each time) or not being points of the data."""
    x = torch.arange(10_000, dtype=torch.float32)[:, None].repeat(1, 2)
    a, b = figures.reference_points(x, 500), figures.reference_points(x, 500)
    assert torch.equal(a, b) and len(a) == 500 and len(set(a[:, 0].tolist())) == 500
    assert a[:, 0].max() > 5000  # from all over the data, not its first rows
    assert torch.equal(figures.reference_points(x[:20], 500), x[:20])


@pytest.fixture
def console(monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(progress, "console", Console(file=out, force_terminal=False, width=200))
    return out


def test_a_repeated_warning_is_printed_once_and_a_changed_one_again(console):
    """Catches a metric's warning printed at every epoch of a run (it stays in each epoch's
    record) and a new message swallowed because an earlier one was printed."""
    reporter = Reporter(enabled=True)
    for _ in range(3):
        reporter.warn("nll: 5 of 10 batches skipped")
    reporter.warn("nll: 6 of 10 batches skipped")
    assert console.getvalue().splitlines() == [
        "warning: nll: 5 of 10 batches skipped",
        "warning: nll: 6 of 10 batches skipped",
    ]
    Reporter(enabled=True).warn("nll: 5 of 10 batches skipped")  # the next run's reporter tells it again
    assert console.getvalue().count("5 of 10") == 2


def test_training_progress_counts_points_for_point_data(console, monkeypatch):
    """Catches the training rate of point data shown as img/s."""
    now = [1000.0]
    monkeypatch.setattr(progress, "clock", lambda: now[0])
    monkeypatch.setitem(progress._plain, "last", float("-inf"))
    monkeypatch.delenv("RANK", raising=False)
    with Reporter(enabled=True).task("epoch 1/1", 20, item="points") as task:
        for _ in range(20):
            now[0] += 1
            task.advance({"loss": 0.5}, 2048.0)
    assert "2,048 points/s" in console.getvalue() and "img/s" not in console.getvalue()


def test_a_points_run_titles_its_figures_and_draws_the_data_and_counts_points(blob_recipe, tmp_path, monkeypatch):
    """Catches the engine drawing 2-D samples without the training data under them or without
    the run's name and epoch in the title, and its progress counting img/s for point data."""
    calls, items = [], []

    def save_points(points, path, title="", reference=None):
        calls.append((title, reference))

    monkeypatch.setattr(figures, "save_points", save_points)
    original = Reporter.task

    def task(self, description, total, completed=0, item="img"):
        items.append(item)
        return original(self, description, total, completed, item)

    monkeypatch.setattr(Reporter, "task", task)
    run = api.train(blob_recipe, overrides=["run.epochs=1"], out=tmp_path)
    ((title, reference),) = calls
    assert title == f"{run.path.name} · epoch 1"
    from gentk_example.components import Blob
    from gentk_example.configs import BlobConfig

    assert torch.equal(reference, Blob(BlobConfig()).split("train").x)  # 512 points: all of them
    assert items == ["points"]


def test_the_loss_figure_of_an_epoch_shows_that_epochs_held_out_figures(tmp_path, monkeypatch):
    """Catches loss.png drawn before the epoch's record is logged, so that every figure lags one epoch
    behind the held-out metrics it claims to show (the last epoch's only reached it at the run's end)."""
    from gentk.testing import train_recipe

    drawn: list[list[dict]] = []
    original = figures.save_loss_curve
    monkeypatch.setattr(
        figures, "save_loss_curve", lambda records, *a, **k: (drawn.append(list(records)), original(records, *a, **k))
    )
    train_recipe("vae_toy", tmp_path=tmp_path, steps=2, overrides=["run.epochs=2", "run.sample_every=1"])
    per_epoch = drawn[:-1]  # the last drawing is the run's end
    assert [max(r.get("epoch", 0) for r in records if r.get("kind") == "epoch") for records in per_epoch] == [1, 2]


def test_gentk_sample_titles_its_grid_with_run_step_and_seed(tmp_path, monkeypatch):
    """Catches `gentk sample` writing a bare grid that does not say which run, checkpoint and seed drew it."""
    from gentk.testing import train_recipe

    path = train_recipe("vae_toy", tmp_path=tmp_path, steps=2)
    seen: dict = {}
    monkeypatch.setattr(api, "save_samples", lambda samples, out, **kw: seen.update(kw))
    api.open_run(path, "cpu").save_samples(8, tmp_path / "s.png", seed=5)
    assert seen["title"] == f"{path.name} · step 2 · seed 5"
