"""Comparing runs (`gentk compare`): their latest figures side by side, the protocol cards of their
sample-quality figures (with a warning where those differ in more than the run facts), training and
metric curves overlaid in one figure, and, with a sweep, each diffusion run evaluated at each value of
a sampling setting (`sampler.steps=10,20,50`), logged as `gentk eval` logs, and drawn against it.

A metric's latest figures in a run are those of the newer (by step; the later one at equal steps) of
its newest `gentk eval` record and its newest epoch record."""

from __future__ import annotations

import csv
import io
import json
import math
import tomllib
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from gentk.errors import GentkError, GentkWarning
from gentk.figures import SPREADS, is_number, pyplot, save_figure
from gentk.quality import RUN_FACTS, SAMPLING, differences
from gentk.recipe import component_settings
from gentk.rundir import RunDir, atomic_write_text

Card = dict[str, Any]
PLOT_SKIPPED = tuple(SPREADS)  # spreads of other figures: no curve of their own
FIXED_BY_METRIC = {"sampler.use": "sampler", "sampler.steps": "steps", "guidance": "guidance"}
"""Swept recipe keys that a sample-quality metric's own setting would override."""


# -- the latest figures -------------------------------------------------------------------------
@attrs.frozen
class Latest:
    """One metric's figures in one record ("metric/figure" -> value), its step and protocol card."""

    metric: str
    step: int
    figures: dict[str, float]
    card: Card | None


def record_metrics(record: Mapping[str, Any]) -> list[Latest]:
    """The metrics' figures in one record: an eval record's metric, or each metric of an epoch record."""
    step = record["step"] if is_number(record.get("step")) else 0
    if record.get("kind") == "eval" and isinstance(record.get("metric"), str):
        name = record["metric"]
        figures = {f"{name}/{k}": v for k, v in record.items() if k not in ("step", "epoch") and is_number(v)}
        return [Latest(name, step, figures, _card(record.get("protocol")))] if figures else []
    if record.get("kind") != "epoch":
        return []
    found: dict[str, dict[str, float]] = {}
    for key, value in record.items():
        if "/" in key and is_number(value):
            found.setdefault(key.split("/", 1)[0], {})[key] = value
    return [Latest(name, step, figures, _card(record.get(f"{name}/protocol"))) for name, figures in found.items()]


def _card(value: Any) -> Card | None:
    return dict(value) if isinstance(value, dict) else None


def latest_metrics(records: Iterable[Mapping[str, Any]]) -> dict[str, Latest]:
    """Each metric's newest figures: from its record with the highest step, the later one at equal steps."""
    latest: dict[str, Latest] = {}
    for record in records:
        for found in record_metrics(record):
            if found.metric not in latest or found.step >= latest[found.metric].step:
                latest[found.metric] = found
    return latest


@attrs.frozen
class RunFigures:
    """A run's name in the comparison, its model, training position, latest figures and records."""

    label: str
    path: Path
    model: str
    epoch: int | None
    step: int | None
    latest: dict[str, Latest]
    records: list[dict[str, Any]] = attrs.field(repr=False)

    @property
    def figures(self) -> dict[str, float]:
        return {k: v for found in self.latest.values() for k, v in found.figures.items()}


def model_name(run: RunDir) -> str:
    """The recipe's model component (`use`), read without resolving the recipe."""
    try:
        use = tomllib.loads(run.recipe_file.read_text(encoding="utf-8")).get("model", {}).get("use")
    except (OSError, ValueError, AttributeError):
        return "?"
    return str(use) if use else "?"


def run_labels(paths: Sequence[str | Path]) -> list[str]:
    """The runs' folder names, or the paths as given where two runs share a name."""
    names = [Path(p).resolve().name for p in paths]  # `.` is named after the folder
    return names if len(set(names)) == len(names) else [str(p) for p in paths]


def read_run(path: str | Path, label: str | None = None) -> RunFigures:
    run = RunDir.open(path)
    records = run.metrics()
    epochs = [r for r in records if r.get("kind") == "epoch"]
    position = epochs[-1] if epochs else run.status()
    epoch, step = position.get("epoch"), position.get("step")
    return RunFigures(
        label=label or run.path.name,
        path=run.path,
        model=model_name(run),
        epoch=epoch if isinstance(epoch, int) else None,
        step=step if isinstance(step, int) else None,
        latest=latest_metrics(records),
        records=records,
    )


def read_runs(paths: Sequence[str | Path]) -> list[RunFigures]:
    if not paths:
        raise GentkError("no runs to compare", hint="give one or more run directories, e.g. gentk compare runs/*")
    return [read_run(p, label) for p, label in zip(paths, run_labels(paths), strict=True)]


# -- protocol cards -----------------------------------------------------------------------------
@attrs.frozen
class CardGroup:
    """A protocol card shared by the figures of `labels` (a run fact that differs lists each run's value)."""

    metric: str
    labels: tuple[str, ...]
    card: Card


def card_groups(cards: Sequence[tuple[str, str, Card]], ignore: Iterable[str] = ()) -> list[CardGroup]:
    """One group per metric and distinct card among (metric, label, card), comparing all but the run
    facts and the fields `ignore`."""
    skipped = set(RUN_FACTS) | set(ignore)
    groups: dict[tuple[str, str], list[tuple[str, Card]]] = {}
    for metric, label, card in cards:
        key = json.dumps({k: v for k, v in card.items() if k not in skipped}, sort_keys=True, default=str)
        groups.setdefault((metric, key), []).append((label, card))
    return [
        CardGroup(metric, tuple(label for label, _ in members), _merge(members))
        for (metric, _), members in groups.items()
    ]


def _merge(members: Sequence[tuple[str, Card]]) -> Card:
    merged: Card = {}
    for key in dict.fromkeys(k for _, card in members for k in card):
        values = [card.get(key) for _, card in members]
        same = all(v == values[0] for v in values)
        by_run = dict.fromkeys(f"{label}: {v}" for (label, _), v in zip(members, values, strict=True))
        merged[key] = values[0] if same else ", ".join(by_run)
    return merged


def protocol_warnings(cards: Sequence[tuple[str, str, Card]], ignore: Sequence[str] = SAMPLING) -> list[str]:
    """A warning for each metric whose cards (metric, label, card) differ in more than the run facts and
    the fields `ignore` (by default how each model sampled: runs of different families differ there by
    nature, and the cards list it per run), naming the fields and each run's value."""
    by_metric: dict[str, list[tuple[str, Card]]] = {}
    for metric, label, card in cards:
        by_metric.setdefault(metric, []).append((label, card))
    out = []
    for metric, members in by_metric.items():
        differ = differences([card for _, card in members], ignore=(*RUN_FACTS, *ignore))
        if differ:
            fields = "; ".join(
                f"{key} (" + ", ".join(f"{label}: {card.get(key, 'absent')}" for label, card in members) + ")"
                for key in differ
            )
            out.append(f"the {metric} figures were measured under different protocols: {fields}")
    return out


# -- tables -------------------------------------------------------------------------------------
@attrs.frozen
class Report:
    """A table (None: a blank cell) with the protocol cards of its figures, warnings and notes."""

    title: str
    columns: list[str]
    rows: list[list[Any]]
    cards: list[CardGroup] = attrs.Factory(list)
    warnings: list[str] = attrs.Factory(list)
    notes: list[str] = attrs.Factory(list)


def _columns(figures: Iterable[Mapping[str, Any]]) -> list[str]:
    return list(dict.fromkeys(k for f in figures for k in f))


def comparison(runs: Sequence[RunFigures]) -> Report:
    """The runs' latest figures, one row per run, blank where a run lacks a figure."""
    columns = _columns(r.figures for r in runs)
    rows = [[r.label, r.model, r.epoch, r.step, *(r.figures.get(c) for c in columns)] for r in runs]
    cards = [(m.metric, r.label, m.card) for r in runs for m in r.latest.values() if m.card is not None]
    notes = [f"{r.label}: no metric figures yet" for r in runs if not r.latest]
    title = f"latest figures of {len(runs)} run{'s' if len(runs) != 1 else ''}"
    return Report(
        title,
        ["run", "model", "epoch", "step", *columns],
        rows,
        card_groups(cards, SAMPLING),
        protocol_warnings(cards),
        notes,
    )


def format_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def transposed(report: Report) -> Report:
    """The table turned: a row per column (figure), a column per row (run)."""
    columns = [report.columns[0], *(format_cell(row[0]) for row in report.rows)]
    rows = [[name, *(row[j] for row in report.rows)] for j, name in enumerate(report.columns) if j > 0]
    return attrs.evolve(report, columns=columns, rows=rows)


def rich_tables(report: Report, console: Any = None) -> list[Any]:
    """The report as rich renderables: the table (turned when it is too wide for `console`), then one
    table per protocol card."""
    from rich.markup import escape
    from rich.measure import Measurement
    from rich.table import Table

    def grid(report: Report) -> Table:
        table = Table(title=escape(report.title))
        for i, column in enumerate(report.columns):
            table.add_column(escape(column), justify="left" if i == 0 else "right")
        for row in report.rows:
            table.add_row(*(escape(format_cell(v)) for v in row))
        return table

    table = grid(report)
    wide = console.options.update_width(10**5) if console is not None else None
    if wide is not None and Measurement.get(console, wide, table).maximum > console.width:
        table = grid(transposed(report))
    shown: list[Any] = [table]
    for group in report.cards:
        card = Table(title=escape(f"{group.metric} protocol: {', '.join(group.labels)}"), show_header=False)
        for key, value in group.card.items():
            card.add_row(escape(str(key)), escape(str(value)))
        shown.append(card)
    return shown


def _md(value: Any) -> str:
    return format_cell(value).replace("|", "\\|").replace("\n", " ")


def markdown(report: Report) -> str:
    """The report as Markdown: the table, warnings, notes and the protocol cards."""
    lines = [f"# {report.title}", ""]
    lines += ["| " + " | ".join(_md(c) for c in report.columns) + " |", "|" + "---|" * len(report.columns)]
    lines += ["| " + " | ".join(_md(v) for v in row) + " |" for row in report.rows]
    lines += [""] + [f"> **warning:** {w}\n" for w in report.warnings] + [f"- {n}" for n in report.notes]
    if report.cards:
        lines += ["", "## Protocol cards", ""]
    for group in report.cards:
        lines += [f"### {group.metric}: {', '.join(group.labels)}", "", "| field | value |", "|---|---|"]
        lines += [f"| {_md(k)} | {_md(str(v))} |" for k, v in group.card.items()] + [""]
    return "\n".join(lines).rstrip("\n") + "\n"


def csv_text(report: Report) -> str:
    """The table as CSV (numbers at full precision, blanks empty)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(report.columns)
    writer.writerows([["" if v is None else v for v in row] for row in report.rows])
    return buffer.getvalue()


TABLE_FORMATS = {".md": markdown, ".markdown": markdown, ".csv": csv_text}


def check_suffix(path: Path | None, allowed: Iterable[str], what: str) -> None:
    if path is not None and path.suffix.lower() not in allowed:
        raise GentkError(f"cannot write {what} to {path.name!r}", hint=f"use a {' or '.join(allowed)} file")


def write_table(report: Report, path: Path) -> Path:
    check_suffix(path, TABLE_FORMATS, "the table")
    atomic_write_text(path, TABLE_FORMATS[path.suffix.lower()](report))
    return path


# -- figures ------------------------------------------------------------------------------------
def _points(records: Iterable[Mapping[str, Any]], key: str) -> tuple[list[float], list[float]]:
    kept = [r for r in records if is_number(r.get(key)) and is_number(r.get("step"))]
    return [r["step"] for r in kept], [r[key] for r in kept]


def loss_points(run: RunFigures) -> tuple[list[float], list[float]]:
    """The training loss against the step: the step records', else the epoch records'."""
    for kind in ("step", "epoch"):
        points = _points((r for r in run.records if r.get("kind") == kind), "loss")
        if points[0]:
            return points
    return [], []


def metric_points(
    run: RunFigures, figure: str
) -> tuple[tuple[list[float], list[float]], tuple[list[float], list[float]]]:
    """A metric figure ("metric/figure") against the step: from the epoch records, and from the eval records."""
    metric, name = figure.split("/", 1)
    epochs = _points((r for r in run.records if r.get("kind") == "epoch"), figure)
    evals = _points((r for r in run.records if r.get("kind") == "eval" and r.get("metric") == metric), name)
    return epochs, evals


def curve_figures(runs: Sequence[RunFigures]) -> list[str]:
    """The metric figures drawn: all but spreads and settings (logged more than once, never changing in a run)."""
    drawn = []
    for figure in _columns(r.figures for r in runs):
        series = [[v for points in metric_points(r, figure) for v in points[1]] for r in runs]
        setting = any(len(values) > 1 for values in series) and all(len(set(values)) <= 1 for values in series)
        if not figure.endswith(PLOT_SKIPPED) and not setting:
            drawn.append(figure)
    return drawn


def loss_panels(runs: Sequence[RunFigures]) -> dict[str, list[int]]:
    """The runs (indices) whose training losses share a panel: those of one model, as losses of different
    models measure different things (a VAE's nats, a DDPM's noise error)."""
    panels: dict[str, list[int]] = {}
    for i, run in enumerate(runs):
        if loss_points(run)[0]:
            panels.setdefault(run.model, []).append(i)
    return panels


def draw_curves(runs: Sequence[RunFigures], path: Path) -> Path:
    """The runs' training losses (a panel per model) and metric figures against the step, a colour per run."""
    check_suffix(path, (".png",), "the curves")
    losses, figures = loss_panels(runs), curve_figures(runs)
    count = len(losses) + len(figures)
    if not count:
        raise GentkError("the runs have no loss or metric figures to draw", hint="train them first with `gentk run`")
    plt = pyplot()
    columns = 1 if count == 1 else 2
    rows = math.ceil(count / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(6 * columns, 2.8 * rows + 1), squeeze=False, layout="constrained")
    for ax, (model, members) in zip(axes.flat, losses.items(), strict=False):
        values = []
        for i in members:
            steps, loss = loss_points(runs[i])
            ax.plot(steps, loss, linewidth=1, color=f"C{i}")
            values += loss
        if min(values) > 0 and max(values) / min(values) > 30:
            ax.set_yscale("log")
        _label(ax, f"training loss ({model})", "loss")
    evaluated = False
    for ax, figure in zip(list(axes.flat)[len(losses) :], figures, strict=False):
        last = 0.0  # the step axis spans the training of the runs with this figure
        for i, run in enumerate(runs):
            epochs, evals = metric_points(run, figure)
            ax.plot(*epochs, marker="o", markersize=3, linewidth=1, color=f"C{i}")
            ax.scatter(*evals, marker="D", s=30, facecolors="none", edgecolors=f"C{i}", zorder=3)
            evaluated = evaluated or bool(evals[0])
            if epochs[0] or evals[0]:
                last = max([last, run.step or 0, *epochs[0], *evals[0]])
        ax.set_xlim(0, last * 1.04 or 1)
        _label(ax, f"{figure} (held out)", figure)
    for ax in list(axes.flat)[count:]:
        ax.set_visible(False)
    handles = [plt.Line2D([], [], color=f"C{i}", marker="o", markersize=3, label=r.label) for i, r in enumerate(runs)]
    if evaluated:
        eval_marker = {"marker": "D", "markerfacecolor": "none", "linestyle": "none"}
        handles.append(plt.Line2D([], [], color="0.4", label="gentk eval", **eval_marker))
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4), fontsize=8, frameon=False)
    fig.suptitle(f"training loss and held-out figures of {len(runs)} runs", fontsize=11)
    return save_figure(fig, path)


def _label(ax: Any, title: str, ylabel: str, xlabel: str = "step") -> None:
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.3)


# -- sweeps -------------------------------------------------------------------------------------
def parse_sweep(text: str) -> tuple[str, list[str]]:
    """`sampler.steps=10,20,50` -> ("sampler.steps", ["10", "20", "50"]); the key is one of the recipe's [model]."""
    key, sep, given = text.partition("=")
    values = [v.strip() for v in given.split(",") if v.strip()]
    key = key.strip().removeprefix("model.")
    if not sep or not key or not values:
        raise GentkError(
            f"bad --sweep {text!r}",
            hint="write KEY=V1,V2,... with a key of the recipe's [model] table, e.g. sampler.steps=10,20,50 or "
            "sampler.use=ddim,dpmpp_2m",
        )
    return key, values


@attrs.frozen
class SweepPoint:
    label: str
    value: str
    figures: dict[str, float]
    card: Card | None


@attrs.frozen
class Sweep:
    """A metric's figures for each run (label, path) at each value of a [model] key."""

    key: str
    values: list[str]
    metric: str
    runs: list[tuple[str, Path]]
    points: list[SweepPoint]
    notes: list[str]

    def report(self) -> Report:
        columns = _columns(p.figures for p in self.points)
        rows = [[p.label, p.value, *(p.figures.get(c) for c in columns)] for p in self.points]
        found: list[str] = []
        for value in self.values:  # the runs' figures at one value should share a protocol
            at = [(self.metric, p.label, p.card) for p in self.points if p.value == value and p.card is not None]
            found += [f"at the same {self.key}, {w}" for w in protocol_warnings(at, ignore=())]
        title = f"{self.metric} against model.{self.key}"
        return Report(title, ["run", self.key, *columns], rows, self.cards(), list(dict.fromkeys(found)), self.notes)

    def cards(self) -> list[CardGroup]:
        """One card per distinct protocol of the runs; the fields that change with the swept value list the
        values they took."""
        cards = [(p.label, p.card) for p in self.points if p.card is not None]
        swept = {k for run, _ in self.runs for k in differences([c for label, c in cards if label == run])}
        out = []
        for group in card_groups([(self.metric, label, card) for label, card in cards], swept):
            taken = [card for label, card in cards if label in group.labels]
            varied = {k: "swept: " + ", ".join(dict.fromkeys(str(c.get(k)) for c in taken)) for k in swept}
            out.append(attrs.evolve(group, labels=tuple(dict.fromkeys(group.labels)), card={**group.card, **varied}))
        return out


def is_diffusion(run: Any) -> bool:
    from gentk.families.diffusion import DiffusionModel

    return bool(run.recipe.model.component.fits(DiffusionModel))


def sweep(
    paths: Sequence[str | Path],
    key: str,
    values: Sequence[str],
    *,
    metric: str = "quality",
    config: Mapping[str, Any] | None = None,
    seed: int = 0,
    device: str = "auto",
) -> Sweep:
    """Evaluate `metric` on each diffusion run at each value of the recipe key model.`key`; the figures
    are logged in the runs as `gentk eval --recipe-set model.KEY=VALUE` logs them. Other runs are
    skipped with a note; a bad key or value fails before anything is evaluated."""
    from gentk.api import open_run
    from gentk.progress import phase

    config = dict(config or {})
    fixed = FIXED_BY_METRIC.get(key)
    if fixed in config:
        raise GentkError(
            f"the metric setting {fixed}={config[fixed]!r} would fix the model.{key} that the sweep varies",
            hint=f"leave out --set {fixed}=...",
        )
    runs, notes = [], []
    for path, label in zip(paths, run_labels(paths), strict=True):
        run = open_run(path, device)
        if is_diffusion(run):
            runs.append((label, run.path))
        else:
            notes.append(f"{label}: skipped, not a diffusion run (model {run.recipe.model.name!r})")
    if not runs:
        raise GentkError(
            "none of the runs is a diffusion run to sweep", hint="--sweep varies a diffusion model's sampling settings"
        )
    for _, path in runs:
        for value in values:
            open_run(path, device, overrides=[f"model.{key}={value}"]).recipe  # noqa: B018 (checks key and value)
    points = []
    for label, path in runs:
        for value in values:
            with phase(f"{label}: {key}={value}"):
                result = open_run(path, device, overrides=[f"model.{key}={value}"]).evaluate(
                    metric, seed=seed, **config
                )
            figures = {k: v for k, v in result.items() if is_number(v)}
            points.append(SweepPoint(label, value, figures, _card(result.get("protocol"))))
    return Sweep(key, list(values), metric, runs, points, notes)


def _as_numbers(values: Sequence[str]) -> list[float] | None:
    from gentk.recipe import parse_value

    parsed = [parse_value(v) for v in values]
    return [float(v) for v in parsed] if all(is_number(v) for v in parsed) else None


def draw_sweep(result: Sweep, path: Path) -> Path:
    """Each figure against the swept value, one panel per figure, a line per run."""
    check_suffix(path, (".png",), "the sweep figure")
    figures = [c for c in _columns(p.figures for p in result.points) if not c.endswith(PLOT_SKIPPED)]
    if not figures:
        raise GentkError(f"the metric {result.metric!r} gave no figures to draw")
    plt = pyplot()
    numbers = _as_numbers(result.values)
    xs = numbers if numbers is not None else list(range(len(result.values)))
    columns = 1 if len(figures) == 1 else 2
    rows = math.ceil(len(figures) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(5 * columns, 2.8 * rows + 1), squeeze=False, layout="constrained")
    for ax, figure in zip(axes.flat, figures, strict=False):
        for i, (label, _) in enumerate(result.runs):
            at = {p.value: p.figures.get(figure) for p in result.points if p.label == label}
            ys = [math.nan if at.get(v) is None else at[v] for v in result.values]
            ax.plot(xs, ys, marker="o", markersize=4, color=f"C{i}", label=label)
        if numbers is not None and min(numbers) > 0 and max(numbers) / min(numbers) >= 8:
            ax.set_xscale("log")
            ax.minorticks_off()
        ax.set_xticks(xs, result.values)
        _label(ax, f"{result.metric}/{figure}", figure, xlabel=f"model.{result.key}")
    for ax in list(axes.flat)[len(figures) :]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 4), fontsize=8, frameon=False)
    runs = f"{len(result.runs)} run{'s' if len(result.runs) != 1 else ''}"
    fig.suptitle(f"{result.metric} against model.{result.key} ({runs})", fontsize=11)
    return save_figure(fig, path)


# -- the command --------------------------------------------------------------------------------
def compare_command(
    paths: Sequence[Path],
    *,
    out: Path | None = None,
    plot: Path | None = None,
    sweep_spec: str | None = None,
    sweep_plot: Path | None = None,
    metric: str = "quality",
    settings: Sequence[str] = (),
    seed: int = 0,
    device: str = "auto",
    console: Any = None,
) -> Report:
    """`gentk compare`: print (and write to `out`) the runs' latest figures, or with `sweep_spec` the
    sweep's figures, drawing the curves to `plot` and the sweep to `sweep_plot`. Warnings go through
    `warnings` as GentkWarnings."""
    from rich.console import Console
    from rich.markup import escape

    console = console or Console()
    check_suffix(out, TABLE_FORMATS, "the table")
    check_suffix(plot, (".png",), "the curves")
    check_suffix(sweep_plot, (".png",), "the sweep figure")
    runs = read_runs(paths)
    written = []
    if sweep_spec is None:
        report = comparison(runs)
    else:
        key, values = parse_sweep(sweep_spec)
        result = sweep(paths, key, values, metric=metric, config=component_settings(settings), seed=seed, device=device)
        report = result.report()
        written.append(draw_sweep(result, sweep_plot or result.runs[0][1] / f"sweep_{key}.png"))
    for renderable in rich_tables(report, console):
        console.print(renderable)
    for note in report.notes:
        console.print(f"[dim]note: {escape(note)}[/dim]", soft_wrap=True)
    for message in report.warnings:
        warnings.warn(message, GentkWarning, stacklevel=2)
    if out is not None:
        written.append(write_table(report, out))
    if plot is not None:
        written.append(draw_curves(runs, plot))
    for path in written:
        console.print(f"[green]wrote[/green] {escape(str(path))}", soft_wrap=True)
    return report
