"""Figures written into run directories: sample grids, 2-D scatter plots, loss curves.

Each PNG is drawn in memory and written atomically, so a full disk leaves the previous figure
and is reported as such."""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from gentk.rundir import atomic_write_bytes


def _write_png(path: Path, draw: Callable[[io.BytesIO], Any]) -> None:
    buffer = io.BytesIO()
    draw(buffer)
    atomic_write_bytes(path, lambda f: f.write(buffer.getvalue()))


def save_samples(samples: torch.Tensor, path: Path, nrow: int | None = None) -> None:
    """Images (B, C, H, W) in [0, 1] as a grid PNG; points (B, 2) as a scatter plot."""
    samples = samples.detach().float().cpu()
    if samples.dim() == 4:
        from torchvision.utils import save_image

        columns = nrow or max(1, int(math.sqrt(len(samples))))
        _write_png(path, lambda f: save_image(samples.clamp(0, 1), f, format="png", nrow=columns, padding=2))
    elif samples.dim() == 2 and samples.shape[1] == 2:
        save_points(samples, path)
    else:
        raise ValueError(f"cannot draw samples of shape {tuple(samples.shape)}")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_points(points: torch.Tensor, path: Path, title: str = "") -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
    ax.scatter(points[:, 0].numpy(), points[:, 1].numpy(), s=2, alpha=0.5)
    ax.set_aspect("equal")
    ax.set_title(title)
    fig.tight_layout()
    _write_png(path, lambda f: fig.savefig(f, format="png"))
    plt.close(fig)


def save_loss_curve(records: Sequence[dict], path: Path) -> None:
    """Every numeric training figure logged per step, one panel each, against the step."""
    steps = [r for r in records if r.get("kind") == "step"]
    if not steps:
        return
    keys = [
        k for k, v in steps[-1].items() if isinstance(v, (int, float)) and k not in ("step", "epoch", "images_per_s")
    ]
    plt = _pyplot()
    fig, axes = plt.subplots(len(keys), 1, figsize=(6, 2.2 * len(keys)), dpi=100, squeeze=False)
    for ax, key in zip(axes[:, 0], keys, strict=False):
        xs = [r["step"] for r in steps if key in r]
        ax.plot(xs, [r[key] for r in steps if key in r], linewidth=1)
        ax.set_ylabel(key)
    axes[-1, 0].set_xlabel("step")
    fig.tight_layout()
    _write_png(path, lambda f: fig.savefig(f, format="png"))
    plt.close(fig)
