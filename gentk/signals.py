"""Stopping a run at a step boundary when a signal asks for it.

SIGINT (Ctrl-C), SIGTERM (how SLURM, Kubernetes and preemptible machines stop jobs) and SIGUSR1
(SLURM's `--signal=USR1@SECONDS` warning) only set a flag: the training loop looks at it after a
complete step (the model's update and the engine's position agree), saves a checkpoint there and
raises `Interrupted`. A signal that arrives while a stop is pending or the checkpoint is being
written is ignored, with a message, until the save is done (SIGKILL still ends the process; the
run then resumes from its last checkpoint).

The handlers are installed only in the main thread (Python delivers signals there) and the
previous handlers are restored when the run ends.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1)


def _say(text: str) -> None:
    """Write to stderr from a signal handler (os.write does not re-enter Python's buffered IO)."""
    with contextlib.suppress(OSError):
        os.write(2, text.encode("utf-8", "replace"))


class StopRequest:
    """The pending stop: which signal asked for it (None when none did)."""

    def __init__(self, announce: bool = True):
        self.signum: int | None = None
        self.announce = announce  # print the messages (rank 0 of a process group)
        self._last_notice = 0.0

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def request(self, signum: int) -> None:
        """Ask for a stop as the given signal would (also for tests and the Python API)."""
        if self.signum is None:
            self.signum = signum

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum
            if self.announce:
                _say(
                    f"\n{signal.Signals(signum).name}: stopping after this step to save a checkpoint "
                    "(further signals are ignored until it is saved)\n"
                )
            return
        now = time.monotonic()
        if self.announce and now - self._last_notice > 1.0:  # one line however often it is pressed
            self._last_notice = now
            _say(f"\n{signal.Signals(signum).name}: saving a checkpoint; please wait\n")


@contextlib.contextmanager
def stop_on_signals(request: StopRequest) -> Iterator[StopRequest]:
    """Route SIGINT, SIGTERM and SIGUSR1 to `request` while the block runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    previous = {}
    try:
        for sig in STOP_SIGNALS:
            previous[sig] = signal.signal(sig, request.handle)
        yield request
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


@contextlib.contextmanager
def abort_on_signals(make_error: Callable[[int], BaseException]) -> Iterator[None]:
    """Before training starts (nothing to save yet): SIGINT, SIGTERM and SIGUSR1 raise `make_error(signum)`
    at once, so that startup (data loading, building) can be abandoned and cleaned up."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise make_error(signum)

    previous = {}
    try:
        for sig in STOP_SIGNALS:
            previous[sig] = signal.signal(sig, handler)
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)
