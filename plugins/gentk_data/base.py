"""The in-memory dataset every bundled loader returns."""

from collections.abc import Callable

from gentk.errors import GentkError
from gentk.interfaces import DataInfo, Split
from gentk.progress import phase

SPLITS = ("train", "test")


class InMemoryDataset:
    """A dataset whose splits are loaded by `load(name)` on first use and then kept in memory."""

    def __init__(self, info: DataInfo, load: Callable[[str], Split], classes: tuple[str, ...] = ()):
        self.info = info
        self.classes = tuple(classes)  # class names, in label order
        self._load = load
        self._splits: dict[str, Split] = {}

    def split(self, name: str) -> Split:
        if name not in SPLITS:
            raise GentkError(f"no split named {name!r}", hint=f"splits: {', '.join(SPLITS)}")
        if name not in self._splits:
            with phase(f"loading the {name} split"):
                self._splits[name] = self._load(name)
        return self._splits[name]


def take(split: Split, limit: int | None) -> Split:
    """The first `limit` examples of a split (copied, so the full tensors can be freed)."""
    if limit is None or limit >= len(split):
        return split
    y = None if split.y is None else split.y[:limit].clone()
    return Split(split.x[:limit].clone(), y)
