"""Progress display: rich bars with live figures, and warnings that stand out."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

T = TypeVar("T")
console = Console(stderr=True)
_interactive = {"on": False}


def set_interactive(on: bool) -> None:
    """Show progress bars from `track` (the CLI turns this on; the Python API leaves it off)."""
    _interactive["on"] = on


def track(iterable: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate with a progress bar when interactive (long evaluations and sampling loops)."""
    if not _interactive["on"]:
        yield from iterable
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        yield from progress.track(iterable, total=total, description=description)


def format_figures(figures: Mapping[str, Any], keys: int = 4) -> str:
    items = [(k, v) for k, v in figures.items() if isinstance(v, (int, float))][:keys]
    return "  ".join(f"{k}={v:.4g}" for k, v in items)


class _Task:
    def __init__(self, progress: Progress | None, task_id: Any):
        self.progress, self.task_id = progress, task_id

    def advance(self, figures: Mapping[str, float], images_per_s: float) -> None:
        if self.progress is not None:
            text = f"{format_figures(figures)}  {images_per_s:,.0f} img/s"
            self.progress.update(self.task_id, advance=1, info=text)


class Reporter:
    """Shows training progress on stderr; silent when disabled (tests, the Python API)."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled

    @contextlib.contextmanager
    def task(self, description: str, total: int, completed: int = 0) -> Iterator[_Task]:
        if not self.enabled:
            yield _Task(None, None)
            return
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"),
        )
        with Progress(*columns, console=console, transient=False) as progress:
            yield _Task(progress, progress.add_task(description, total=total, completed=completed, info=""))

    def epoch(self, record: Mapping[str, Any]) -> None:
        if self.enabled:
            shown = {k: v for k, v in record.items() if k not in ("kind", "epoch", "step")}
            console.print(f"[bold]epoch {record['epoch']}[/bold]  {format_figures(shown, keys=12)}")

    def warn(self, message: str) -> None:
        if self.enabled:
            console.print(f"[bold yellow]warning:[/bold yellow] {message}")

    def info(self, message: str) -> None:
        if self.enabled:
            console.print(message)
