"""A recipe fuzz: mutations of every bundled recipe and hostile `--set` values through `gentk check`.

Catches: a hostile value that `gentk check` answers with a traceback or an `unexpected error`
instead of a problem naming its key (a non-string `use`, deep nesting, `--set metrics.0=1`, a
short `betas`, non-finite numbers); a check that hangs on a huge value; and a recipe that `check`
accepts but that then fails while its data and model are built. The mutations come from a
fixed seed, so every run checks the same several hundred recipes.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
import tomli_w
import torch

from gentk.catalog import recipes
from gentk.cli import main
from gentk.errors import ComponentError, GentkError, PluginError
from gentk.fuzz import leaves, mutate, names_by_kind
from gentk.recipe import load_recipe, to_data

SEED = 20240613
MUTATIONS_PER_RECIPE = 16
BUILT = 20  # accepted toy2d mutations whose data and model are built
SLOW = 5.0  # seconds one `gentk check` may take


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
    components = names_by_kind()
    failures: list[str] = []
    checked = accepted = built = 0
    for name, path in bundled():
        full = to_data(load_recipe(path))
        for i in range(MUTATIONS_PER_RECIPE):
            data, what = mutate(full, rng, components)
            file = tmp_path / f"{name}_{i}.toml"
            try:
                file.write_text(tomli_w.dumps(data))
            except (RecursionError, TypeError, ValueError):  # no TOML writer can write it: not a recipe file
                continue
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
