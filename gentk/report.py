"""One self-contained HTML page about a run (`gentk report RUN`).

The page shows the run's status, its samples (the newest grid the engine drew and, on request,
samples drawn now, one row or column per class for conditional models), the model's other figures
(reconstructions, trajectories), the loss and metric curves, tables of the epoch and evaluation
figures, the protocol card of every sample-quality figure, the resolved recipe, and the versions
that built the run. Images are embedded as data: URIs and the style is inline: the page makes no
request and runs no script (its Content-Security-Policy forbids both), so it can be mailed,
archived or opened offline. Every string from the run (its name, recipe values, metric names) is
escaped. The page is written atomically: a reader sees the previous page or the whole new one.
"""

from __future__ import annotations

import base64
import html
import math
import re
import struct
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from gentk import figures
from gentk.figures import is_number
from gentk.rundir import RunDir, atomic_write_bytes

REPORT = "report.html"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_EPOCH_ROWS = 50  # epochs shown in the history table (the newest)
_EPOCH_FIGURE = re.compile(r"(?P<name>.+)_epoch(?P<epoch>\d+)\.png")
_NOT_FIGURES = ("kind", "epoch", "step")

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d1d1f;
       margin: 0; background: #f6f6f8; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 28px 48px; background: #fff; }
h1 { font-size: 26px; margin: 0 0 4px; word-break: break-all; }
h2 { font-size: 20px; margin: 36px 0 10px; padding-bottom: 4px; border-bottom: 1px solid #ddd; }
h3 { font-size: 16px; margin: 20px 0 8px; }
p.lead { color: #555; margin: 0 0 14px; }
nav { font-size: 14px; margin: 10px 0 4px; }
nav a { margin-right: 14px; color: #0b57d0; text-decoration: none; }
.status { display: inline-block; padding: 1px 9px; border-radius: 10px; font-weight: 600; color: #fff;
          background: #777; }
.status.done { background: #1e8e3e; } .status.running { background: #0b57d0; }
.status.interrupted { background: #b06000; } .status.failed, .status.stopped { background: #c5221f; }
figure { margin: 14px 0 22px; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid #e3e3e3; }
figure img.grid { image-rendering: pixelated; }
figcaption { color: #555; font-size: 13px; margin-top: 5px; }
table { border-collapse: collapse; font-size: 13px; margin: 6px 0 14px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f1f3f4; font-weight: 600; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums;
         font-family: ui-monospace, Menlo, monospace; }
table.kv th { width: 13em; }
table.kv td.num { text-align: left; }
.scroll { overflow-x: auto; max-width: 100%; }
.cards { display: flex; flex-wrap: wrap; gap: 14px; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 6px 12px 4px; background: #fbfbfc; }
.card h3 { margin: 4px 0 6px; font-size: 14px; }
.differs { background: #fff4d6; }
pre { background: #f6f8fa; border: 1px solid #e1e4e8; border-radius: 6px; padding: 10px 14px;
      font-size: 12.5px; line-height: 1.4; white-space: pre-wrap; overflow-wrap: anywhere; }
.muted { color: #777; }
footer { margin-top: 40px; color: #888; font-size: 12px; }
"""


def e(value: Any) -> str:
    """Any value as text safe inside HTML elements and attribute values."""
    return html.escape(str(value), quote=True)


@attrs.frozen
class Image:
    """A PNG to embed, with its heading and caption."""

    title: str
    png: bytes
    caption: str = ""
    grid: bool = True  # an image grid: shown with square, sharp pixels when enlarged


@attrs.frozen
class FreshSamples:
    """Samples drawn while writing the report."""

    png: bytes
    caption: str


def png_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of a PNG (from its header), or None when `data` is not a PNG."""
    if len(data) < 24 or not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return (width, height) if width and height else None


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


# -- what the run directory holds ---------------------------------------------------------------
def newest_figures(run: RunDir) -> tuple[dict[str, tuple[int, Path]], list[Path]]:
    """The newest `<name>_epochNNN.png` of each name (name -> (epoch, file)) and the other PNGs
    of the run's figures folder (loss.png, figures a user put there)."""
    folder = run.path / "figures"
    newest: dict[str, tuple[int, Path]] = {}
    others: list[Path] = []
    if not folder.is_dir():
        return newest, others
    for file in sorted(folder.glob("*.png")):
        if file.name.startswith("."):  # a write in progress
            continue
        match = _EPOCH_FIGURE.fullmatch(file.name)
        if match is None:
            others.append(file)
            continue
        name, epoch = match.group("name"), int(match.group("epoch"))
        if name not in newest or epoch > newest[name][0]:
            newest[name] = (epoch, file)
    return newest, others


def _read_png(file: Path) -> bytes | None:
    try:
        data = file.read_bytes()
    except OSError:
        return None
    return data if png_size(data) is not None else None


def _read_json(run: RunDir, name: str) -> Any:
    try:
        return run.read_json(name)
    except (OSError, ValueError):
        return None


def fmt(value: Any) -> str:
    """A figure as text: floats to 6 significant digits, containers as compact JSON."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else str(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return ", ".join(f"{k} {fmt(v)}" for k, v in value.items()) or "-"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(fmt(v) for v in value) + "]"
    return str(value)


@attrs.frozen
class Link:
    """A table cell that links within the page."""

    anchor: str
    text: str


def _cell(value: Any) -> str:
    if isinstance(value, Link):
        return f'<td><a href="#{e(value.anchor)}">{e(value.text)}</a></td>'
    return f'<td class="num">{e(fmt(value))}</td>' if is_number(value) else f"<td>{e(fmt(value))}</td>"


def kv_table(rows: Iterable[tuple[Any, Any]], highlight: Iterable[str] = ()) -> str:
    marked = set(highlight)
    differs = ' class="differs"'
    body = "".join(f"<tr{differs if str(k) in marked else ''}><th>{e(k)}</th>{_cell(v)}</tr>" for k, v in rows)
    return f'<table class="kv">{body}</table>' if body else '<p class="muted">none</p>'


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    head = "".join(f"<th>{e(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows)
    return f'<div class="scroll"><table><tr>{head}</tr>{body}</table></div>'


def image_html(image: Image) -> str:
    size = png_size(image.png)
    dims = f' width="{size[0]}" height="{size[1]}"' if size is not None else ""
    cls = ' class="grid"' if image.grid else ""
    caption = f"<figcaption>{e(image.caption)}</figcaption>" if image.caption else ""
    return (
        f"<figure><h3>{e(image.title)}</h3>"
        f'<img{cls} src="{data_uri(image.png)}" alt="{e(image.title)}"{dims}>{caption}</figure>'
    )


# -- sections ------------------------------------------------------------------------------------
def _start_records(records: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [r for r in records if r.get("kind") == "start"]


def summary_section(run: RunDir, records: Sequence[Mapping[str, Any]]) -> str:
    status = run.status()
    rows: list[tuple[str, Any]] = [("run directory", str(run.path.resolve()))]
    epoch, epochs = status.get("epoch"), status.get("epochs")
    if epoch is not None:
        rows.append(("epoch", f"{epoch}/{epochs}" if epochs else epoch))
    for key in ("step", "checkpoint_step", "nproc", "host", "updated"):
        if key in status:
            rows.append((key.replace("_", " "), status[key]))
    for key, value in status.items():
        if key not in ("status", "epoch", "epochs", "step", "checkpoint_step", "nproc", "host", "updated", "pid"):
            rows.append((key, value))
    for start in _start_records(records):
        facts = ", ".join(f"{k} {fmt(start[k])}" for k in ("device", "precision", "seed") if k in start)
        rows.append((f"started (step {fmt(start.get('step'))})", facts))
    data = _read_json(run, "data.json")
    if isinstance(data, dict):
        rows.append(("data", data))
    kept = sorted(p.name for p in run.path.glob("*.pt"))
    rows.append(("checkpoints", ", ".join(kept) if kept else "none"))
    holder = run.holder()
    if holder:
        rows.append(("being written by", holder))
    state = str(status.get("status", "unknown"))
    return f'<p>status <span class="status {e(state)}">{e(state)}</span></p>' + kv_table(rows)


def samples_section(run: RunDir, fresh: FreshSamples | None) -> str:
    newest, _ = newest_figures(run)
    parts = []
    if fresh is not None:
        parts.append(image_html(Image("samples drawn for this report", fresh.png, fresh.caption)))
    if "samples" in newest:
        epoch, file = newest["samples"]
        png = _read_png(file)
        if png is not None:
            caption = f"{file.name}: drawn by the training after epoch {epoch}"
            parts.append(image_html(Image(f"samples after epoch {epoch}", png, caption)))
    if not parts:
        return '<p class="muted">no samples yet (the training draws them after its sampling epochs)</p>'
    return "".join(parts)


def figures_section(run: RunDir) -> str:
    newest, others = newest_figures(run)
    parts = []
    for name, (epoch, file) in sorted(newest.items()):
        if name == "samples":
            continue
        png = _read_png(file)
        if png is not None:
            parts.append(image_html(Image(f"{name.replace('_', ' ')} after epoch {epoch}", png, file.name)))
    for file in others:
        if file.name == "loss.png":
            continue
        png = _read_png(file)
        if png is not None:
            parts.append(image_html(Image(file.stem.replace("_", " "), png, file.name, grid=False)))
    return "".join(parts)


def curves_section(run: RunDir, records: Sequence[Mapping[str, Any]]) -> str:
    """The loss and metric curves drawn afresh from the metrics (the engine's loss.png otherwise)."""
    png = figures.loss_curve_png(records, title=run.path.name)
    caption = "drawn from metrics.jsonl: each training figure per logged step, each held-out metric per epoch"
    if png is None:
        png = _read_png(run.figure("loss.png"))
        caption = "figures/loss.png, as the training last drew it"
    if png is None:
        return '<p class="muted">no curves yet (no step or epoch records)</p>'
    return image_html(Image("loss and metric curves", png, caption, grid=False))


def _columns(records: Sequence[Mapping[str, Any]], skip: Sequence[str]) -> list[str]:
    keys = dict.fromkeys(k for r in records for k, v in r.items() if k not in skip and not isinstance(v, dict))
    return list(keys)


def tables_section(records: Sequence[Mapping[str, Any]]) -> str:
    epochs = [r for r in records if r.get("kind") == "epoch"]
    evals = [r for r in records if r.get("kind") == "eval"]
    parts = []
    if epochs:
        last = epochs[-1]
        rows = [(k, v) for k, v in last.items() if k not in _NOT_FIGURES and not isinstance(v, dict)]
        parts.append(f"<h3>latest epoch ({e(fmt(last.get('epoch')))}, step {e(fmt(last.get('step')))})</h3>")
        parts.append(kv_table(rows))
        shown = epochs[-MAX_EPOCH_ROWS:]
        columns = ["epoch", "step", *_columns(shown, ("kind", "epoch", "step"))]
        parts.append("<h3>every epoch</h3>")
        if len(shown) < len(epochs):
            parts.append(f'<p class="muted">the newest {len(shown)} of {len(epochs)} epochs</p>')
        parts.append(table(columns, ([r.get(c) for c in columns] for r in shown)))
    else:
        parts.append('<p class="muted">no epoch finished yet</p>')
    parts.append("<h3>evaluations</h3>")
    if evals:
        eval_rows: list[tuple[Any, ...]] = []
        cards = 0
        for r in evals:
            figures = ", ".join(
                f"{k} = {fmt(v)}"
                for k, v in r.items()
                if k not in ("kind", "metric", "epoch", "step") and not isinstance(v, dict)
            )
            card: Any = None
            if isinstance(r.get("protocol"), dict):
                cards += 1
                card = Link(f"card-{cards}", f"card {cards}")
            eval_rows.append((r.get("metric"), r.get("epoch"), r.get("step"), figures, card))
        parts.append(table(["metric", "epoch", "step", "figures", "protocol"], eval_rows))
    else:
        parts.append('<p class="muted">none (`gentk eval RUN -m METRIC` adds them)</p>')
    return "".join(parts)


def protocol_cards(records: Sequence[Mapping[str, Any]]) -> list[tuple[str, Mapping[str, Any]]]:
    """(title, card) of every evaluation's protocol and, for each per-epoch metric, the newest
    epoch's card."""
    cards: list[tuple[str, Mapping[str, Any]]] = []
    for r in records:
        if r.get("kind") == "eval" and isinstance(r.get("protocol"), dict):
            cards.append(
                (
                    f"{r.get('metric')}: evaluation at epoch {fmt(r.get('epoch'))}, step {fmt(r.get('step'))}",
                    r["protocol"],
                )
            )
    newest: dict[str, tuple[Mapping[str, Any], Mapping[str, Any]]] = {}
    for r in records:
        if r.get("kind") == "epoch":
            for key, value in r.items():
                if key.endswith("/protocol") and isinstance(value, dict):
                    newest[key] = (r, value)
    for key, (r, card) in newest.items():
        metric = key.removesuffix("/protocol")
        cards.append((f"{metric}: per epoch, as of epoch {fmt(r.get('epoch'))} (step {fmt(r.get('step'))})", card))
    return cards


def protocol_section(records: Sequence[Mapping[str, Any]]) -> str:
    cards = protocol_cards(records)
    if not cards:
        return '<p class="muted">no sample-quality figures (fid, kid, precision_recall, quality) yet</p>'
    from gentk.quality import differences

    differ = differences([card for _, card in cards]) if len(cards) > 1 else {}
    differ.pop("metric", None)  # cards of different metrics name them differently
    note = ""
    if differ:
        note = (
            '<p>These cards differ in <span class="differs">'
            + e(", ".join(differ))
            + "</span>: figures measured under different protocols do not compare.</p>"
        )
    body = "".join(
        f'<div class="card" id="card-{i}"><h3>card {i}: {e(title)}</h3>{kv_table(card.items(), highlight=differ)}</div>'
        for i, (title, card) in enumerate(cards, start=1)
    )
    return note + f'<div class="cards">{body}</div>'


def recipe_section(run: RunDir) -> str:
    try:
        text = run.recipe_file.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f'<p class="muted">cannot read recipe.toml: {e(exc)}</p>'
    return f'<p class="muted">recipe.toml: every default written out</p><pre>{e(text)}</pre>'


def versions_section(run: RunDir) -> str:
    from gentk import __version__

    parts = []
    recorded = _read_json(run, "plugins.json")
    if isinstance(recorded, dict):
        rows = [(k, v) for k, v in recorded.items() if k not in ("plugins", "failed")]
        parts.append("<h3>that built the run</h3>" + kv_table(rows))
        plugins = [p for p in recorded.get("plugins") or [] if isinstance(p, dict)]
        if plugins:
            columns = _columns(plugins, ())
            parts.append(table(columns, ([p.get(c) for c in columns] for p in plugins)))
        failed = [p for p in recorded.get("failed") or [] if isinstance(p, dict)]
        if failed:
            parts.append("<p>plugins that failed to load:</p>")
            columns = _columns(failed, ())
            parts.append(table(columns, ([p.get(c) for c in columns] for p in failed)))
    else:
        parts.append('<p class="muted">plugins.json is missing or unreadable</p>')
    import platform

    now = [("gentk", __version__), ("python", platform.python_version())]
    try:
        import torch

        now.append(("torch", torch.__version__))
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    parts.append("<h3>that wrote this report</h3>" + kv_table(now))
    return "".join(parts)


def _description(run: RunDir) -> str:
    try:
        value = tomllib.loads(run.recipe_file.read_text(encoding="utf-8")).get("description", "")
    except (OSError, ValueError):
        return ""
    return value if isinstance(value, str) else ""


# -- the page --------------------------------------------------------------------------------------
SECTIONS = (
    ("summary", "status"),
    ("samples", "samples"),
    ("figures", "model figures"),
    ("curves", "curves"),
    ("tables", "figures by epoch"),
    ("protocols", "protocol cards"),
    ("recipe", "recipe"),
    ("versions", "versions"),
)


def render(run: RunDir, fresh: FreshSamples | None = None) -> str:
    """The report page of a run as HTML text."""
    records = run.metrics()
    name = run.path.resolve().name
    bodies: dict[str, Callable[[], str]] = {
        "summary": lambda: summary_section(run, records),
        "samples": lambda: samples_section(run, fresh),
        "figures": lambda: figures_section(run),
        "curves": lambda: curves_section(run, records),
        "tables": lambda: tables_section(records),
        "protocols": lambda: protocol_section(records),
        "recipe": lambda: recipe_section(run),
        "versions": lambda: versions_section(run),
    }
    sections = []
    for key, heading in SECTIONS:
        body = bodies[key]()
        if body:
            sections.append((key, heading, body))
    nav = "".join(f'<a href="#{key}">{e(heading)}</a>' for key, heading, _ in sections)
    content = "".join(f'<section id="{key}"><h2>{e(heading)}</h2>{body}</section>' for key, heading, body in sections)
    description = _description(run)
    lead = f'<p class="lead">{e(description)}</p>' if description else ""
    written = time.strftime("%Y-%m-%d %H:%M:%S")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(name)} · gentk report</title><style>{STYLE}</style></head>"
        f"<body><main><h1>{e(name)}</h1>{lead}<nav>{nav}</nav>{content}"
        f"<footer>written by gentk report on {e(written)}</footer></main></body></html>\n"
    )


def draw_samples(
    path: str | Path,
    n: int,
    *,
    seed: int = 0,
    device: str = "auto",
    checkpoint: str | Path | None = None,
) -> FreshSamples:
    """`n` samples of the run drawn now, as a labelled grid (one row or column per class for
    conditional models that lay their grid out so) with a caption that says how they were drawn."""
    from gentk import api, figures
    from gentk.interfaces import DescribesSampling

    run = api.open_run(path, device, checkpoint)
    samples = run.sample(n, seed=seed).detach().cpu()
    model = run.model
    info = run.dir.data_info()
    layout = figures.class_labels(len(samples), model.grid_columns, info.num_classes)
    if samples.dim() == 4 and layout.rows and layout.columns and layout.columns < info.num_classes:
        # fewer samples per class than classes: one column per class reads better than a tall strip
        per_class = layout.columns
        samples = samples.reshape(info.num_classes, per_class, *samples.shape[1:]).transpose(0, 1).flatten(0, 1)
        layout = figures.class_labels(len(samples), info.num_classes, info.num_classes)
    where = ", ".join(f"{k} {run.position[k]}" for k in ("epoch", "step") if k in run.position)
    source = Path(checkpoint).name if checkpoint is not None else "the newest checkpoint"
    title = f"{run.path.resolve().name} · {len(samples)} samples, seed {seed}"
    with tempfile.TemporaryDirectory(prefix="gentk-report-") as tmp:
        file = Path(tmp) / "samples.png"
        figures.save_samples(
            samples,
            file,
            nrow=layout.columns,
            title=title,
            row_labels=layout.rows,
            column_labels=layout.column_labels,
        )
        png = file.read_bytes()
    asked = "" if len(samples) == n else f" (asked for {n}: the model draws as many for every class)"
    facts = [f"{len(samples)} samples{asked} drawn with seed {seed} from {source}" + (f" ({where})" if where else "")]
    if info.num_classes and (layout.rows or layout.column_labels):
        facts.append(f"one {'row' if layout.rows else 'column'} per class")
    if isinstance(model, DescribesSampling):
        settings = model.sampling_settings()
        facts.append(", ".join(f"{k} {fmt(v)}" for k, v in settings.items()))
    return FreshSamples(png, "; ".join(facts))


def write_report(
    path: str | Path,
    out: str | Path | None = None,
    *,
    samples: int = 0,
    seed: int = 0,
    device: str = "auto",
    checkpoint: str | Path | None = None,
) -> Path:
    """Write the report page of the run at `path` to `out` (default: RUN/report.html); with
    `samples` > 0, draw that many samples now and show them first."""
    run = RunDir.open(path)
    fresh = draw_samples(run.path, samples, seed=seed, device=device, checkpoint=checkpoint) if samples > 0 else None
    page = render(run, fresh).encode("utf-8")
    target = Path(out) if out is not None else run.path / REPORT
    atomic_write_bytes(target, lambda f: f.write(page))
    return target
