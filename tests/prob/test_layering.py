"""The prob plugin stands on the core alone: what it knows of the toy data comes from gentk.prob."""

import ast
from pathlib import Path

import gentk_prob

PLUGIN = Path(gentk_prob.__file__).parent


def imported_modules(path: Path) -> set[str]:
    """Every module an `import` or `from ... import` statement in the file names (at any depth,
    lazy imports inside functions included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_the_prob_plugin_imports_nothing_from_the_data_plugin():
    """gentk_prob must not import gentk_data internals (it once took the toy mixtures' centres from
    gentk_data.toy2d, so installing gentk_prob without gentk_data broke its models and metrics).
    Catches any such import, lazy ones inside functions included."""
    files = sorted(PLUGIN.glob("*.py"))
    assert len(files) >= 5  # the scan sees the plugin's modules
    offending = {
        f"{path.name}: {module}"
        for path in files
        for module in imported_modules(path)
        if module == "gentk_data" or module.startswith("gentk_data.")
    }
    assert not offending, offending
