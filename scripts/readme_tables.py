"""Regenerate README.md's tables of bundled recipes and components from the recipes and registries.

python scripts/readme_tables.py          # rewrite README.md
python scripts/readme_tables.py --check  # exit 1 if README.md is out of date
"""

from __future__ import annotations

import sys
from pathlib import Path

from generated_docs import between_markers, sync  # scripts/ is on the path when run as a script

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
        if f"<!-- {name} -->" not in text:
            text = text.replace(MARKERS[name], f"<!-- {name} -->\n<!-- /{name} -->")
        text = between_markers(text, name, f"{table()}\n")
    return text


def main() -> int:
    return sync(ROOT / "README.md", render)


if __name__ == "__main__":
    sys.exit(main())
