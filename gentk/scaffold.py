"""`gentk new-plugin NAME`: write a working plugin package to start from.

The package `gentk-NAME/` holds one model (a diagonal Gaussian), one recipe that trains it, and
tests that run gentk's plugin kit (`gentk.testing`) on it; they pass as written, before the
package is installed. The files are rendered from `gentk/templates/plugin/`.
"""

from __future__ import annotations

import importlib.util
import keyword
import re
from importlib import resources
from pathlib import Path

from gentk.errors import GentkError

TEMPLATES = "templates/plugin"
FILES = {
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
    "package/__init__.py.tmpl": "{package}/__init__.py",
    "package/plugin.py.tmpl": "{package}/plugin.py",
    "package/configs.py.tmpl": "{package}/configs.py",
    "package/components.py.tmpl": "{package}/components.py",
    "package/recipes/recipe.toml.tmpl": "{package}/recipes/{name}_ring.toml",
    "tests/test_plugin.py.tmpl": "tests/test_plugin.py",
}
"""Template (under gentk/templates/plugin) -> the file it becomes in the new package."""

_NAME = re.compile(r"[a-z][a-z0-9_]*")


def new_plugin(name: str, dest: str | Path = ".") -> Path:
    """Write the plugin package `dest/gentk-NAME/` (module `gentk_NAME`, entry point NAME) and
    return its folder. NAME is a lower-case Python identifier; the folder must not exist."""
    if not _NAME.fullmatch(name) or keyword.iskeyword(name) or name.endswith("_"):
        raise GentkError(
            f"{name!r} is not a plugin name",
            hint="use lower-case letters, digits and underscores, starting with a letter (e.g. my_flows)",
        )
    package = f"gentk_{name}"
    dist = f"gentk-{name.replace('_', '-')}"
    if importlib.util.find_spec(package) is not None:
        raise GentkError(f"a module named {package} is already importable", hint="choose another plugin name")
    root = Path(dest) / dist
    if root.exists():
        raise GentkError(f"{root} already exists", hint="choose another name, or another folder with --dest")
    values = {
        "name": name,
        "Name": "".join(part.capitalize() for part in name.split("_")),
        "package": package,
        "dist": dist,
    }
    templates = resources.files("gentk").joinpath(TEMPLATES)
    for template, target in FILES.items():
        text = templates.joinpath(template).read_text(encoding="utf-8")
        for key, value in values.items():
            text = text.replace("{{" + key + "}}", value)
        path = root / target.format(**values)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root
