"""Any folder of images in the class-per-subfolder layout: `path/<class>/**/*.png`.

Symbolic links: the walk never leaves the folder. A class folder or image that is a link to
somewhere outside the folder is an error (copy the data in, or point data.path at the folder
that holds it). A class folder that links to the folder itself, to one of its parents, or to a
folder already counted (another class folder, or a folder inside one) is skipped, so no images
are counted twice; other class-folder links inside the folder are followed. Links to folders
below a class folder are not followed.

Image size: an image of more than `MAX_PIXELS` pixels (read from its header, before decoding)
is an error, which also stops decompression bombs (a small file that claims a huge size).
"""

import os
import warnings
from pathlib import Path

import numpy as np
import torch
from einops import rearrange
from PIL import Image

from gentk.errors import GentkError
from gentk.interfaces import DataInfo, Split
from gentk.progress import track
from gentk_data.base import SPLITS, InMemoryDataset
from gentk_data.configs import ImageFolderConfig

SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
LAYOUT = "path/<class>/<image>.png (or .jpg, ...); labels follow the sorted class folder names"
MAX_PIXELS = 8192 * 8192  # largest image accepted (width × height), below PIL's own bomb limit


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _outside_error(link: Path, target: Path, root: Path) -> GentkError:
    return GentkError(
        f"{link} is a link to {target}, outside the image folder {root}",
        hint="the image folder is read without leaving it: copy the images in, or set data.path to the "
        "folder that holds them",
    )


def _link_target(link: Path) -> Path:
    """Where a link leads; a loop of links is a user error naming it."""
    try:
        return link.resolve(strict=False)
    except (RuntimeError, OSError) as exc:  # Python raises RuntimeError for a loop of links
        raise GentkError(f"{link} is a loop of links ({exc})", hint="remove or repair the link") from None


def _images(folder: Path, root: Path) -> list[Path]:
    """Image files under `folder`, sorted; links to folders below it are not followed, links to
    files must stay inside `root`."""
    found = []
    for here, _dirs, names in os.walk(folder, followlinks=False):
        for name in names:
            path = Path(here) / name
            if path.suffix.lower() not in SUFFIXES:
                continue
            if path.is_symlink():
                target = _link_target(path)
                if not _inside(target, root):
                    raise _outside_error(path, target, root)
            if path.is_file():
                found.append(path)
    return sorted(found)


def class_folders(root: Path) -> list[Path]:
    """The candidate class folders of `root` (resolved), sorted by name: real folders, then links
    inside `root` that do not lead back to `root`, a parent of it, or a folder already counted."""
    entries = sorted(p for p in root.iterdir() if not p.name.startswith(".") and p.is_dir())
    real = [p for p in entries if not p.is_symlink()]
    seen = {p.resolve() for p in real}
    kept = list(real)
    for link in (p for p in entries if p.is_symlink()):
        target = _link_target(link)
        if not _inside(target, root):
            raise _outside_error(link, target, root)
        if target == root or any(_inside(target, s) for s in seen):
            continue  # the folder itself, or images already counted
        seen.add(target)
        kept.append(link)
    return sorted(kept, key=lambda p: p.name)


def scan(root: Path) -> tuple[list[str], list[Path], torch.Tensor]:
    """Class names (sorted subfolders holding images), image files and their labels (N,)."""
    if not root.is_dir():
        raise GentkError(
            f"image folder not found: {root}",
            hint=f"data.path must be a folder laid out as {LAYOUT}; relative paths start at {Path.cwd()}",
        )
    root = root.resolve()
    classes: list[str] = []
    files: list[Path] = []
    labels: list[int] = []
    for folder in class_folders(root):
        found = _images(folder, root)
        if found:
            labels += [len(classes)] * len(found)
            classes.append(folder.name)
            files += found
    if not files:
        raise GentkError(f"no images in class folders under {root}", hint=f"expected {LAYOUT}")
    return classes, files, torch.tensor(labels, dtype=torch.int64)


def _too_large(path: Path, detail: str) -> GentkError:
    return GentkError(
        f"image {path} is too large ({detail}); the limit is {MAX_PIXELS:,} pixels",
        hint="shrink or remove the file (a small file that claims a huge size may be a decompression bomb)",
    )


def open_image(path: Path) -> Image.Image:
    """Open an image (its header only), refusing one of more than MAX_PIXELS pixels."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _too_large(path, str(exc).rstrip(".")) from None
    if img.width * img.height > MAX_PIXELS:
        img.close()
        raise _too_large(path, f"{img.width}×{img.height} pixels")
    return img


def _read(path: Path, mode: str, size: int | None) -> np.ndarray:
    """One image as a uint8 (H, W, C) array."""
    try:
        with open_image(path) as opened:
            img = opened.convert(mode)
            if size is not None:
                img = img.resize((size, size), Image.Resampling.BILINEAR)
            return np.asarray(img).reshape(img.height, img.width, -1)
    except OSError as exc:
        raise GentkError(f"cannot read image {path}: {exc}", hint="remove or replace the file") from None


def decode(files: list[Path], mode: str, size: int | None, hw: tuple[int, int]) -> torch.Tensor:
    """Decode images to a uint8 tensor (N, C, H, W); every image must be `hw` = (H, W)."""
    arrays = []
    for f in track(files, "reading images", unit="image"):
        a = _read(f, mode, size)
        if a.shape[:2] != hw:
            raise GentkError(
                f"{f} is {a.shape[1]}×{a.shape[0]} pixels, the others {hw[1]}×{hw[0]}",
                hint="set data.size to resize every image to size×size",
            )
        arrays.append(a)
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
        try:
            with open_image(files[0]) as first:
                hw = (first.height, first.width)
        except OSError as exc:
            raise GentkError(f"cannot read image {files[0]}: {exc}", hint="remove or replace the file") from None
    indices = held_out(len(files), cfg.test_fraction, cfg.seed)

    def load(split: str) -> Split:
        idx = indices[split][: cfg.limit]
        return Split(decode([files[i] for i in idx], mode, cfg.size, hw), labels[idx])

    info = DataInfo(shape=(1 if cfg.grayscale else 3, *hw), num_classes=len(classes), binarized=cfg.binarize)
    return InMemoryDataset(info, load, tuple(classes))
