"""Shared by the scripts that write parts of the docs from the code."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path


def between_markers(text: str, name: str, body: str) -> str:
    """`text` with what stands between `<!-- name -->` and `<!-- /name -->` replaced by `body`."""
    start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}{end}{tail}"


def sync(path: Path, render: Callable[[str], str]) -> int:
    """Rewrite `path` with `render`, or with --check only say (exit 1) whether it is out of date."""
    current = path.read_text()
    updated = render(current)
    if "--check" in sys.argv:
        return int(updated != current)
    path.write_text(updated)
    return 0
