"""Progress display for every phase that takes a while, and warnings that stand out.

One helper covers every long phase (training epochs, sampling, figures, metric fitting and
evaluation, data loading):

    with phase("sampling", total=steps, unit="step") as bar:
        for ...:
            bar.advance()

    for batch in track(batches, "nll", unit="batch"):
        ...

On a terminal it is a rich progress bar with the rate and the time remaining; otherwise (output
to a file or a pipe) a plain line on stderr at most every `PLAIN_EVERY` seconds and one at the
end, e.g. `sampling 340/1000 (34%, 12.3 step/s, ETA 54s)`. A phase shorter than `MIN_SECONDS`
shows nothing (a bar appears once a phase has run a second and advanced; a phase that never
advances, such as one that only groups others, shows through the phases inside it on a terminal
and writes its last line otherwise). Phases nest: an inner bar shows below the outer one, and
plain lines name the phases they run in (`epoch 3: figures: sampling 340/1000 ...`).

Whether anything is shown: `showing(on)` decides for the code it wraps (`Reporter.phase` and
`Reporter.task` wrap with the reporter's own switch, so a disabled reporter silences the phases
nested in it); elsewhere `set_interactive` decides (the CLI turns it on, the Python API leaves it
off). A process whose `RANK` is not 0 (torchrun) never shows progress.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sized
from contextvars import ContextVar
from typing import Any, TypeVar

from rich.console import Console
from rich.errors import LiveError
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

T = TypeVar("T")
console = Console(stderr=True)

MIN_SECONDS = 1.0  # phases shorter than this show nothing
PLAIN_EVERY = 10.0  # seconds between plain progress lines (output not a terminal)
clock: Callable[[], float] = time.monotonic  # replaced by tests

_interactive = {"on": False}
_shown: ContextVar[bool | None] = ContextVar("gentk_progress_shown", default=None)
_outer: ContextVar[tuple[Phase, ...]] = ContextVar("gentk_progress_outer", default=())  # phases open here
_plain = {"last": -math.inf}  # when the last plain line was written (any phase)
_display: dict[str, Any] = {"progress": None, "tasks": 0}  # the one live rich display


def set_interactive(on: bool) -> None:
    """Show progress by default (the CLI turns this on; the Python API leaves it off)."""
    _interactive["on"] = on


@contextlib.contextmanager
def _setting(var: ContextVar[Any], value: Any) -> Iterator[None]:
    """`var` = `value` inside the block. Robust to generators closed late (track's loop left
    early): the old value comes back only while `value` is still the current one."""
    token = var.set(value)
    try:
        yield
    finally:
        if var.get() is value:
            with contextlib.suppress(ValueError, RuntimeError):  # closed in another context
                var.reset(token)


def showing(on: bool) -> contextlib.AbstractContextManager[None]:
    """Show progress inside this block, or not (`--quiet`, a disabled reporter), whatever the default."""
    return _setting(_shown, bool(on))


def is_shown() -> bool:
    """Whether a phase started here would show progress."""
    if os.environ.get("RANK", "0") not in ("", "0"):
        return False
    chosen = _shown.get()
    return _interactive["on"] if chosen is None else chosen


def _use_bars() -> bool:
    """A live bar on a terminal (or notebook); plain lines otherwise."""
    return (console.is_terminal and not console.is_dumb_terminal) or console.is_jupyter


def format_duration(seconds: float) -> str:
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def format_rate(rate: float) -> str:
    if rate >= 100:
        return f"{rate:,.0f}"
    return f"{rate:.1f}" if rate >= 1 else f"{rate:.2g}"


def format_figures(figures: Mapping[str, Any], keys: int = 4) -> str:
    items = [(k, v) for k, v in figures.items() if isinstance(v, (int, float))][:keys]
    return "  ".join(f"{k}={v:.4g}" for k, v in items)


class _RateColumn(ProgressColumn):
    """Units per second, e.g. `12.3 step/s`."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        if speed is None:
            return Text("")
        return Text(f"{format_rate(speed)} {task.fields.get('unit', 'it')}/s", style="progress.data.speed")


def _attach(description: str, total: int | None, completed: int, unit: str) -> TaskID:
    """A task on the shared live display, started with the first task."""
    progress: Progress | None = _display["progress"]
    if progress is None:
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            _RateColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"),
        )
        progress = Progress(*columns, console=console, transient=True)
        progress.start()
        _display["progress"] = progress
    _display["tasks"] += 1
    return progress.add_task(description, total=total, completed=completed, unit=unit, info="")


def _backdate(task_id: TaskID, seconds: float) -> None:
    """Count the task's elapsed time from its phase's start, not from when its bar appeared."""
    progress: Progress | None = _display["progress"]
    for task in progress.tasks if progress is not None else []:
        if task.id == task_id and task.start_time is not None:
            task.start_time -= seconds


def _detach(task_id: TaskID) -> None:
    progress: Progress | None = _display["progress"]
    if progress is None:
        return
    progress.remove_task(task_id)
    _display["tasks"] -= 1
    if _display["tasks"] <= 0:
        progress.stop()
        _display.update(progress=None, tasks=0)


class Phase:
    """One phase's progress: call `advance` as work is done (see `phase`)."""

    def __init__(
        self,
        description: str,
        total: int | None = None,
        *,
        unit: str = "it",
        completed: int = 0,
        show: bool | None = None,
        outer: tuple[Phase, ...] = (),
    ):
        self.description, self.total, self.unit = description, total, unit
        self.completed = self.first = completed
        self.info = ""
        self.outer = outer
        self.label = ": ".join([*(p.description for p in outer), description])
        self.depth = len(outer)
        self.started = self.last_line = clock()
        shown = is_shown() if show is None else show
        self.mode = ("bar" if _use_bars() else "plain") if shown else "off"
        self.printed = False
        self.task_id: TaskID | None = None

    def advance(self, n: int = 1, info: str | None = None) -> None:
        """`n` more units done; `info` (e.g. current figures) is shown after the counts."""
        self.completed += n
        if info is not None:
            self.info = info
        if self.mode == "off":
            return
        now = clock()
        if self.mode == "bar":
            self._bar(now)
        elif now - max(self.last_line, _plain["last"]) >= PLAIN_EVERY:
            self._line(now, self.line(now))

    def _bar(self, now: float) -> None:
        if self.task_id is None:
            if now - self.started < MIN_SECONDS:
                return
            try:
                self.task_id = _attach(self._bar_label(), self.total, self.completed, self.unit)
            except LiveError:  # another live display (not ours) is active: show nothing
                self.mode = "off"
                return
            _backdate(self.task_id, now - self.started)
        progress: Progress | None = _display["progress"]
        if progress is not None:
            progress.update(self.task_id, completed=self.completed, info=self.info)

    def _bar_label(self) -> str:
        """Indented below the outer phases with a bar; named after those without one."""
        shown = [i for i, p in enumerate(self.outer) if p.task_id is not None]
        unshown = self.outer[shown[-1] + 1 :] if shown else self.outer
        return "  " * len(shown) + ": ".join([*(p.description for p in unshown), self.description])

    def _line(self, now: float, text: str) -> None:
        file = console.file
        file.write(text + "\n")
        file.flush()
        self.last_line = _plain["last"] = now
        self.printed = True

    def rate(self, now: float) -> float | None:
        elapsed = now - self.started
        return (self.completed - self.first) / elapsed if elapsed > 0 else None

    def line(self, now: float, done: bool = False) -> str:
        """The plain progress line, e.g. `sampling 340/1000 (34%, 12.3 step/s, ETA 54s)`."""
        rate = self.rate(now)
        speed = f"{format_rate(rate)} {self.unit}/s" if rate else None
        elapsed = format_duration(now - self.started)
        if done:
            counts = f" {self.completed}/{self.total}" if self.total is not None else ""
            counts = counts if self.completed or self.total else ""
            text = f"{self.label}{counts} done in {elapsed}" + (f" ({speed})" if speed and counts else "")
        elif self.total:
            parts = [f"{100 * self.completed / self.total:.0f}%"]
            parts += [speed] if speed else []
            if rate:
                parts.append(f"ETA {format_duration(max(0, self.total - self.completed) / rate)}")
            text = f"{self.label} {self.completed}/{self.total} ({', '.join(parts)})"
        else:
            text = f"{self.label} {self.completed} {self.unit} ({', '.join([*([speed] if speed else []), elapsed])})"
        return f"{text}  {self.info}" if self.info else text

    def close(self, ok: bool = True) -> None:
        """End the phase: remove its bar; in plain mode write a last line when it lasted a second
        or more and is outermost (or already wrote lines)."""
        now = clock()
        if self.task_id is not None:
            _detach(self.task_id)
            self.task_id = None
        if self.mode == "plain" and ok and now - self.started >= MIN_SECONDS and (not self.depth or self.printed):
            self._line(now, self.line(now, done=True))
        self.mode = "off"


@contextlib.contextmanager
def phase(
    description: str,
    total: int | None = None,
    *,
    unit: str = "it",
    completed: int = 0,
    show: bool | None = None,
) -> Iterator[Phase]:
    """Progress of one phase of `total` units (None: unknown); phases started inside it nest.
    `show` overrides whether it is shown (default: `is_shown()`)."""
    outer = _outer.get()
    bar = Phase(description, total, unit=unit, completed=completed, show=show, outer=outer)
    ok = False
    try:
        with _setting(_outer, (*outer, bar)):
            yield bar
        ok = True
    finally:
        bar.close(ok)


def track(iterable: Iterable[T], description: str, total: int | None = None, *, unit: str = "it") -> Iterator[T]:
    """Iterate with progress (one unit per item); `total` defaults to the iterable's length."""
    if total is None and isinstance(iterable, Sized):
        total = len(iterable)
    with phase(description, total, unit=unit) as bar:
        for item in iterable:
            yield item
            bar.advance()


class _Task:
    def __init__(self, bar: Phase, item: str = "img"):
        self.bar, self.item = bar, item

    def advance(self, figures: Mapping[str, float] | None = None, images_per_s: float = 0.0) -> None:
        """One step done; the figures (and the rate of examples, `item`s per second), when given,
        replace those shown."""
        info = None if figures is None else f"{format_figures(figures)}  {images_per_s:,.0f} {self.item}/s"
        self.bar.advance(1, info=info)


class Reporter:
    """Shows training progress on stderr; silent when disabled (tests, the Python API, ranks
    other than 0), and so are the phases run inside its `task` and `phase`. One reporter serves
    one run: a warning it has printed is not printed again (a metric's warning each epoch)."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.warned: set[str] = set()

    def shown(self) -> contextlib.AbstractContextManager[None]:
        """Show (or hide) the progress of whatever runs inside, as this reporter does."""
        return showing(self.enabled)

    @contextlib.contextmanager
    def task(self, description: str, total: int, completed: int = 0, item: str = "img") -> Iterator[_Task]:
        """A training epoch: `advance(figures, images_per_s)` once per step; the rate is shown
        as `item`s per second ("img", "points")."""
        with self.shown(), phase(description, total, unit="step", completed=completed, show=self.enabled) as bar:
            yield _Task(bar, item)

    @contextlib.contextmanager
    def phase(self, description: str, total: int | None = None, *, unit: str = "it") -> Iterator[Phase]:
        """Another phase (figures, metrics, data loading); the phases inside follow this reporter."""
        with self.shown(), phase(description, total, unit=unit, show=self.enabled) as bar:
            yield bar

    def track(
        self, iterable: Iterable[T], description: str, total: int | None = None, *, unit: str = "it"
    ) -> Iterator[T]:
        with self.shown():
            yield from track(iterable, description, total, unit=unit)

    def epoch(self, record: Mapping[str, Any]) -> None:
        if self.enabled:
            shown = {k: v for k, v in record.items() if k not in ("kind", "epoch", "step")}
            console.print(f"[bold]epoch {record['epoch']}[/bold]  {format_figures(shown, keys=12)}")

    def warn(self, message: str) -> None:
        """Print a warning, once: the same message again (the next epoch's) is not printed."""
        if self.enabled and message not in self.warned:
            self.warned.add(message)
            console.print(f"[bold yellow]warning:[/bold yellow] {message}")

    def info(self, message: str) -> None:
        if self.enabled:
            console.print(message)
