"""Figures written into run directories: sample grids, 2-D scatter plots, loss curves.

Image grids keep their pixels square and sharp: small images are enlarged by a whole factor
(nearest neighbour) and the title and labels are drawn in a header and a left margin around the
grid, never over it. Each PNG is drawn in memory and written atomically, so a full disk leaves the
previous figure and is reported as such."""

from __future__ import annotations

import io
import math
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import torch

from gentk.rundir import atomic_write_bytes

MIN_CELL = 48  # grid cells narrower than this many pixels are enlarged (by a whole factor)
MAX_SCALE = 8
TITLE_SIZE = 14  # font sizes in pixels
LABEL_SIZE = 12
MARGIN = 6  # pixels around the title, labels and grid
REFERENCE_POINTS = 2000  # data points drawn under 2-D samples
LOSS_SKIPPED = ("step", "epoch", "images_per_s", "seconds")  # not figures of the training


@attrs.frozen
class GridLabels:
    """The layout and labels of one image grid: `columns` images per row (None: a square grid),
    a label per row of the grid and per column (empty: none). A single image that is already a
    grid (made with padding 2, as torchvision's make_grid) is labelled the same way: its width
    and height are shared equally among the labels."""

    columns: int | None = None
    rows: tuple[str, ...] = ()
    column_labels: tuple[str, ...] = ()


class LabelledFigures(dict[str, torch.Tensor]):
    """A model's extra figures (`HasFigures.figures`): image tensors by name, with how each grid
    is laid out and labelled (`labels[name]`, absent: a square grid without labels)."""

    def __init__(
        self, figures: Mapping[str, torch.Tensor] | None = None, labels: Mapping[str, GridLabels] | None = None
    ):
        super().__init__(figures or {})
        self.labels: dict[str, GridLabels] = dict(labels or {})


def labels_of(drawn: Mapping[str, torch.Tensor], name: str) -> GridLabels:
    """How the figure `name` of a model's figures is labelled (none for a plain mapping)."""
    labels = drawn.labels if isinstance(drawn, LabelledFigures) else {}
    return labels.get(name, GridLabels())


def class_labels(n: int, columns: int | None, num_classes: int) -> GridLabels:
    """Labels of a conditional model's sample grid of `n` images, `columns` per row: one row per
    class when the grid has as many rows as classes (classes 0..K-1 from the top), else one column
    per class when it has as many columns; none otherwise (or when unconditional)."""
    if not num_classes or not columns:
        return GridLabels(columns)
    names = tuple(f"class {k}" for k in range(num_classes))
    if math.ceil(n / columns) == num_classes:
        return GridLabels(columns, rows=names)
    if columns == num_classes:
        return GridLabels(columns, column_labels=names)
    return GridLabels(columns)


def figure_png(fig: Any) -> bytes:
    """A matplotlib figure as PNG bytes; the figure is closed."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    pyplot().close(fig)
    return buffer.getvalue()


def save_figure(fig: Any, path: Path) -> Path:
    """A matplotlib figure written atomically as a PNG; the figure is closed."""
    png = figure_png(fig)
    atomic_write_bytes(path, lambda f: f.write(png))
    return path


def _write_png(path: Path, draw: Callable[[io.BytesIO], Any]) -> None:
    buffer = io.BytesIO()
    draw(buffer)
    atomic_write_bytes(path, lambda f: f.write(buffer.getvalue()))


def save_samples(
    samples: torch.Tensor,
    path: Path,
    nrow: int | None = None,
    *,
    title: str = "",
    row_labels: Sequence[str] = (),
    column_labels: Sequence[str] = (),
    reference: torch.Tensor | None = None,
) -> None:
    """Images (B, C, H, W) in [0, 1] as a grid PNG of `nrow` images per row (default: square),
    with a title above it and a label per row and per column where given; points (B, 2) as a
    scatter plot over `reference` (data points, in grey) when given."""
    samples = samples.detach().float().cpu()
    if samples.dim() == 4:
        image = grid_image(samples, nrow, title=title, row_labels=row_labels, column_labels=column_labels)
        _write_png(path, lambda f: image.save(f, format="png"))
    elif samples.dim() == 2 and samples.shape[1] == 2:
        save_points(samples, path, title=title, reference=reference)
    else:
        raise ValueError(f"cannot draw samples of shape {tuple(samples.shape)}")


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow before 10.1: one small bitmap font
        return ImageFont.load_default()


def _text_size(font: Any, text: str) -> tuple[int, int]:
    left, top, right, bottom = font.getbbox(text)
    return int(math.ceil(right - left)), int(math.ceil(bottom))


def _centres(start: int, length: int, count: int) -> list[float]:
    """Centres of `count` equal cells of a grid `length` pixels long (padding 2, as make_grid)."""
    pitch = (length - 2) / count
    return [start + 1 + (i + 0.5) * pitch for i in range(count)]


def grid_image(
    samples: torch.Tensor,
    nrow: int | None = None,
    *,
    title: str = "",
    row_labels: Sequence[str] = (),
    column_labels: Sequence[str] = (),
) -> Any:
    """The PIL image of a grid of images (B, C, H, W) in [0, 1], with its title and labels.
    Without any, the bare grid (as torchvision's save_image writes it)."""
    from PIL import Image, ImageDraw
    from torchvision.utils import make_grid

    samples = samples.detach().float().cpu().clamp(0, 1)
    single = len(samples) == 1  # one image, perhaps a grid itself: labels share its size
    columns = 1 if single else (nrow or max(1, int(math.sqrt(len(samples)))))
    rows = math.ceil(len(samples) / columns)
    grid = make_grid(samples, nrow=columns, padding=2)  # (3, H, W); a single image without padding
    pixels = grid.mul(255).add_(0.5).clamp_(0, 255).permute(1, 2, 0).to(torch.uint8).numpy()
    image = Image.fromarray(pixels, mode="RGB")
    if not (title or row_labels or column_labels):
        return image
    n_columns = len(column_labels) if single and column_labels else columns
    n_rows = len(row_labels) if single and row_labels else rows
    title_font, label_font = _font(TITLE_SIZE), _font(LABEL_SIZE)
    # enlarge small images so that they are visible and every column label fits over its column
    cell = min(image.width / n_columns, image.height / n_rows)
    widest = max((_text_size(label_font, s)[0] + 4 for s in column_labels), default=0)
    scale = max(1, math.ceil(MIN_CELL / cell), math.ceil(widest / (image.width / n_columns)))
    scale = min(scale, MAX_SCALE)
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
    title_w, title_h = _text_size(title_font, title) if title else (0, 0)
    label_h = max((_text_size(label_font, s)[1] for s in [*row_labels, *column_labels]), default=0)
    left = MARGIN + (max(_text_size(label_font, s)[0] for s in row_labels) + MARGIN if row_labels else 0)
    top = MARGIN + (title_h + MARGIN if title else 0) + (label_h + MARGIN // 2 if column_labels else 0)
    width = max(left + image.width + MARGIN, title_w + 2 * MARGIN)
    canvas = Image.new("RGB", (width, top + image.height + MARGIN), "white")
    canvas.paste(image, (left, top))
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((MARGIN, MARGIN), title, fill="black", font=title_font)
    for x, text in zip(_centres(left, image.width, n_columns), column_labels, strict=False):
        _column_label(draw, text, label_font, x, top - MARGIN // 2)
    for y, text in zip(_centres(top, image.height, n_rows), row_labels, strict=False):
        _row_label(draw, text, label_font, left - MARGIN, y)
    return canvas


LABEL_COLOUR = (60, 60, 60)


def _column_label(draw: Any, text: str, font: Any, x: float, bottom: float) -> None:
    """`text` centred on `x`, ending at `bottom`."""
    left, _, right, low = draw.textbbox((0, 0), text, font=font)
    draw.text((x - (left + right) / 2, bottom - low), text, fill=LABEL_COLOUR, font=font)


def _row_label(draw: Any, text: str, font: Any, right: float, y: float) -> None:
    """`text` ending at `right`, centred on `y`."""
    _, top, end, low = draw.textbbox((0, 0), text, font=font)
    draw.text((right - end, y - (top + low) / 2), text, fill=LABEL_COLOUR, font=font)


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def reference_points(x: torch.Tensor, n: int = REFERENCE_POINTS) -> torch.Tensor:
    """At most `n` of the points `x` (N, D), the same ones every time, in no particular order."""
    if len(x) <= n:
        return x
    pick = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[:n]
    return x[pick]


def save_points(points: torch.Tensor, path: Path, title: str = "", reference: torch.Tensor | None = None) -> None:
    """2-D samples (N, 2) as a scatter plot, over data points `reference` (M, 2) in grey."""
    plt = pyplot()
    points = points.detach().float().cpu()
    fig, ax = plt.subplots(figsize=(4.5, 4.9), dpi=100, layout="constrained")
    if reference is not None:
        data = reference.detach().float().cpu()
        ax.scatter(data[:, 0].numpy(), data[:, 1].numpy(), s=2, c="0.6", alpha=0.5, label=f"data ({len(data)})")
    xs, ys = points[:, 0].numpy(), points[:, 1].numpy()
    ax.scatter(xs, ys, s=2, c="tab:blue", alpha=0.6, label=f"samples ({len(points)})")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncols=2, fontsize=8, markerscale=4, frameon=False)
    save_figure(fig, path)


def is_number(value: Any) -> bool:
    """A logged figure: an int or float, not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool)


SPREADS = {"_stderr": "standard error", "_std": "standard deviation"}  # error bars on their figure
FAMILY = re.compile(r"^(.+)_(\d+)$")  # hist_0, hist_1, ... (3 or more): one panel, a line per index
TRAINING, EPOCH_MEANS, HELD_OUT = "training", "training, epoch means", "held-out, each epoch"


@attrs.frozen
class Series:
    """One line of a panel: a figure's values against the step, with error bars where given."""

    label: str  # "" for a panel of one figure; the index k of a family "name_k"
    steps: list[Any]
    values: list[Any]
    errors: list[Any] | None = None


@attrs.frozen
class Panel:
    """One panel of the loss figure: a figure (or a family of figures "name_0", "name_1", ...,
    shown as "name_k") with what it measures and its error bars (`spread`; "": none)."""

    figure: str
    what: str  # TRAINING (step records), EPOCH_MEANS (epoch records without step records), HELD_OUT
    series: tuple[Series, ...]
    spread: str = ""


def _series(records: Sequence[Mapping[str, Any]], key: str, label: str = "", spread: str = "") -> Series:
    kept = [r for r in records if is_number(r.get(key)) and is_number(r.get("step"))]
    steps, values = [r["step"] for r in kept], [r[key] for r in kept]
    errors = [r[key + spread] if is_number(r.get(key + spread)) else math.nan for r in kept] if spread else None
    return Series(label, steps, values, errors)


def _numeric_keys(records: Sequence[Mapping[str, Any]]) -> list[str]:
    return list(dict.fromkeys(k for r in records for k, v in r.items() if is_number(v) and k not in LOSS_SKIPPED))


def loss_panels(records: Sequence[Mapping[str, Any]]) -> list[Panel]:
    """The panels of the loss figure: every numeric training figure of the step records (of the
    epoch records when a run logged no step), then every held-out metric figure ("metric/figure")
    of the epoch records against the step of its epoch. Figures "name_0", "name_1", ... (three or
    more: a class histogram) share one panel. Left out: figures that stay exactly zero over the
    run; metric figures that are settings (logged more than once and never changing, as a sample
    count); spreads ("_stderr", "_std"), drawn as error bars on their figure."""
    steps = [r for r in records if r.get("kind") == "step"]
    epochs = [r for r in records if r.get("kind") == "epoch"]
    if steps:
        panels = [Panel(k, TRAINING, (_series(steps, k),)) for k in _numeric_keys(steps)]
    else:
        panels = [Panel(k, EPOCH_MEANS, (_series(epochs, k),)) for k in _numeric_keys(epochs) if "/" not in k]
    metric_keys = [k for k in _numeric_keys(epochs) if "/" in k and not k.endswith(tuple(SPREADS))]
    members: dict[str, list[tuple[int, str]]] = {}
    for key in metric_keys:
        if match := FAMILY.match(key):
            members.setdefault(match[1], []).append((int(match[2]), key))
    families = {prefix: sorted(found) for prefix, found in members.items() if len(found) >= 3}
    for key in metric_keys:
        match = FAMILY.match(key)
        if match and match[1] in families:
            if key == min(families[match[1]])[1]:  # the family's panel, once
                lines = tuple(_series(epochs, k, str(i)) for i, k in families[match[1]])
                panels.append(Panel(f"{match[1]}_k", HELD_OUT, lines))
            continue
        spread = next((s for s in SPREADS if any(is_number(r.get(key + s)) for r in epochs)), "")
        line = _series(epochs, key, spread=spread)
        if len(line.values) == 1 or len(set(line.values)) > 1:
            panels.append(Panel(key, HELD_OUT, (line,), SPREADS.get(spread, "")))
    return [p for p in panels if any(v != 0 for line in p.series for v in line.values)]


def save_loss_curve(records: Sequence[Mapping[str, Any]], path: Path, title: str = "") -> None:
    """`loss_curve_png` written to `path` (nothing when there is nothing to draw)."""
    png = loss_curve_png(records, title)
    if png is not None:
        atomic_write_bytes(path, lambda f: f.write(png))


def loss_curve_png(records: Sequence[Mapping[str, Any]], title: str = "") -> bytes | None:
    """Every numeric training figure logged per step, and every held-out metric figure logged per
    epoch, one panel each against the step (which are left out: see `loss_panels`), as PNG bytes;
    None when there is nothing to draw."""
    panels = loss_panels(records)
    if not panels:
        return None
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    columns = 1 if len(panels) <= 3 else 2
    rows = math.ceil(len(panels) / columns)
    fig, axes = plt.subplots(
        rows, columns, figsize=(5.5 * columns, 2.3 * rows + 0.4), dpi=100, squeeze=False, layout="constrained"
    )
    for ax, panel in zip(axes.flat, panels, strict=False):
        family = len(panel.series) > 1
        palette = plt.get_cmap("tab10" if len(panel.series) <= 10 else "viridis", len(panel.series))
        for i, line in enumerate(panel.series):
            colour = palette(i) if family else "tab:orange" if panel.what == HELD_OUT else "tab:blue"
            if panel.what == TRAINING:
                marker = "o" if len(line.steps) < 10 else None  # a line of one point shows nothing
                ax.plot(line.steps, line.values, linewidth=1, color=colour, marker=marker, markersize=3)
            else:
                style = {"marker": "o", "markersize": 4, "linewidth": 1, "capsize": 3}
                ax.errorbar(line.steps, line.values, yerr=line.errors, color=colour, label=line.label, **style)
        drawn_steps = sorted({step for line in panel.series for step in line.steps})
        if len(drawn_steps) <= 5:  # a few epochs: ticks at their steps
            ax.set_xticks(drawn_steps)
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        notes = [panel.what] + ([f"± {panel.spread}"] if panel.spread else []) + (["a line per k"] if family else [])
        ax.set_title(f"{panel.figure} ({', '.join(notes)})", fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.set_ylabel(panel.figure, fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        if family:
            ax.legend(title="k", fontsize=6, title_fontsize=7, ncols=2, loc="center left", bbox_to_anchor=(1, 0.5))
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=11)
    return figure_png(fig)
