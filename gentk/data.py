"""Batches from in-memory datasets: uint8 images are converted (and binarised) on the fly."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from gentk.interfaces import Batch, DataInfo, Split


def to_float(x: torch.Tensor, info: DataInfo, generator: torch.Generator | None = None) -> torch.Tensor:
    """Images stored as uint8 -> floats in [0, 1]; binarised data becomes {0, 1}, by a Bernoulli
    draw when `generator` is given (dynamic binarisation) or by thresholding at 1/2 otherwise."""
    if x.dtype != torch.uint8:
        return x.float()
    x = x.float().div_(255.0)
    if info.binarized:
        if generator is not None:
            noise = torch.rand(x.shape, generator=generator, device=generator.device).to(x.device)
            return (noise < x).float()
        return (x > 0.5).float()
    return x


def batches(
    split: Split,
    info: DataInfo,
    batch_size: int,
    *,
    device: torch.device | str = "cpu",
    generator: torch.Generator | None = None,
    shuffle: bool = False,
    drop_last: bool = False,
    limit: int | None = None,
    shard: tuple[int, int] = (0, 1),
) -> Iterator[Batch]:
    """Batches of a split on `device`. With `shuffle`, the order and the binarisation noise come
    from `generator` (so a seed fixes them). `shard=(rank, processes)` keeps every processes-th
    example of each batch, starting at rank: the share of one process in data-parallel training."""
    rank, processes = shard
    n = len(split)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    stop = n - n % batch_size if drop_last else n
    for count, start in enumerate(range(0, stop, batch_size)):
        if limit is not None and count >= limit:
            return
        idx = order[start : start + batch_size]
        x = to_float(split.x[idx], info, generator if shuffle else None)[rank::processes]
        idx = idx[rank::processes]
        y = split.y[idx] if split.y is not None else None
        yield Batch(_to_device(x, device), None if y is None else _to_device(y, device))


def _to_device(t: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """A copy on the device; to a GPU from pinned memory, so that the copy runs while the host goes
    on preparing the next batch (the training loop does not wait for the GPU between log points)."""
    if torch.device(device).type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


def steps_per_epoch(n: int, batch_size: int, limit: int | None) -> int:
    full = n // batch_size if n >= batch_size else 1
    return min(full, limit) if limit else full
