"""Sample quality in feature space: the features FID, KID and precision/recall are computed from,
and the protocol card that travels with every such figure.

Generated images are drawn in seed blocks of `block` images, block b with its own seed derived from
the evaluation's generator, so the images do not depend on how many processes draw them: with
torch.distributed running, process r draws blocks r, r + P, r + 2P, ... and the features are gathered
back in block order. Reference features are computed once per (data, split, extractor, count) and
cached in `$GENTK_CACHE/quality` (else `~/.cache/gentk/quality`).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from gentk.data import to_float
from gentk.errors import GentkError
from gentk.interfaces import DataInfo, DescribesSampling, FeatureExtractor, Model, Split
from gentk.progress import phase
from gentk.rundir import atomic_write_bytes

CACHE_ENV = "GENTK_CACHE"
CHUNK = 250  # reference images per call of the extractor
RUN_FACTS = ("seed", "step", "checkpoint", "run_precision")  # may differ between figures that compare
"""Card fields that say which run and evaluation made a figure, not how it was measured."""
SAMPLING = ("sampler", "sampler_settings", "steps", "guidance", "ema")
"""Card fields that say how the model drew its images: they differ between model families by nature."""


def cache_folder(name: str, root: str | Path | None = None) -> Path:
    """`root/name`, where root defaults to $GENTK_CACHE, else ~/.cache/gentk."""
    base = Path(root) if root else Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "gentk")
    return base / name


def digest(*parts: bytes | str, length: int = 16) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
    return h.hexdigest()[:length]


def data_hash(split: Split) -> str:
    """A hash of a split's pixels (or points) and labels."""
    parts = [split.x.contiguous().cpu().numpy().tobytes()]
    if split.y is not None:
        parts.append(split.y.contiguous().cpu().numpy().tobytes())
    return digest(*parts)


def weights_hash(module: torch.nn.Module) -> str:
    """A hash of a network's parameters and buffers, by name."""
    parts: list[bytes | str] = []
    for name, tensor in module.state_dict().items():
        parts += [name, tensor.detach().cpu().contiguous().numpy().tobytes()]
    return digest(*parts)


# -- generated images ---------------------------------------------------------------------------
def block_seed(base: int, block: int) -> int:
    return int(digest(f"{base}:{block}"), 16)


def _world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def sampling_settings(model: Model, options: Mapping[str, Any]) -> dict[str, Any]:
    """How the model samples with these options, for the card."""
    if isinstance(model, DescribesSampling):
        return dict(model.sampling_settings(**options))
    return {"sampler": f"{type(model).__name__} (one pass)", **options}


@torch.no_grad()
def generated_features(
    model: Model,
    extractor: FeatureExtractor,
    n: int,
    info: DataInfo,
    *,
    generator: torch.Generator,
    block: int,
    options: Mapping[str, Any],
) -> Tensor:
    """Features (n, D) of n images drawn from `model` in seed blocks (see the module's doc)."""
    if info.kind != "image":
        raise GentkError(
            "sample-quality metrics compare images; this run's data are points",
            hint="for 2-D points use the mode_coverage or nll metrics",
        )
    base = int(torch.randint(2**62, (1,), generator=generator, device=generator.device))
    blocks = range(math.ceil(n / block))
    rank, size = _world()
    mine: dict[int, Tensor] = {}
    with phase(f"generating {n} images for quality metrics", n, unit="image") as bar:
        for b in blocks[rank::size]:
            count = min(block, n - b * block)
            seeded = torch.Generator(model.device).manual_seed(block_seed(base, b))
            images = model.sample(count, generator=seeded, **options).float()
            _check_block(images, count, info)
            mine[b] = extractor.features(images).float().cpu()
            bar.advance(count * size)
    if size > 1:
        shards: list[dict[int, Tensor] | None] = [None] * size
        dist.all_gather_object(shards, mine)
        mine = {b: f for shard in shards if shard for b, f in shard.items()}
    return torch.cat([mine[b] for b in blocks])


def _check_block(images: Tensor, count: int, info: DataInfo) -> None:
    if len(images) != count:
        raise GentkError(
            f"the model drew {len(images)} images for a block of {count}: a class-conditional model draws "
            f"the same number of each of its {info.num_classes} classes",
            hint="make n_samples and block multiples of the number of classes",
        )
    if tuple(images.shape[1:]) != tuple(info.shape):
        raise GentkError(
            f"the model's samples have shape {tuple(images.shape[1:])}, the data {tuple(info.shape)}",
            hint="sample-quality metrics need a model that samples images like its data",
        )


# -- reference images ---------------------------------------------------------------------------
def reference_subset(split: Split, n: int) -> Split:
    """n images of the split: all of them, or a fixed random subset (seed 0) when it has more."""
    if n >= len(split):
        return split
    keep = torch.randperm(len(split), generator=torch.Generator().manual_seed(0))[:n]
    return Split(split.x[keep], None if split.y is None else split.y[keep])


@torch.no_grad()
def reference_features(
    split: Split,
    split_name: str,
    info: DataInfo,
    extractor: FeatureExtractor,
    n: int,
    cache_dir: str | Path | None = None,
) -> tuple[Tensor, dict[str, Any]]:
    """Features (N, D) of up to n images of the split, and the card fields that describe them;
    cached by (data hash, split, extractor card, N)."""
    subset = reference_subset(split, n)
    facts = {
        "reference_split": split_name,
        "reference": len(subset),
        "data": data_hash(split),
        "binarized": info.binarized,  # the same pixels, thresholded at 1/2
    }
    key = digest(json.dumps({**facts, **extractor.card()}, sort_keys=True, default=str), length=24)
    path = cache_folder("quality", cache_dir) / f"reference-{key}.pt"
    if path.is_file():
        try:
            return torch.load(path, map_location="cpu", weights_only=True), facts
        except Exception:  # a damaged cache file is recomputed and replaced
            pass
    features = []
    with phase(f"reference features ({split_name} split)", len(subset), unit="image") as bar:
        for x in subset.x.split(CHUNK):
            features.append(extractor.features(to_float(x, info)).float().cpu())
            bar.advance(len(x))
    result = torch.cat(features)
    buffer = io.BytesIO()
    torch.save(result, buffer)
    atomic_write_bytes(path, lambda f: f.write(buffer.getvalue()))
    return result, facts


# -- protocol cards -----------------------------------------------------------------------------
def differences(cards: list[Mapping[str, Any]], ignore: Sequence[str] = RUN_FACTS) -> dict[str, list[Any]]:
    """Card fields (other than `ignore`: the run facts) whose values differ between the cards, with the values."""
    keys = sorted({k for card in cards for k in card} - set(ignore))
    out = {}
    for key in keys:
        values = [card.get(key) for card in cards]
        if any(v != values[0] for v in values[1:]):
            out[key] = values
    return out
