"""Every bundled recipe resolves, and the README lists every one of them."""

from pathlib import Path

import pytest

from gentk.recipe import load_recipe

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted((ROOT / "recipes").glob("*.toml"))


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_recipe_resolves_and_describes_itself(path):
    recipe = load_recipe(path)
    assert recipe.description, f"{path.name} has no description"


def test_readme_lists_every_recipe():
    readme = (ROOT / "README.md").read_text()
    missing = [p.stem for p in RECIPES if f"`{p.stem}`" not in readme]
    assert not missing, f"README's recipe table lacks {missing}"


def test_readme_tables_are_current():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "readme_tables.py"), "--check"], timeout=120)
    assert done.returncode == 0, "run python scripts/readme_tables.py"
