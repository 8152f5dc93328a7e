"""A recipe fuzz: mutations of every bundled recipe and hostile `--set` values through `gentk check`.

Catches: a hostile value that `gentk check` answers with a traceback or an `unexpected error`
instead of a problem naming its key (a non-string `use`, deep nesting, `--set metrics.0=1`, a
short `betas`, non-finite numbers); a check that hangs on a huge value; and a recipe that `check`
accepts but that then fails while its data and model are built. The mutations come from a
fixed seed, so every run checks the same several hundred recipes.
"""

from __future__ import annotations

import copy
import random
import time
from pathlib import Path
from typing import Any

import pytest
import tomli_w
import torch

from gentk.catalog import recipes
from gentk.cli import main
from gentk.errors import ComponentError, GentkError, PluginError
from gentk.recipe import load_recipe, to_data
from gentk.registry import get_plugins

SEED = 20240613
MUTATIONS_PER_RECIPE = 16
BUILT = 20  # accepted toy2d mutations whose data and model are built
SLOW = 5.0  # seconds one `gentk check` may take

INTS = [0, -1, 1, 2, 3, 7, 10**30, 2**63, 2**64, -(2**70), 1.5, "3", True, [1], {"a": 1}, float("inf")]
FLOATS = [0.0, -1.0, 1e-3, 0.5, 0.9, 1.0, 2.0, 1e38, 1e308, float("inf"), -float("inf"), float("nan"), "x", True]
STRINGS = ["", "meta", "cuda:0", "x" * 2000, "auto", "../../etc", "ring", "nll/nll", "10m", 3, None]
LISTS = [[], [0], [-1], [10**30], [1, 2, 3] * 30, [[1]], [0.9], [0.9, 1.5], ["a"], 5, [float("nan")]]
TABLES = [5, "nope", [], {}, {"use": 3}, {"use": "nope"}, {"use": ["a"]}, [{"use": "adam"}], True]
UNITS = [True, False, 1, "true"]

HOSTILE_SETS = [
    "metrics.0=1",
    "metrics.0.use=1",
    "metrics.0.use=nll",
    "metrics.9.use=nll",
    "metrics=1",
    "metrics=[1]",
    "metrics=[{use=3}]",
    "metrics=[{}]",
    "metrics={use='nll'}",
    "run=1",
    "run.seed=18446744073709551616",
    "run.seed=-1",
    "run.threads=100000",
    "run.epochs=1e999",
    "run.epochs=nan",
    "run.device=meta",
    "run.device=cuda:x",
    "run.steps_per_epoch=0",
    "run.steps_per_epoch=-3",
    "run.batch_size=1000000000000000000000000000000",
    "run.checkpoint_every=0",
    "run.checkpoint_every=10x",
    "run.max_loss=inf",
    "run.seed.x=1",
    "model=1",
    "model.use=3",
    "model.use=[]",
    "model.use={}",
    "model.use.x=1",
    "model.use=nope",
    "model.optimizer.lr=1e38",
    "model.optimizer.betas=[0.9]",
    "model.optimizer.betas=[0.9, 1.0]",
    "model.optimizer.betas=[0.9, 0.99, 0.999]",
    "model.optimizer={use='sgd', lr=1e-3}",
    "model.optimizer.use=rmsprop",
    "data=3",
    "data.use=image_folder",
    "data={use='image_folder', path='/no/such/folder'}",
    "data.n_train=1000000000000000000000000000000",
    "data.seed=18446744073709551615",
    "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t=1",
    "run.x=" + "{a=" * 20 + "1" + "}" * 20,
    "run.x=" + "[" * 3000 + "]" * 3000,
    "=1",
    ".=1",
    "..=1",
    "run.=1",
    "no-equals-sign",
    "run.epochs=",
    "description=[1]",
    "description=2024-01-01",
    "run.epochs=2024-01-01T00:00:00",
]
DIFFUSION_SETS = [
    "model.sampler.steps=-1",
    "model.sampler.steps=100000",
    "model.sampler={use='ddim', steps=20}",
    "model.sampler.use=ddim",
    "model.sampler={use='ddim', eta=inf}",
    "model.sampler.use=langevin",
    "model.trajectory_steps=[-1]",
    "model.trajectory_steps=[]",
    "model.guidance=1e308",
    "model.guidance=2",
    "model.schedule.num_steps=1000000000000000000000000000000",
    "model.schedule={use='linear', beta_start=0.5, beta_end=0.1}",
    "model.schedule.beta_end=1.5",
    "model.denoiser.num_res_blocks=1000000000000000000000000000000",
    "model.denoiser.channel_mult=[]",
    "model.denoiser.channel_mult=[1000000]",
    "model.denoiser.norm_groups=7",
    "metrics=[{use='nll'}]",
    "metrics=[{use='log_likelihood'}]",
]


def gentk(capsys, *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return code, out.out, out.err


def leaves(data: Any, path: tuple = ()) -> list[tuple[tuple, Any]]:
    """(path, value) of every key of a recipe, tables and arrays included."""
    found = [(path, data)] if path else []
    if isinstance(data, dict):
        for key, value in data.items():
            found += leaves(value, path + (key,))
    elif isinstance(data, list) and all(isinstance(v, dict) for v in data):
        for i, value in enumerate(data):
            found += leaves(value, path + (i,))
    return found


def set_at(data: dict, path: tuple, value: Any) -> None:
    target = data
    for part in path[:-1]:
        target = target[part]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value


_DELETE = object()


def component_names() -> list[str]:
    return sorted({c.name for c in get_plugins().components()})


def hostile_for(value: Any, key: Any, rng: random.Random, names: list[str]) -> Any:
    """A replacement for `value`: a value of the wrong type, out of range, non-finite, another
    component, or a plausible value that may be accepted."""
    if key == "use":
        return rng.choice([*names, 3, "", "nope", ["vae"], {"use": "vae"}, True])
    if isinstance(value, bool):
        return rng.choice(UNITS)
    if isinstance(value, int):
        return rng.choice(INTS)
    if isinstance(value, float):
        return rng.choice(FLOATS)
    if isinstance(value, str):
        return rng.choice([s for s in STRINGS if s is not None])
    if isinstance(value, list):
        return rng.choice(LISTS + ([[]] if all(isinstance(v, dict) for v in value) else []))
    if isinstance(value, dict):
        return rng.choice(TABLES)
    return rng.choice(INTS)


def nested(depth: int) -> Any:
    value: Any = 1
    for i in range(depth):
        value = {"k": value} if i % 2 else [value]
    return value


def mutate(data: dict, rng: random.Random, names: list[str]) -> tuple[dict, str]:
    """One mutation of a full recipe (every default written out) and a line saying what it is."""
    data = copy.deepcopy(data)
    path, value = rng.choice(leaves(data))
    op = rng.choices(["replace", "delete", "unknown", "deep", "replace2"], weights=[10, 2, 1, 1, 2])[0]
    if op == "delete":
        set_at(data, path, _DELETE)
        return data, f"delete {path}"
    if op == "unknown":
        table_paths = [p for p, v in leaves(data) if isinstance(v, dict)] + [()]
        where = rng.choice(table_paths)
        set_at(data, where + ("surprise",), rng.choice(INTS + STRINGS[:-1]))
        return data, f"unknown key at {where}"
    if op == "deep":
        set_at(data, path, nested(rng.choice([9, 20, 60])))
        return data, f"deep nesting at {path}"
    new = hostile_for(value, path[-1], rng, names)
    set_at(data, path, new)
    what = f"{path} = {new!r:.60}"
    if op == "replace2":  # a second change, so that checks across fields meet odd pairs
        path2, value2 = rng.choice(leaves(data))
        set_at(data, path2, hostile_for(value2, path2[-1], rng, names))
        what += f"; {path2}"
    return data, what


def bundled() -> list[tuple[str, Path]]:
    return [(e.name, e.path()) for e in recipes() if e.plugin == "gentk"]


def check_one(capsys, path: Path, sets: list[str], what: str, failures: list[str]) -> int:
    started = time.perf_counter()
    args = ["check", str(path)] + [a for s in sets for a in ("--set", s)]
    code, out, err = gentk(capsys, *args)
    took = time.perf_counter() - started
    text = out + err
    if code not in (0, 2) or "Traceback" in text or "unexpected error" in text or took > SLOW:
        failures.append(f"{what}: exit {code} after {took:.1f}s: {text.strip()[-400:]}")
    elif code == 2 and "error:" not in err:
        failures.append(f"{what}: exit 2 without an error message")
    return code


def build(recipe_path: Path, failures: list[str], what: str) -> None:
    """Build the data, model and metrics of an accepted recipe; only a plain user error may stop it."""
    from gentk.engine import build_model

    try:
        recipe = load_recipe(recipe_path)
        dataset = recipe.data.build()
        build_model(recipe, dataset.info, torch.device("cpu"))
        for metric in recipe.metrics:
            metric.build()
    except (ComponentError, PluginError) as exc:
        failures.append(f"{what}: accepted by check, failed to build: {exc.render()[:400]}")
    except GentkError:
        pass
    except Exception as exc:  # noqa: BLE001  (what the fuzz looks for)
        failures.append(f"{what}: accepted by check, failed to build: {type(exc).__name__}: {exc}"[:500])


def test_mutated_recipes_are_refused_cleanly_or_build(capsys, tmp_path, one_thread):
    rng = random.Random(SEED)
    names = component_names()
    failures: list[str] = []
    checked = accepted = built = 0
    for name, path in bundled():
        full = to_data(load_recipe(path))
        for i in range(MUTATIONS_PER_RECIPE):
            data, what = mutate(full, rng, names)
            file = tmp_path / f"{name}_{i}.toml"
            file.write_text(tomli_w.dumps(data))
            code = check_one(capsys, file, [], f"{name}: {what}", failures)
            checked += 1
            if code == 0:
                accepted += 1
                toy = isinstance(data.get("data"), dict) and data["data"].get("use") == "toy2d"
                if toy and built < BUILT:
                    build(file, failures, f"{name}: {what}")
                    built += 1
    assert not failures, f"{len(failures)} of {checked} mutations failed:\n" + "\n".join(failures[:20])
    assert checked >= 400 and accepted >= 20 and built == BUILT, (checked, accepted, built)


def test_hostile_set_values_are_refused_cleanly(capsys):
    failures: list[str] = []
    count = 0
    for name in ("vae_toy", "gan_ring", "em_grid", "langevin_ring", "vae_mnist_conv", "wgan_mnist"):
        for item in HOSTILE_SETS:
            check_one(capsys, Path(name), [item], f"{name} --set {item[:60]}", failures)
            count += 1
    for name in ("ddpm_small", "cfg_ddpm_small"):
        for item in HOSTILE_SETS + DIFFUSION_SETS:
            check_one(capsys, Path(name), [item], f"{name} --set {item[:60]}", failures)
            count += 1
    assert not failures, f"{len(failures)} of {count} failed:\n" + "\n".join(failures[:20])


@pytest.mark.parametrize("recipe", ["vae_toy", "ddpm_small"])
def test_random_set_values_are_refused_cleanly(capsys, recipe):
    """Random keys of the recipe set to random TOML text from the command line."""
    rng = random.Random(SEED)
    texts = [
        "1e999",
        "-1",
        "[",
        "{use=3}",
        '""',
        "nan",
        "inf",
        "{",
        "a=b",
        "0x10",
        "1_000",
        "2024-01-01",
        "[1, [2]]",
        "{a={b=1}}",
        "true",
        "10000000000000000000000000",
        "0.5",
        "[0.9]",
        "x" * 500,
        "[]",
        "{}",
    ]
    keys = [".".join(map(str, p)) for p, _ in leaves(to_data(load_recipe(_recipe(recipe))))]
    failures: list[str] = []
    for _ in range(30):
        item = f"{rng.choice(keys)}={rng.choice(texts)}"
        check_one(capsys, Path(recipe), [item], f"{recipe} --set {item[:60]}", failures)
    assert not failures, "\n".join(failures[:20])


def _recipe(name: str) -> Path:
    from gentk.catalog import find_recipe

    return Path(find_recipe(Path(name)))
