"""Progress: plain periodic lines when output is not a terminal, live bars on one, and silence for
short phases, disabled reporters, --quiet and ranks other than 0 (a fake clock drives time)."""

import io

import pytest
from rich.console import Console

from gentk import progress
from gentk.progress import Reporter, phase, showing, track


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(progress, "clock", fake)
    monkeypatch.setitem(progress._plain, "last", float("-inf"))
    monkeypatch.delenv("RANK", raising=False)
    return fake


@pytest.fixture
def plain(monkeypatch, clock):
    """Output to a file: returns the text written so far."""
    out = io.StringIO()
    monkeypatch.setattr(progress, "console", Console(file=out, force_terminal=False, width=200))
    return out


def run_phase(clock, seconds_per_step, steps=10, per_step=100, **kw):
    with phase("sampling", total=steps * per_step, unit="step", **kw) as bar:
        for _ in range(steps):
            clock.now += seconds_per_step
            bar.advance(per_step)


def test_slow_phase_writes_a_periodic_line_and_a_last_one(plain, clock):
    with showing(True):
        run_phase(clock, 3.0)  # 30 s in all: a line at 12 s and 24 s (at most every 10 s), one at the end
    lines = plain.getvalue().splitlines()
    assert lines == [
        "sampling 400/1000 (40%, 33.3 step/s, ETA 18s)",
        "sampling 800/1000 (80%, 33.3 step/s, ETA 6s)",
        "sampling 1000/1000 done in 30s (33.3 step/s)",
    ]


def test_fast_phase_writes_nothing(plain, clock):
    with showing(True):
        run_phase(clock, 0.05)  # half a second
    assert plain.getvalue() == ""


def test_phase_of_a_few_seconds_writes_only_its_last_line(plain, clock):
    with showing(True):
        run_phase(clock, 0.5)
    assert plain.getvalue().splitlines() == ["sampling 1000/1000 done in 5s (200 step/s)"]


@pytest.mark.parametrize("how", ["quiet", "reporter", "rank", "default"])
def test_hidden_progress_writes_nothing(plain, clock, monkeypatch, how):
    if how == "quiet":
        with showing(False):
            run_phase(clock, 3.0)
    elif how == "reporter":  # the engine's reporter on ranks other than 0, or the API without progress
        with Reporter(enabled=False).phase("epoch 1: figures"):
            run_phase(clock, 3.0)
        with Reporter(enabled=False).task("epoch 1/1", 10) as task:
            for _ in range(10):
                clock.now += 3
                task.advance({"loss": 1.0}, 10.0)
    elif how == "rank":
        monkeypatch.setenv("RANK", "1")
        with showing(True):
            run_phase(clock, 3.0)
    else:  # the Python API leaves progress off unless asked
        monkeypatch.setitem(progress._interactive, "on", False)
        run_phase(clock, 3.0)
    assert plain.getvalue() == ""


def test_cli_default_shows_progress(plain, clock, monkeypatch):
    monkeypatch.setitem(progress._interactive, "on", True)
    run_phase(clock, 3.0)
    assert len(plain.getvalue().splitlines()) == 3


def test_nested_phases_name_their_outer_phase_and_share_the_rate_limit(plain, clock):
    reporter = Reporter(enabled=True)
    with reporter.phase("epoch 3: figures"):
        for _ in range(2):
            run_phase(clock, 3.0)  # the inner phases write; the outer one (no total) only its end
    lines = plain.getvalue().splitlines()
    assert lines[0] == "epoch 3: figures: sampling 400/1000 (40%, 33.3 step/s, ETA 18s)"
    assert all(line.startswith("epoch 3: figures") for line in lines)
    assert lines[-1] == "epoch 3: figures done in 1m00s"


def test_nested_short_phases_write_nothing_but_the_outer_end(plain, clock):
    with showing(True), phase("metrics", total=3, unit="metric") as outer:
        for _ in range(3):
            run_phase(clock, 0.2)  # 2 s each: too short to report inside
            outer.advance()
    assert plain.getvalue().splitlines() == ["metrics 3/3 done in 6s (0.5 metric/s)"]


def test_training_task_lines_carry_the_figures(plain, clock):
    with Reporter(enabled=True).task("epoch 1/2", 20) as task:
        for _ in range(20):
            clock.now += 1
            task.advance({"loss": 0.25}, 512.0)
    first = plain.getvalue().splitlines()[0]
    assert first.startswith("epoch 1/2 10/20 (50%, 1.0 step/s, ETA 10s)")
    assert "loss=0.25" in first and "512 img/s" in first


def test_track_counts_items_and_reads_the_length(plain, clock):
    seen = []
    with showing(True):
        for item in track(range(30), "batches", unit="batch"):
            clock.now += 1
            seen.append(item)
    assert seen == list(range(30))
    lines = plain.getvalue().splitlines()
    assert lines[0].startswith("batches 10/30 (33%")  # counted once the 10th item is done
    assert lines[-1] == "batches 30/30 done in 30s (1.0 batch/s)"


def test_a_failed_phase_writes_no_last_line(plain, clock):
    with showing(True), pytest.raises(RuntimeError), phase("fitting", total=10) as bar:
        clock.now += 5
        bar.advance()
        raise RuntimeError("boom")
    assert plain.getvalue() == ""


def test_terminal_bar_appears_only_after_a_second_and_goes_away(monkeypatch, clock):
    out = io.StringIO()
    monkeypatch.setattr(progress, "console", Console(file=out, force_terminal=True, width=120))
    with showing(True), phase("sampling", total=10, unit="step") as bar:
        bar.advance()
        assert bar.task_id is None and progress._display["progress"] is None  # no bar yet
        clock.now += 2
        bar.advance()
        live = progress._display["progress"]
        assert live is not None and bar.task_id is not None
        with phase("inner", total=5) as inner:  # nested: a second task on the same display
            clock.now += 2
            inner.advance()
            assert progress._display["tasks"] == 2
            assert inner._bar_label() == "  inner"  # below its outer bar
        assert progress._display["tasks"] == 1
    assert progress._display["progress"] is None  # stopped with the last task
    assert "sampling" in out.getvalue()


def test_leaving_a_tracked_loop_early_restores_the_state(plain, clock):
    reporter = Reporter(enabled=False)
    for i in reporter.track(range(10), "outer"):
        assert [p.description for p in progress._outer.get()] == ["outer"] and not progress.is_shown()
        if i == 2:
            break
    assert progress._outer.get() == () and progress._shown.get() is None


def test_terminal_bar_names_the_outer_phases_without_a_bar(monkeypatch, clock):
    monkeypatch.setattr(progress, "console", Console(file=io.StringIO(), force_terminal=True, width=120))
    with showing(True), phase("loading the train split"), phase("reading images", total=3) as bar:
        clock.now += 2
        bar.advance()
        assert bar._bar_label() == "loading the train split: reading images"
    assert progress._display["progress"] is None
