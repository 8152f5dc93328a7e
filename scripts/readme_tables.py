"""Regenerate README.md's tables of bundled recipes and components from the recipes and registries.

    python scripts/readme_tables.py          # rewrite README.md
    python scripts/readme_tables.py --check  # exit 1 if README.md is out of date
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARKERS = {"recipes": "RECIPE_TABLE", "components": "COMPONENT_TABLE"}


def recipe_table() -> str:
    from gentk.catalog import recipes
    from gentk.recipe import load_recipe
    from gentk.registry import CORE

    rows = ["| recipe | model | data | what it does |", "|---|---|---|---|"]
    for entry in recipes():
        if entry.plugin == CORE:
            recipe = load_recipe(entry.path())
            rows.append(f"| `{entry.name}` | {recipe.model.name} | {recipe.data.name} | {recipe.description} |")
    return "\n".join(rows)


def component_table() -> str:
    from gentk.registry import get_plugins

    rows = ["| kind | name | plugin | summary |", "|---|---|---|---|"]
    for c in sorted(get_plugins().components(), key=lambda c: (c.kind, c.name)):
        rows.append(f"| {c.kind} | `{c.name}` | {c.plugin} | {c.summary} |")
    return "\n".join(rows)


def render(text: str) -> str:
    for name, table in (("recipes", recipe_table), ("components", component_table)):
        start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
        if start in text:
            head, rest = text.split(start, 1)
            _, tail = rest.split(end, 1)
            text = f"{head}{start}\n{table()}\n{end}{tail}"
        else:
            text = text.replace(MARKERS[name], f"{start}\n{table()}\n{end}")
    return text


def main() -> int:
    readme = ROOT / "README.md"
    current = readme.read_text()
    updated = render(current)
    if "--check" in sys.argv:
        return int(updated != current)
    readme.write_text(updated)
    return 0


if __name__ == "__main__":
    sys.exit(main())
