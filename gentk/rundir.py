"""Run directories: the resolved recipe, plugin versions, metrics, figures and checkpoints.

runs/<recipe>-<time>/
    recipe.toml             the resolved recipe, every default written out
    plugins.json            plugins and versions that built the run
    data.json               the data's shape and classes (so sampling needs no data)
    metrics.jsonl           one JSON object per line: {"kind": "step" | "epoch" | "eval", ...}
    status.json             running | interrupted | failed | done, with the epoch and step
    run.lock                held (flock) by the process writing the run; names its pid and host
    figures/                samples_epoch001.png, loss.png, ...
    checkpoint.pt           the newest checkpoint, replaced atomically
    checkpoint-<step>.pt    with run.keep_checkpoints = K > 1: the K newest (checkpoint.pt is a
                            hard link to the newest of them)
    best.pt                 with run.best_metric: the checkpoint with the best epoch figure

Every file is written through a temporary file that is renamed over it, so a crash leaves the
previous version; metrics are appended one whole line per write, a line cut short (a crash, a
full disk) is dropped by readers with a warning and removed when the run resumes.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import socket
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import torch

from gentk.errors import GentkError, GentkWarning
from gentk.interfaces import DataInfo

CHECKPOINT = "checkpoint.pt"
BEST = "best.pt"
METRICS = "metrics.jsonl"
STATUS = "status.json"
LOCK = "run.lock"
_NUMBERED = re.compile(r"checkpoint-(\d+)\.pt")
_TMP_SUFFIX = ".tmp"


class DiskFullError(GentkError):
    """A write failed because the disk (or the user's quota) is full."""


def _write_all(fd: int, data: Any) -> None:
    """Write all of `data` to a file descriptor (os.write may write less than asked)."""
    view = memoryview(data).cast("B")
    while view:
        view = view[os.write(fd, view) :]


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def write_error(exc: OSError, path: Path) -> GentkError:
    """A failed write as the user should see it: 'disk full' with the free space, or the OS's reason."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        try:
            free = _human(shutil.disk_usage(path.parent).free) + " free"
        except OSError:
            free = "free space unknown"
        return DiskFullError(
            f"disk full while writing {path} ({free} on its filesystem); the file's previous version is kept",
            hint="free some space, then resume the run with `gentk run --resume RUN`",
        )
    return GentkError(f"could not write {path}: {exc.strerror or exc}")


class _Sink:
    """A file-like writer over a descriptor that remembers the OSError behind a failed write (torch.save
    reports those as internal errors of its zip writer)."""

    def __init__(self, fd: int):
        self.fd = fd
        self.error: OSError | None = None

    def write(self, data: Any) -> int:
        try:
            _write_all(self.fd, data)
        except OSError as exc:
            self.error = exc
            raise
        return memoryview(data).nbytes

    def flush(self) -> None:
        pass


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()  # read once: setting it is process-wide


def atomic_write_bytes(path: Path, write: Callable[[Any], object]) -> None:
    """Write through a temporary file in the same folder (`write` gets a file-like object with
    `write`), then rename over `path`: readers see the old file or the whole new one. A failed
    write removes the temporary file and raises a GentkError ('disk full' where it is)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=_TMP_SUFFIX, dir=path.parent)
    except OSError as exc:
        raise write_error(exc, path) from None
    sink = _Sink(fd)
    try:
        try:
            os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp's 0600 would hide run files from the group
            write(sink)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException as exc:
        _discard(Path(tmp))
        error = sink.error if sink.error is not None else exc
        if isinstance(error, OSError):
            raise write_error(error, path) from None
        raise


def _discard(tmp: Path) -> None:
    """Remove a temporary file after a failed write, if the file system still lets us (a folder
    turned read-only does not: the next run that takes the lock removes it)."""
    with contextlib.suppress(OSError):
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, lambda f: f.write(text.encode("utf-8")))


def _parse_lines(data: bytes, source: Path) -> tuple[list[dict[str, Any]], int]:
    """The records of a metrics file and how many lines could not be read (torn or corrupt)."""
    records, bad = [], 0
    lines = data.split(b"\n")
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not an object")
        except ValueError:
            bad += 1
            continue
        if i == len(lines) - 1:  # no newline after it: a write cut short, even if it parses
            bad += 1
            continue
        records.append(record)
    return records, bad


@attrs.define
class RunDir:
    path: Path
    _lock_fd: int | None = attrs.field(default=None, init=False, eq=False, repr=False)

    @classmethod
    def create(cls, out: str | Path, stem: str) -> RunDir:
        out = Path(out)
        base = f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
        for i in range(1000):
            path = out / (base if i == 0 else f"{base}-{i}")
            try:
                path.mkdir(parents=True)
                return cls(path)
            except FileExistsError:
                continue
            except OSError as exc:
                raise write_error(exc, path) from None
        raise GentkError(f"could not create a run directory under {out}")

    @classmethod
    def open(cls, path: str | Path) -> RunDir:
        path = Path(path)
        if not (path / "recipe.toml").is_file():
            raise GentkError(
                f"{path} is not a run directory (no recipe.toml)",
                hint="give a folder that `gentk run` wrote, e.g. runs/vae_mnist-...",
            )
        return cls(path)

    # -- files ------------------------------------------------------------------------------
    @property
    def recipe_file(self) -> Path:
        return self.path / "recipe.toml"

    @property
    def checkpoint_file(self) -> Path:
        return self.path / CHECKPOINT

    @property
    def best_file(self) -> Path:
        return self.path / BEST

    def figure(self, name: str) -> Path:
        return self.path / "figures" / name

    def write_text(self, name: str, text: str) -> None:
        atomic_write_text(self.path / name, text)

    def write_json(self, name: str, data: Any) -> None:
        atomic_write_text(self.path / name, json.dumps(data, indent=2, default=str) + "\n")

    def read_json(self, name: str) -> Any:
        return json.loads((self.path / name).read_text())

    def write_data_info(self, info: DataInfo) -> None:
        self.write_json("data.json", attrs.asdict(info))

    def data_info(self) -> DataInfo:
        raw = self.read_json("data.json")
        return DataInfo(**{**raw, "shape": tuple(raw["shape"])})

    # -- the lock ---------------------------------------------------------------------------
    def lock(self) -> None:
        """Hold the run's lock until `unlock` (or the process ends): one writer per run. Another
        process holding it is an error naming that process."""
        if self._lock_fd is not None:
            return
        try:
            import fcntl
        except ImportError:  # no flock (Windows): no protection against a second writer
            return
        file = self.path / LOCK
        try:
            fd = os.open(file, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise write_error(exc, file) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = self._read_holder(fd)
            os.close(fd)
            raise GentkError(
                f"{self.path} is in use by another gentk process ({holder}); two writers would mix their histories",
                hint="wait for it to finish, or stop it (it saves a checkpoint) and resume afterwards",
            ) from None
        try:
            os.ftruncate(fd, 0)
            info = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}
            os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        except OSError:
            pass  # the lock holds without its note
        self._lock_fd = fd
        self._remove_temporary_files()

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    @staticmethod
    def _read_holder(fd: int) -> str:
        try:
            info = json.loads(os.pread(fd, 4096, 0) or b"{}")
            return f"pid {info['pid']} on host {info['host']}, since {info['since']}"
        except (OSError, ValueError, KeyError, TypeError):
            return "holder unknown"

    def holder(self) -> str | None:
        """Who holds the lock ('pid P on host H, since T'), or None when no process does."""
        try:
            import fcntl
        except ImportError:
            return None
        if self._lock_fd is not None:
            return self._read_holder(self._lock_fd)
        try:
            fd = os.open(self.path / LOCK, os.O_RDONLY)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return self._read_holder(fd)
        finally:
            os.close(fd)  # also releases the shared lock just taken
        return None

    def _remove_temporary_files(self) -> None:
        """Temporary files of writes that a killed process left (only while holding the lock)."""
        for folder in (self.path, self.path / "figures"):
            if folder.is_dir():
                for tmp in folder.glob(f".*{_TMP_SUFFIX}"):
                    tmp.unlink(missing_ok=True)

    # -- status -----------------------------------------------------------------------------
    def write_status(self, status: str, **fields: Any) -> None:
        """Record the run's state: running, interrupted, failed or done, with the epoch and step."""
        record = {"status": status, **fields, "updated": time.strftime("%Y-%m-%d %H:%M:%S")}
        self.write_json(STATUS, record)

    def status(self) -> dict[str, Any]:
        """status.json; a run marked running whose process is gone reads as 'stopped'."""
        try:
            record = self.read_json(STATUS)
        except (OSError, ValueError):
            record = {"status": "unknown"}
        if not isinstance(record, dict):
            record = {"status": "unknown"}
        if record.get("status") == "running" and self.holder() is None:
            record["status"] = "stopped"  # killed: SIGKILL, power loss, out of memory
        return record

    # -- metrics ----------------------------------------------------------------------------
    @property
    def metrics_file(self) -> Path:
        return self.path / METRICS

    def log(self, record: dict[str, Any]) -> None:
        """Append one record as one line in one write; a write that fails (a full disk) is undone, so
        the file never keeps half a line."""
        file = self.metrics_file
        line = (json.dumps(record) + "\n").encode("utf-8")
        try:
            fd = os.open(file, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise write_error(exc, file) from None
        try:
            end = os.lseek(fd, 0, os.SEEK_END)
            if end and os.pread(fd, 1, end - 1) != b"\n":
                line = b"\n" + line  # after a torn line: start a line of our own
            try:
                _write_all(fd, line)
            except OSError as exc:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, end)
                raise write_error(exc, file) from None
        finally:
            os.close(fd)

    def metrics(self) -> list[dict[str, Any]]:
        """The records of metrics.jsonl; lines that cannot be read (a write cut short) are skipped
        with a warning."""
        file = self.metrics_file
        try:
            data = file.read_bytes()
        except FileNotFoundError:
            return []
        records, bad = _parse_lines(data, file)
        if bad:
            warnings.warn(
                f"{file}: skipped {bad} unreadable line{'s' if bad > 1 else ''} (a write cut short?)",
                GentkWarning,
                stacklevel=2,
            )
        return records

    def truncate_metrics(self, step: int | None) -> None:
        """Keep the records up to `step` (drop the work a resumed run repeats, and torn lines);
        `None` drops every record (a run that restarts from its first step)."""
        file = self.metrics_file
        try:
            data = file.read_bytes()
        except FileNotFoundError:
            return
        records, _ = _parse_lines(data, file)
        kept = [] if step is None else [r for r in records if r.get("step", 0) <= step]
        atomic_write_text(file, "".join(json.dumps(r) + "\n" for r in kept))

    # -- checkpoints ------------------------------------------------------------------------
    def numbered_checkpoints(self) -> list[tuple[int, Path]]:
        """checkpoint-<step>.pt files, oldest first."""
        found = []
        for file in self.path.glob("checkpoint-*.pt"):
            match = _NUMBERED.fullmatch(file.name)
            if match:
                found.append((int(match.group(1)), file))
        return sorted(found)

    def save_checkpoint(self, state: dict[str, Any], *, step: int = 0, keep: int = 1, best: bool = False) -> None:
        """Write a checkpoint as the newest (checkpoint.pt); with `keep` > 1 also as checkpoint-<step>.pt,
        keeping the `keep` newest; with `best`, also as best.pt. A failed write leaves the previous
        files as they were."""
        if keep <= 1:
            atomic_write_bytes(self.checkpoint_file, lambda f: torch.save(state, f))
            newest = self.checkpoint_file
            for _, old in self.numbered_checkpoints():
                old.unlink(missing_ok=True)
        else:
            newest = self.path / f"checkpoint-{step:08d}.pt"
            atomic_write_bytes(newest, lambda f: torch.save(state, f))
            self._point(self.checkpoint_file, newest)
            numbered = self.numbered_checkpoints()
            for _, old in numbered[: max(len(numbered) - keep, 0)]:
                old.unlink(missing_ok=True)
        if best:
            self._point(self.best_file, newest)

    def _point(self, name: Path, target: Path) -> None:
        """Make `name` the same file as `target` (a hard link; a copy where links are not supported),
        replacing it atomically."""
        tmp = name.with_name(f".{name.name}.{os.getpid()}{_TMP_SUFFIX}")
        tmp.unlink(missing_ok=True)
        try:
            try:
                os.link(target, tmp)
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise
                shutil.copyfile(target, tmp)
            os.replace(tmp, name)
        except OSError as exc:
            _discard(tmp)
            raise write_error(exc, name) from None

    def has_checkpoint(self) -> bool:
        return self.checkpoint_file.is_file() or bool(self.numbered_checkpoints())

    def checkpoint_candidates(self) -> list[Path]:
        """checkpoint.pt, then the numbered checkpoints, newest first (the fallbacks when it is corrupt)."""
        files = [self.checkpoint_file] if self.checkpoint_file.is_file() else []
        for _, file in reversed(self.numbered_checkpoints()):
            if not (files and _same_file(files[0], file)):
                files.append(file)
        return files

    def load_checkpoint(self, map_location: torch.device | str = "cpu", file: Path | None = None) -> dict[str, Any]:
        """The newest readable checkpoint (or `file`); a corrupt one is passed over, with a warning,
        for the one before it."""
        candidates = [file] if file is not None else self.checkpoint_candidates()
        if not candidates:
            raise GentkError(f"{self.path} has no checkpoint yet", hint="train it first with `gentk run`")
        errors = []
        for i, candidate in enumerate(candidates):
            try:
                state = torch.load(candidate, map_location=map_location, weights_only=True)
                if not isinstance(state, dict) or "networks" not in state:
                    raise ValueError("not a gentk checkpoint")
            except Exception as exc:  # any failure to read it means: try the one before
                errors.append(f"{candidate.name}: {type(exc).__name__}: {exc}")
                if i + 1 < len(candidates):
                    warnings.warn(
                        f"could not read {candidate} ({type(exc).__name__}: {str(exc)[:200]}); "
                        f"falling back to {candidates[i + 1].name}",
                        GentkWarning,
                        stacklevel=2,
                    )
                continue
            return state
        raise GentkError(
            f"could not read any checkpoint of {self.path}: " + "; ".join(e[:300] for e in errors),
            hint="the files may be damaged; start the run again",
        )

    def discard_checkpoints_after(self, step: int) -> None:
        """Set aside numbered checkpoints beyond `step` (those passed over as unreadable), so that
        they never count among the newest again."""
        for n, file in self.numbered_checkpoints():
            if n > step:
                with contextlib.suppress(OSError):
                    os.replace(file, file.with_name(file.name + ".unreadable"))


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
