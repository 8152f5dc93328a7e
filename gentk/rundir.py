"""Run directories: the resolved recipe, plugin versions, metrics, figures and checkpoints.

runs/<recipe>-<time>/
    recipe.toml        the resolved recipe, every default written out
    plugins.json       plugins and versions that built the run
    data.json          the data's shape and classes (so sampling needs no data)
    metrics.jsonl      one JSON object per line: {"kind": "step" | "epoch" | "eval", ...}
    figures/           samples_epoch001.png, loss.png, ...
    checkpoint.pt      the latest checkpoint, replaced atomically
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import attrs
import torch

from gentk.errors import GentkError
from gentk.interfaces import DataInfo

CHECKPOINT = "checkpoint.pt"


def atomic_write_bytes(path: Path, write) -> None:
    """Write through a temporary file in the same folder, then rename over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, lambda f: f.write(text.encode("utf-8")))


@attrs.define
class RunDir:
    path: Path

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

    def figure(self, name: str) -> Path:
        return self.path / "figures" / name

    def write_json(self, name: str, data: Any) -> None:
        atomic_write_text(self.path / name, json.dumps(data, indent=2, default=str) + "\n")

    def read_json(self, name: str) -> Any:
        return json.loads((self.path / name).read_text())

    def write_data_info(self, info: DataInfo) -> None:
        self.write_json("data.json", attrs.asdict(info))

    def data_info(self) -> DataInfo:
        raw = self.read_json("data.json")
        return DataInfo(**{**raw, "shape": tuple(raw["shape"])})

    def log(self, record: dict[str, Any]) -> None:
        with open(self.path / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def metrics(self) -> list[dict[str, Any]]:
        file = self.path / "metrics.jsonl"
        if not file.exists():
            return []
        return [json.loads(line) for line in file.read_text().splitlines() if line.strip()]

    def truncate_metrics(self, step: int) -> None:
        """Drop records logged after `step` (the work a resumed run repeats)."""
        kept = [r for r in self.metrics() if r.get("step", 0) <= step]
        atomic_write_text(self.path / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in kept))

    # -- checkpoints ------------------------------------------------------------------------
    def save_checkpoint(self, state: dict[str, Any]) -> None:
        atomic_write_bytes(self.checkpoint_file, lambda f: torch.save(state, f))

    def has_checkpoint(self) -> bool:
        return self.checkpoint_file.is_file()

    def load_checkpoint(self, map_location: torch.device | str = "cpu") -> dict[str, Any]:
        if not self.has_checkpoint():
            raise GentkError(f"{self.path} has no checkpoint yet", hint="train it first with `gentk run`")
        try:
            return torch.load(self.checkpoint_file, map_location=map_location, weights_only=True)
        except Exception as exc:
            raise GentkError(f"could not read {self.checkpoint_file}: {exc}") from None
