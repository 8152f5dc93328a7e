"""Any folder of images in the class-per-subfolder layout: `path/<class>/**/*.png`."""

from pathlib import Path

import numpy as np
import torch
from einops import rearrange
from PIL import Image

from gentk.errors import GentkError
from gentk.interfaces import DataInfo, Split
from gentk_data.base import SPLITS, InMemoryDataset
from gentk_data.configs import ImageFolderConfig

SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
LAYOUT = "path/<class>/<image>.png (or .jpg, ...); labels follow the sorted class folder names"


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())


def scan(root: Path) -> tuple[list[str], list[Path], torch.Tensor]:
    """Class names (sorted subfolders holding images), image files and their labels (N,)."""
    if not root.is_dir():
        raise GentkError(
            f"image folder not found: {root}",
            hint=f"data.path must be a folder laid out as {LAYOUT}; relative paths start at {Path.cwd()}",
        )
    classes: list[str] = []
    files: list[Path] = []
    labels: list[int] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        found = _images(folder)
        if found:
            labels += [len(classes)] * len(found)
            classes.append(folder.name)
            files += found
    if not files:
        raise GentkError(f"no images in class folders under {root}", hint=f"expected {LAYOUT}")
    return classes, files, torch.tensor(labels, dtype=torch.int64)


def _read(path: Path, mode: str, size: int | None) -> np.ndarray:
    """One image as a uint8 (H, W, C) array."""
    try:
        with Image.open(path) as opened:
            img = opened.convert(mode)
            if size is not None:
                img = img.resize((size, size), Image.Resampling.BILINEAR)
            return np.asarray(img).reshape(img.height, img.width, -1)
    except OSError as exc:
        raise GentkError(f"cannot read image {path}: {exc}", hint="remove or replace the file") from None


def decode(files: list[Path], mode: str, size: int | None, hw: tuple[int, int]) -> torch.Tensor:
    """Decode images to a uint8 tensor (N, C, H, W); every image must be `hw` = (H, W)."""
    arrays = [_read(f, mode, size) for f in files]
    for f, a in zip(files, arrays, strict=False):
        if a.shape[:2] != hw:
            raise GentkError(
                f"{f} is {a.shape[1]}×{a.shape[0]} pixels, the others {hw[1]}×{hw[0]}",
                hint="set data.size to resize every image to size×size",
            )
    return rearrange(torch.from_numpy(np.stack(arrays)), "n h w c -> n c h w")


def held_out(n: int, fraction: float, seed: int) -> dict[str, torch.Tensor]:
    """Indices of each split: a seeded permutation, its first round(n·fraction) (at least 1) held out."""
    n_test = max(1, round(n * fraction))
    if n_test >= n:
        raise GentkError(f"{n} image(s) are too few to hold out a test split", hint="add images or lower test_fraction")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return dict(zip(SPLITS, (order[n_test:], order[:n_test]), strict=False))


def image_folder(cfg: ImageFolderConfig) -> InMemoryDataset:
    root = Path(cfg.path).expanduser().absolute()
    classes, files, labels = scan(root)
    mode = "L" if cfg.grayscale else "RGB"
    if cfg.size is not None:
        hw = (cfg.size, cfg.size)
    else:
        with Image.open(files[0]) as first:
            hw = (first.height, first.width)
    indices = held_out(len(files), cfg.test_fraction, cfg.seed)

    def load(split: str) -> Split:
        idx = indices[split][: cfg.limit]
        return Split(decode([files[i] for i in idx], mode, cfg.size, hw), labels[idx])

    info = DataInfo(shape=(1 if cfg.grayscale else 3, *hw), num_classes=len(classes), binarized=cfg.binarize)
    return InMemoryDataset(info, load, tuple(classes))
