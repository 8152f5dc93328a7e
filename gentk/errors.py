"""User-facing errors: one family that carries where the problem is and how to fix it."""

from __future__ import annotations

import shlex
import signal
from collections.abc import Sequence

import attrs


def format_path(path: Sequence[str | int]) -> str:
    """`("model", "encoder", "latent_dim")` -> `model -> encoder -> latent_dim`."""
    return " -> ".join(str(p) for p in path)


@attrs.frozen
class Problem:
    """One thing wrong with a user's input."""

    message: str
    path: tuple[str | int, ...] = ()
    hint: str | None = None

    def render(self) -> str:
        where = f"{format_path(self.path)}: " if self.path else ""
        hint = f"\n    hint: {self.hint}" if self.hint else ""
        return f"{where}{self.message}{hint}"


class GentkError(Exception):
    """An error caused by user input; the CLI prints it without a traceback."""

    def __init__(self, message: str, *, hint: str | None = None, file: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.file = file

    def render(self) -> str:
        where = f"{self.file}: " if self.file else ""
        hint = f"\n  hint: {self.hint}" if self.hint else ""
        return f"{where}{self.message}{hint}"


class RecipeError(GentkError):
    """Every problem found in one recipe, reported together."""

    def __init__(self, problems: Sequence[Problem], *, file: str | None = None):
        self.problems = list(problems)
        count = len(self.problems)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in recipe", file=file)

    def render(self) -> str:
        head = f"{self.file}: {self.message}" if self.file else self.message
        return "\n".join([head] + [f"  - {p.render()}" for p in self.problems])


class PluginError(GentkError):
    """A plugin could not be loaded or registered a conflicting name."""


class ComponentError(GentkError):
    """An unexpected exception inside a component's code, reported as an error of that component."""

    def __init__(self, kind: str, name: str, plugin: str, distribution: str | None, action: str, exc: BaseException):
        self.kind, self.name, self.plugin, self.distribution = kind, name, plugin, distribution
        where = _innermost_frame(exc)
        super().__init__(
            f"{kind} {name!r} (plugin {plugin!r}, distribution {distribution or '-'}) failed {action}: "
            f"{type(exc).__name__}: {exc}" + (f" [at {where}]" if where else ""),
            hint=f"run again with --debug for the traceback; if the plugin is at fault, report it to its authors "
            f"or block it with GENTK_BLOCK_PLUGINS={plugin}",
        )


def _innermost_frame(exc: BaseException) -> str:
    """`module:line` of the innermost frame of an exception's traceback."""
    tb = exc.__traceback__
    if tb is None:
        return ""
    while tb.tb_next is not None:
        tb = tb.tb_next
    module = tb.tb_frame.f_globals.get("__name__", tb.tb_frame.f_code.co_filename)
    return f"{module}:{tb.tb_lineno}"


class Interrupted(Exception):
    """Training stopped by a signal (Ctrl-C, SIGTERM, SIGUSR1) after a checkpoint was saved at a step
    boundary. `exit_code` is 128 + the signal's number, as a shell reports a process killed by it:
    130 for SIGINT, 143 for SIGTERM, 138 for SIGUSR1."""

    def __init__(
        self,
        run_path: object | None,
        *,
        signum: int = signal.SIGINT,
        nproc: int = 1,
        where: str = "",
        saved: bool = True,
    ):
        name = signal_name(signum)
        command = ""
        if run_path is None:  # stopped while starting a new run, whose directory was removed
            text = f"interrupted ({name}) before training started; nothing was kept"
        else:
            command = f"gentk run --resume {shlex.quote(str(run_path))}" + (f" --nproc {nproc}" if nproc > 1 else "")
            if saved:
                what = f"checkpoint saved{f' at {where}' if where else ''}"
            else:
                what = "nothing new was saved; the last checkpoint is kept"
            text = f"interrupted ({name}); {what}. Resume with: {command}"
        super().__init__(text)
        self.run_path = run_path
        self.signum = int(signum)
        self.exit_code = 128 + int(signum)
        self.resume_command = command


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class GentkWarning(UserWarning):
    """Something the user should know that does not stop the work (a torn metrics line skipped,
    a corrupt checkpoint passed over); the CLI prints it as `warning: ...`."""


class NumericalError(GentkError):
    """Training diverged (a non-finite loss or gradient norm, a loss above `run.max_loss`, non-finite
    weights), or sampling or evaluation produced non-finite values."""


def reject_options(what: str, options: dict, supported: tuple[str, ...] = ()) -> None:
    """Raise for sampling options a model does not support (e.g. `guidance` for a VAE)."""
    unknown = sorted(set(options) - set(supported))
    if unknown:
        allowed = ", ".join(supported) or "none"
        raise GentkError(f"{what} does not support the option(s) {', '.join(unknown)}", hint=f"supported: {allowed}")
