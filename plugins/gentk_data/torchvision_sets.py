"""MNIST, Fashion-MNIST and CIFAR-10 through torchvision's own download and parsing code, kept
as uint8 tensors (no per-image transforms)."""

import os
import tarfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import attrs
import torch
from einops import rearrange
from torchvision import datasets
from torchvision.datasets.utils import extract_archive

from gentk.errors import GentkError
from gentk.interfaces import DataInfo, Split
from gentk.progress import track
from gentk_data.base import InMemoryDataset, take
from gentk_data.configs import DATA_ENV, CIFAR10Config, DownloadConfig, FashionMNISTConfig, MNISTConfig


def data_root(root: str | None) -> Path:
    """The cache folder: `root`, else $GENTK_DATA, else ~/.cache/gentk/data."""
    chosen = root or os.environ.get(DATA_ENV) or "~/.cache/gentk/data"
    return Path(chosen).expanduser().absolute()


def _idx_archives(cls: type[datasets.MNIST]) -> Callable[[Path], list[tuple[Path, Path]]]:
    """(Fashion-)MNIST: the four IDX .gz files in `root/<Class>/raw/`, each unpacking next to itself."""

    def archives(root: Path) -> list[tuple[Path, Path]]:
        raw = root / cls.__name__ / "raw"
        return [(raw / name, raw / name.removesuffix(".gz")) for name, _ in cls.resources]

    return archives


def _tar_archive(cls: type[datasets.CIFAR10]) -> Callable[[Path], list[tuple[Path, Path]]]:
    """CIFAR: one .tar.gz in `root/` that unpacks to a folder beside it."""
    return lambda root: [(root / cls.filename, root / cls.base_folder)]


@attrs.frozen
class Source:
    """How one torchvision dataset is stored and how its `.data` maps to (N, C, H, W)."""

    title: str
    cls: type[datasets.MNIST] | type[datasets.CIFAR10]
    shape: tuple[int, int, int]
    layout: str  # einops pattern: torchvision's `.data` -> (N, C, H, W)
    archives: Callable[[Path], list[tuple[Path, Path]]]  # root -> [(archive, what it unpacks to)]
    classes: tuple[str, ...]  # class names, in label order


MNIST = Source(
    "MNIST",
    datasets.MNIST,
    (1, 28, 28),
    "n h w -> n 1 h w",
    _idx_archives(datasets.MNIST),
    tuple(datasets.MNIST.classes),
)
FASHION_MNIST = Source(
    "Fashion-MNIST",
    datasets.FashionMNIST,
    (1, 28, 28),
    "n h w -> n 1 h w",
    _idx_archives(datasets.FashionMNIST),
    tuple(datasets.FashionMNIST.classes),
)
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
"""CIFAR-10's class names in label order (torchvision reads them from the unpacked files only)."""
CIFAR10 = Source(
    "CIFAR-10",
    datasets.CIFAR10,
    (3, 32, 32),
    "n h w c -> n c h w",
    _tar_archive(datasets.CIFAR10),
    CIFAR10_CLASSES,
)


def _unpack_placed(source: Source, root: Path) -> None:
    """Unpack archives placed by hand: torchvision only unpacks what its download step fetched.
    Tar archives are unpacked by `safe_extract`, which refuses members outside the folder."""
    for archive, unpacked in source.archives(root):
        if archive.is_file() and not unpacked.exists():
            try:
                if tarfile.is_tarfile(archive):
                    safe_extract(archive, archive.parent)
                else:  # a .gz of one file, unpacked next to itself
                    extract_archive(str(archive), str(archive.parent))
            except (OSError, EOFError, ValueError, tarfile.TarError) as exc:
                raise GentkError(
                    f"could not unpack {archive}: {exc}", hint="the file is damaged; delete it and place a good copy"
                ) from None


def _unsafe(member: tarfile.TarInfo) -> str | None:
    """Why a member would write outside the folder it is unpacked into (None: it would not)."""
    name = PurePosixPath(member.name)
    if name.is_absolute() or member.name.startswith(("/", "\\")) or ":" in (name.parts or ("",))[0]:
        return "has an absolute path"
    if ".." in name.parts:
        return "climbs out with '..'"
    if member.issym() or member.islnk():
        target = PurePosixPath(member.linkname)
        # a symbolic link is relative to its own folder, a hard link to the archive's root
        inside = (name.parent if member.issym() else PurePosixPath()) / target
        if target.is_absolute() or member.linkname.startswith("\\") or _climbs_out(inside):
            return f"links to {member.linkname!r}, outside the folder"
    elif not (member.isfile() or member.isdir()):
        return "is a device or other special file"
    return None


def _climbs_out(path: PurePosixPath) -> bool:
    depth = 0
    for part in path.parts:
        depth += -1 if part == ".." else 0 if part in ("", ".") else 1
        if depth < 0:
            return True
    return False


_FILTER_ERRORS: tuple[type[Exception], ...] = (tarfile.FilterError,) if hasattr(tarfile, "FilterError") else ()


def safe_extract(archive: Path, dest: Path) -> None:
    """Unpack a tar archive into `dest`, refusing (before writing anything) members with an
    absolute path, a `..` component, a link out of `dest` or a special file; with Python's "data"
    extraction filter as a second guard where it exists (Python 3.11.4+)."""
    hint = "this is not a genuine download; delete it and place a good copy"
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        for member in members:
            why = _unsafe(member)
            if why is not None:
                raise GentkError(f"refusing to unpack {archive}: member {member.name!r} {why}", hint=hint)
        for member in track(members, f"unpacking {archive.name}", unit="file"):
            try:
                if hasattr(tarfile, "data_filter"):
                    tar.extract(member, dest, filter="data")
                else:  # pragma: no cover - Python before 3.11.4; the checks above stand alone
                    tar.extract(member, dest)
            except _FILTER_ERRORS as exc:
                raise GentkError(f"refusing to unpack {archive}: member {member.name!r}: {exc}", hint=hint) from None


def _not_found(source: Source, root: Path, downloading: bool, cause: Exception) -> GentkError:
    archives = source.archives(root)
    missing = [a.name for a, unpacked in archives if not a.exists() and not unpacked.exists()]
    folder = archives[0][0].parent
    if downloading:
        why = " ".join(str(cause).split())[:300] or type(cause).__name__
        message = f"{source.title} is not in {folder} and the download failed: {why}"
    else:
        message = f"{source.title} files are missing or damaged in {folder} (and download = false)"
    listed = ", ".join(missing or [a.name for a, _ in archives])
    layout = Path("<R>") / folder.relative_to(root)
    return GentkError(
        message,
        hint=f"without internet, place {listed} (as downloaded, or unpacked) in {folder}/; "
        f"or set data.root (or ${DATA_ENV}) to a folder <R> that holds them in {layout}/",
    )


def _load(source: Source, cfg: DownloadConfig, split: str) -> Split:
    root = data_root(cfg.root)
    _unpack_placed(source, root)
    try:
        tv = source.cls(str(root), train=split == "train", download=cfg.download)
    except (RuntimeError, OSError) as exc:  # URLError is an OSError
        raise _not_found(source, root, cfg.download, exc) from None
    y = torch.as_tensor(tv.targets, dtype=torch.int64)  # (N,)
    x = rearrange(torch.as_tensor(tv.data), source.layout)  # (N, C, H, W) uint8
    kept = take(Split(x, y), cfg.limit)
    return Split(kept.x.contiguous(), kept.y)


def _dataset(source: Source, cfg: DownloadConfig) -> InMemoryDataset:
    info = DataInfo(shape=source.shape, num_classes=len(source.classes), kind="image", binarized=cfg.binarize)
    return InMemoryDataset(info, lambda split: _load(source, cfg, split), source.classes)


def mnist(cfg: MNISTConfig) -> InMemoryDataset:
    return _dataset(MNIST, cfg)


def fashion_mnist(cfg: FashionMNISTConfig) -> InMemoryDataset:
    return _dataset(FASHION_MNIST, cfg)


def cifar10(cfg: CIFAR10Config) -> InMemoryDataset:
    return _dataset(CIFAR10, cfg)
