"""Figures of 2-D densities, returned as image tensors (1, 3, H, W) in [0, 1] for the engine."""

import torch
from torch import Tensor

from gentk.figures import pyplot
from gentk.prob import GaussianMixture


def _to_image(fig) -> Tensor:
    fig.canvas.draw()
    rgba = torch.frombuffer(bytearray(fig.canvas.buffer_rgba()), dtype=torch.uint8)
    width, height = fig.canvas.get_width_height()
    image = rgba.reshape(height, width, 4)[..., :3].permute(2, 0, 1)  # (3, H, W)
    pyplot().close(fig)
    return image.float().div(255).unsqueeze(0)  # (1, 3, H, W)


def _contours(ax, mixture: GaussianMixture, points: Tensor) -> None:
    """Log-density contours of `mixture` over the box holding its modes and `points`."""
    both = torch.cat([mixture.means.cpu(), points.cpu()])
    lo, hi = both.min(0).values - 0.5, both.max(0).values + 0.5
    gx, gy = torch.meshgrid(torch.linspace(lo[0], hi[0], 200), torch.linspace(lo[1], hi[1], 200), indexing="xy")
    grid = torch.stack([gx, gy], dim=-1).to(mixture.means.device)  # (200, 200, 2)
    log_p = mixture.log_prob(grid).cpu().clamp_min(-30)
    ax.contourf(gx.numpy(), gy.numpy(), log_p.numpy(), levels=20, cmap="Blues")
    ax.set_aspect("equal")
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")


def density_plot(mixture: GaussianMixture, points: Tensor, title: str, label: str = "points") -> Tensor:
    """Points (N, 2), named `label` in the legend, over the log-density contours of a mixture."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 4.9), dpi=100, layout="constrained")
    _contours(ax, mixture, points)
    pts = points.detach().cpu()
    ax.scatter(pts[:, 0].numpy(), pts[:, 1].numpy(), s=3, c="tab:red", alpha=0.6, label=f"{label} ({len(pts)})")
    ax.set_title(f"{title} (shading: log-density)", fontsize=9)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), fontsize=8, markerscale=3, frameon=False)
    return _to_image(fig)


def fit_plot(mixture: GaussianMixture, points: Tensor, trace: list[float]) -> Tensor:
    """A fitted mixture's density with data points, beside its log-likelihood per EM iteration."""
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 4.9), dpi=100, layout="constrained")
    _contours(left, mixture, points)
    pts = points.detach().cpu()
    left.scatter(pts[:, 0].numpy(), pts[:, 1].numpy(), s=4, c="tab:red", label=f"data ({len(pts)})")
    means = mixture.means.cpu()
    left.scatter(means[:, 0].numpy(), means[:, 1].numpy(), marker="x", c="black", s=20, label="component means")
    left.set_title(f"fitted mixture (K = {mixture.num_components}, shading: log-density)", fontsize=9)
    left.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncols=2, fontsize=8, frameon=False)
    right.plot(range(1, len(trace) + 1), trace, marker=".")
    right.set_xlabel("EM iteration")
    right.xaxis.set_major_locator(MaxNLocator(integer=True))
    right.ticklabel_format(axis="y", useOffset=False)
    right.set_ylabel("average log-likelihood")
    right.set_title("log-likelihood of the data per EM iteration", fontsize=9)
    return _to_image(fig)
