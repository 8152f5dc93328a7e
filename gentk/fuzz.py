"""Hostile mutations of recipes: values of the wrong type, out of range or non-finite, deleted
and unknown keys, other components, deep nesting, plausible perturbations.

`gentk check` must answer every mutation with an accepted recipe or a problem naming its key,
never a traceback. gentk's tests (tests/core/test_fuzz.py) and the fault campaign
(benchmarks/faults.py) draw their mutations here; a plugin can fuzz its own recipes the same way:

    full = to_data(load_recipe(path))              # every default written out
    data, what = mutate(full, random.Random(0), names_by_kind())
"""

from __future__ import annotations

import copy
import random
from typing import Any

INF, NAN = float("inf"), float("nan")
# fmt: off
INTS: list[Any] = [0, -1, 1, 2, 3, 7, 64, 10**6, 10**30, 2**63, 2**64, -(2**70), 1.5, "3", True, [1], {"a": 1}, INF]
FLOATS: list[Any] = [0.0, -1.0, 1e-12, 1e-3, 0.5, 0.999, 1.0, 2.0, 10.0, 1e10, 1e38, 1e308, INF, -INF, NAN, "x", True,
                     3]
STRINGS: list[Any] = ["", "meta", "cpu", "cuda:0", "x" * 2000, "auto", "../../etc/passwd", "ring", "nll/nll", "10m",
                      "0m", "-5", 3, 1.5, True, [], "\u0000", "é", "bf16", "fp16", "min", "max"]
LISTS: list[Any] = [[], [0], [-1], [10**30], [1, 2, 3] * 30, [[1]], [0.9], [0.9, 1.5], [0.9, 0.999, 0.5], ["a"], 5,
                    [NAN], [INF, 0.5], [-0.1, 0.9], [1, 2], [2**40]]
TABLES: list[Any] = [5, "nope", [], {}, {"use": 3}, {"use": "nope"}, {"use": ["a"]}, [{"use": "adam"}], True,
                     {"use": ""}]
# fmt: on
_DELETE = object()


def leaves(data: Any, path: tuple = ()) -> list[tuple[tuple, Any]]:
    """(path, value) of every key of a recipe, tables and arrays of tables included."""
    found = [(path, data)] if path else []
    if isinstance(data, dict):
        for key, value in data.items():
            found += leaves(value, path + (key,))
    elif isinstance(data, list) and all(isinstance(v, dict) for v in data):
        for i, value in enumerate(data):
            found += leaves(value, path + (i,))
    return found


def set_at(data: Any, path: tuple, value: Any) -> None:
    target = data
    for part in path[:-1]:
        target = target[part]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value


def nested(depth: int) -> Any:
    value: Any = 1
    for i in range(depth):
        value = {"k": value} if i % 2 else [value]
    return value


def perturb(value: Any, rng: random.Random) -> Any:
    """A plausible change of the same type (more of these pass `check`, to be tried at run time)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return rng.choice([0, 1, value + 1, value - 1, value * 2, value * 10, value // 2, -value, value * 1000, 2**31])
    if isinstance(value, float):
        return value * rng.choice([0.0, 0.1, 0.5, 2.0, 10.0, 1e3, 1e6, -1.0])
    if isinstance(value, list) and value and all(isinstance(x, int | float) and not isinstance(x, bool) for x in value):
        out = list(value)
        op = rng.choice(["drop", "dup", "change", "zero"])
        if op == "drop":
            out.pop(rng.randrange(len(out)))
        elif op == "dup":
            out.append(out[-1])
        elif op == "change":
            j = rng.randrange(len(out))
            out[j] = perturb(out[j], rng)
        else:
            out = [type(x)(0) for x in out]
        return out
    return value


def hostile_for(value: Any, key: Any, rng: random.Random, names: list[str]) -> Any:
    if key == "use":
        return rng.choice([*names, 3, "", "nope", ["vae"], {"use": "vae"}, True])
    if isinstance(value, bool):
        return rng.choice([1, "true", 0, [True]])
    if isinstance(value, int):
        return rng.choice(INTS)
    if isinstance(value, float):
        return rng.choice(FLOATS)
    if isinstance(value, str):
        return rng.choice(STRINGS)
    if isinstance(value, list):
        return rng.choice(LISTS + ([[]] if all(isinstance(v, dict) for v in value) else []))
    if isinstance(value, dict):
        return rng.choice(TABLES)
    return rng.choice(INTS)


def names_by_kind() -> dict[str, list[str]]:
    """The installed components' names, by kind."""
    from gentk.registry import get_plugins

    found: dict[str, list[str]] = {}
    for c in get_plugins().components():
        found.setdefault(c.kind, []).append(c.name)
    return found


def mutate(full: dict[str, Any], rng: random.Random, components: dict[str, list[str]]) -> tuple[dict, str]:
    """One mutation of a full recipe (every default written out) and a line saying what it is;
    `components` (names by kind) supplies the other components a mutation may name."""
    names = sorted({n for kind_names in components.values() for n in kind_names})
    data = copy.deepcopy(full)
    path, value = rng.choice(leaves(data))
    op = rng.choices(
        ["replace", "perturb", "delete", "unknown", "deep", "swap", "replace2"], weights=[8, 6, 2, 1, 1, 2, 2]
    )[0]
    if op == "delete":
        set_at(data, path, _DELETE)
        return data, f"delete {path}"
    if op == "unknown":
        tables = [p for p, v in leaves(data) if isinstance(v, dict)] + [()]
        where = rng.choice(tables)
        set_at(data, where + ("surprise",), rng.choice(INTS + STRINGS))
        return data, f"unknown key at {where}"
    if op == "deep":
        set_at(data, path, nested(rng.choice([9, 20, 60, 300])))
        return data, f"deep nesting at {path}"
    if op == "swap":  # another component of the same kind where the recipe names one
        uses = [p for p, v in leaves(data) if p[-1] == "use" and isinstance(v, str)]
        if uses:
            where = rng.choice(uses)
            kind_names = next((ns for ns in components.values() if get_at(data, where) in ns), names)
            new = rng.choice(kind_names)
            set_at(data, where, new)
            return data, f"swap {where} = {new!r}"
    if op == "perturb":
        new = perturb(value, rng)
        set_at(data, path, new)
        return data, f"perturb {path} = {new!r:.60}"
    new = hostile_for(value, path[-1], rng, names)
    set_at(data, path, new)
    what = f"{path} = {new!r:.60}"
    if op == "replace2":  # a second change, so that checks across fields meet odd pairs
        path2, value2 = rng.choice(leaves(data))
        new2 = perturb(value2, rng) if rng.random() < 0.5 else hostile_for(value2, path2[-1], rng, names)
        set_at(data, path2, new2)
        what += f"; {path2} = {new2!r:.40}"
    return data, what


def get_at(data: Any, path: tuple) -> Any:
    for part in path:
        data = data[part]
    return data
