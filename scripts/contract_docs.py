"""Regenerate CONTRIBUTING.md's reference of kinds and protocols from the code that defines them.

python scripts/contract_docs.py          # rewrite CONTRIBUTING.md
python scripts/contract_docs.py --check  # exit 1 if CONTRIBUTING.md is out of date
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path
from typing import Any

from generated_docs import between_markers, sync  # scripts/ is on the path when run as a script

ROOT = Path(__file__).resolve().parents[1]


def members(protocol: Any) -> list[str]:
    """One line per attribute or method a protocol declares, with its annotation or signature."""
    from gentk.registry import protocol_members

    lines = []
    for name in protocol_members(protocol):
        owner = next(c for c in protocol.__mro__ if name in vars(c) or name in getattr(c, "__annotations__", {}))
        value = vars(owner).get(name)
        if callable(value):
            signature = str(inspect.signature(value)).replace("'", "")
            doc = inspect.cleandoc(value.__doc__ or "")  # its own doc, not object.__call__'s
            lines.append(f"- `{name}{signature}`" + (f": {' '.join(doc.split())}" if doc else ""))
        else:
            annotation = owner.__annotations__[name]
            lines.append(f"- `{name}: {annotation if isinstance(annotation, str) else annotation.__name__}`")
    return lines


def section(protocol: Any, heading: str) -> list[str]:
    doc = inspect.cleandoc(protocol.__doc__ or "")
    return [heading, "", doc, "", *members(protocol), ""]


def reference() -> str:
    from gentk.families import density, diffusion, gan, vae
    from gentk.kinds import BUNDLED

    out = ["### Kinds", ""]
    kind_protocols = set()
    for kind in BUNDLED.values():
        kind_protocols.add(kind.protocol)
        name = kind.protocol.__name__
        out += section(kind.protocol, f"#### `{kind.name}`: `{kind.factory}` ({kind.protocol.__module__}.{name})")
    out += ["### Family protocols (declare them with `provides=`, ask for them with `accepts=`)", ""]
    for module in (vae, gan, diffusion, density):
        for name, obj in vars(module).items():
            if getattr(obj, "_is_runtime_protocol", False) and obj.__module__ == module.__name__:
                if obj not in kind_protocols:
                    out += section(obj, f"#### `{module.__name__}.{name}`")
    return "\n".join(out).rstrip() + "\n"


def render(text: str) -> str:
    return between_markers(text, "protocols", reference())


def main() -> int:
    return sync(ROOT / "CONTRIBUTING.md", render)


if __name__ == "__main__":
    sys.exit(main())
