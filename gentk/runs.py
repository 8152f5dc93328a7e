"""Listing run directories with their status and latest figures (`gentk runs`)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import attrs

from gentk.rundir import METRICS, RunDir

TAIL_BYTES = 256 * 1024  # the end of metrics.jsonl holds the latest epoch record


@attrs.frozen
class RunSummary:
    name: str
    path: Path
    status: str
    epoch: int | None
    epochs: int | None
    step: int | None
    figures: dict[str, Any]
    updated: str

    @property
    def epoch_text(self) -> str:
        if self.epoch is None:
            return "-"
        return f"{self.epoch}/{self.epochs}" if self.epochs else str(self.epoch)

    @property
    def figures_text(self) -> str:
        shown = []
        for key, value in list(self.figures.items())[:6]:
            shown.append(f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}")
        return "  ".join(shown)


def latest_epoch_record(run: RunDir) -> dict[str, Any]:
    """The last epoch record of a run's metrics, reading only the end of a long file."""
    file = run.path / METRICS
    try:
        with open(file, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(size - TAIL_BYTES, 0))
            tail = f.read()
    except OSError:
        return {}
    for line in reversed(tail.split(b"\n")[1 if size > TAIL_BYTES else 0 :]):
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a torn line, or the partial first line of the tail
        if isinstance(record, dict) and record.get("kind") == "epoch":
            return record
    return {}


def summarize(run: RunDir) -> RunSummary:
    status = run.status()
    record = latest_epoch_record(run)
    figures = {
        k: v
        for k, v in record.items()
        if k not in ("kind", "epoch", "step", "seconds", "images_per_s") and isinstance(v, int | float)
    }
    epoch = status.get("epoch", record.get("epoch"))
    step = status.get("step", record.get("step"))
    return RunSummary(
        name=run.path.name,
        path=run.path,
        status=str(status.get("status", "unknown")),
        epoch=epoch if isinstance(epoch, int) else None,
        epochs=status.get("epochs") if isinstance(status.get("epochs"), int) else None,
        step=step if isinstance(step, int) else None,
        figures=figures,
        updated=str(status.get("updated", "")),
    )


def list_runs(folder: str | Path) -> list[RunSummary]:
    """Every run directory directly under `folder` (or `folder` itself when it is one), newest first."""
    folder = Path(folder)
    if (folder / "recipe.toml").is_file():
        candidates = [folder]
    elif folder.is_dir():
        candidates = [p for p in folder.iterdir() if (p / "recipe.toml").is_file()]
    else:
        from gentk.errors import GentkError

        raise GentkError(f"{folder} is not a folder", hint="give the folder that holds run directories (runs/)")
    candidates.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    return [summarize(RunDir(p)) for p in candidates]
