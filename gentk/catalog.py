"""The recipe catalog: the recipes gentk bundles and those plugins ship, found by name.

gentk's own recipes are package data (`gentk/recipes/*.toml`, listed as plugin "gentk"); a
plugin adds a folder of recipes with the `gentk_register_recipes` hook. A recipe's name is its
file name without `.toml`. `gentk run vae_toy` finds the bundled `vae_toy.toml` from any
directory; `PLUGIN:NAME` picks a plugin's recipe when two share a name (a bare name means the
first in the listing: the bundled recipes, then the plugins in load order).
"""

from __future__ import annotations

import atexit
import difflib
import tomllib
from contextlib import ExitStack
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import attrs

from gentk.errors import GentkError
from gentk.registry import CORE, Plugins, get_plugins

SUFFIX = ".toml"

_extracted = ExitStack()
"""Recipes extracted to temporary files (packages installed as zip files); removed at exit."""
atexit.register(_extracted.close)


@attrs.frozen
class RecipeEntry:
    """One recipe of the catalog."""

    name: str
    plugin: str
    source: Traversable
    description: str
    shadowed: bool = False
    """Another plugin's recipe of the same name comes first, so only `plugin:name` finds this one."""

    @property
    def qualified(self) -> str:
        return f"{self.plugin}:{self.name}"

    @property
    def ref(self) -> str:
        """The shortest argument of `gentk run` that finds this recipe."""
        return self.qualified if self.shadowed else self.name

    def path(self) -> Path:
        """A file system path to the recipe (extracted to a temporary file when needed)."""
        if isinstance(self.source, Path):
            return self.source
        return _extracted.enter_context(resources.as_file(self.source))


def bundled_folder() -> Traversable:
    """gentk's own recipes."""
    return resources.files("gentk") / "recipes"


def recipes(plugins: Plugins | None = None) -> list[RecipeEntry]:
    """Every recipe: the bundled ones (plugin "gentk"), then each plugin's, by name within a folder."""
    plugins = plugins if plugins is not None else get_plugins()
    entries: list[RecipeEntry] = []
    seen: set[str] = set()
    for plugin, folder in [(CORE, bundled_folder()), *plugins.recipe_folders]:
        for source in _recipe_files(folder):
            name = source.name[: -len(SUFFIX)]
            entries.append(RecipeEntry(name, plugin, source, _description(source), shadowed=name in seen))
            seen.add(name)
    return entries


def find_recipe(arg: str | Path, plugins: Plugins | None = None) -> Path:
    """The recipe file `arg` means: an existing file as is; a name (`vae_toy`) or `PLUGIN:NAME`
    from the catalog; any other path unchanged (reading it reports a missing file)."""
    text = str(arg)
    if Path(text).is_file():
        return Path(text)
    if not _is_name(text):
        if text.endswith(SUFFIX):  # e.g. `recipes/vae_toy.toml` outside a checkout
            stem = Path(text).stem
            match = next((e for e in recipes(plugins) if e.name == stem), None)
            if match is not None:
                raise GentkError(
                    "recipe file not found",
                    file=text,
                    hint=f"a recipe of that name is installed: give its name, {match.ref!r}, instead of a path",
                )
        return Path(text)
    plugin, _, name = text.rpartition(":")
    if not plugin:  # the bundled recipes come first: no need to load plugins to find them
        bundled = bundled_folder() / (name + SUFFIX)
        if bundled.is_file():
            return RecipeEntry(name, CORE, bundled, "").path()
    entries = recipes(plugins)
    for entry in entries:
        if entry.name == name and (entry.plugin == plugin if plugin else not entry.shadowed):
            return entry.path()
    raise _unknown(text, entries)


def _is_name(text: str) -> bool:
    """`NAME` or `PLUGIN:NAME`: no folder and no file suffix."""
    if "/" in text or "\\" in text or text.count(":") > 1:
        return False
    name = text.rpartition(":")[2]
    return bool(name) and not Path(name).suffix


def _recipe_files(folder: Traversable | str | Path) -> list[Traversable]:
    folder = Path(folder) if isinstance(folder, str | Path) else folder
    if not folder.is_dir():
        return []
    return sorted((f for f in folder.iterdir() if f.name.endswith(SUFFIX) and f.is_file()), key=lambda f: f.name)


def _description(source: Traversable) -> str:
    """The recipe's top-level `description` (empty when it has none or cannot be read)."""
    try:
        description = tomllib.loads(source.read_text(encoding="utf-8")).get("description", "")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return f"(cannot be read: {type(exc).__name__})"
    return description if isinstance(description, str) else ""


def _unknown(text: str, entries: list[RecipeEntry]) -> GentkError:
    plugin, _, name = text.rpartition(":")
    owners = sorted({e.plugin for e in entries})
    if plugin and plugin not in owners:
        problem = f"no plugin {plugin!r} ships recipes (those that do: {', '.join(owners)})"
        refs = sorted({e.qualified for e in entries if e.name == name})
    else:
        problem = f"no recipe named {text!r} and no such file"
        refs = sorted({e.qualified if plugin else e.ref for e in entries})
        refs = difflib.get_close_matches(text, refs, n=4, cutoff=0.5)
    guess = f"did you mean {', '.join(refs)}? " if refs else ""
    return GentkError(problem, hint=f"{guess}`gentk recipes` lists the recipes; a path runs a recipe file")
