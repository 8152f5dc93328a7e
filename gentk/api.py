"""The Python API, mirroring the CLI for notebooks and scripts.

import gentk.api as gk
recipe = gk.load("vae_toy", overrides=["run.epochs=2"])  # a bundled recipe's name, or a file
run = gk.train(recipe, out="runs")
images = run.sample(16)
print(run.evaluate("nll", k=500))
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import torch

from gentk import catalog, distributed
from gentk.engine import Trainer, build_model, evaluate_metric, fit_metrics, load_model_state
from gentk.errors import GentkError, Interrupted, NumericalError
from gentk.figures import class_labels, save_samples
from gentk.hardware import select_device, select_precision
from gentk.interfaces import Model
from gentk.progress import Reporter
from gentk.recipe import Recipe, check_metric_fits, dumps, load_recipe, resolve_component
from gentk.registry import Component, Plugins, attributed, get_plugins
from gentk.rundir import RunDir
from gentk.signals import abort_on_signals


def load(path: str | Path, overrides: Sequence[str] = ()) -> Recipe:
    """Read and validate a recipe (a file, or a name from `recipes()`); `overrides` are
    `path.to.key=value` strings."""
    return load_recipe(catalog.find_recipe(path), list(overrides))


def show(path: str | Path, overrides: Sequence[str] = ()) -> str:
    """The resolved recipe as TOML, every default written out (`gentk show`)."""
    return dumps(load(path, overrides))


def recipes() -> list[catalog.RecipeEntry]:
    """The bundled recipes and those plugins ship (`gentk recipes`)."""
    return catalog.recipes()


def components(kind: str | None = None) -> list[Component]:
    """Registered components, optionally of one kind (`gentk components`)."""
    return get_plugins().components(kind)


def plugins() -> Plugins:
    """Loaded plugins (`.info`), those that failed (`.failures`) and the registries (`gentk plugins`)."""
    return get_plugins()


def train(
    recipe: Recipe | str | Path,
    *,
    overrides: Sequence[str] = (),
    out: str | Path = "runs",
    name: str | None = None,
    progress: bool = False,
) -> Run:
    """Train a recipe (a recipe file, or a recipe's name) into a new run directory `out/<name>-<time>`.

    Ctrl-C, SIGTERM or SIGUSR1 stop it at the next step boundary with a checkpoint (raising
    `Interrupted`, which names the resume command); a run that fails or is stopped before the figures
    of its first steps were read (see gentk.tally) leaves no directory."""
    if not isinstance(recipe, Recipe):
        file = catalog.find_recipe(recipe)
        name = name or file.stem
        recipe = load_recipe(file, list(overrides))
    world = _join_world(recipe)
    path = str(RunDir.create(out, name or "run").path) if world.is_main else None
    run_dir = RunDir(Path(distributed.share_text(path, world)))
    if world.is_main:
        run_dir.lock()
    trainer: Trainer | None = None
    try:
        with abort_on_signals(lambda signum: Interrupted(None, signum=signum)):
            trainer = Trainer(recipe, run_dir, reporter=Reporter(progress), world=world)
            trainer.start()
        trainer.fit()
        distributed.shutdown(world)  # a process group left open can abort the process at exit
    except BaseException as exc:
        if trainer is None or trainer.saved is None and trainer.checked_step == 0:  # nothing trained: leave nothing
            if world.is_main:
                run_dir.unlock()
                shutil.rmtree(run_dir.path, ignore_errors=True)
            if isinstance(exc, Interrupted) and exc.run_path is not None:
                raise Interrupted(None, signum=exc.signum) from None
        raise
    finally:
        run_dir.unlock()
    return Run(run_dir.path)


def _join_world(recipe: Recipe) -> distributed.World:
    """The torchrun process group this process belongs to (a world of one without torchrun)."""
    world = distributed.world_from_env()
    distributed.init(world, select_device(recipe.run.device))
    return world


def _lock(run_dir: RunDir, world: distributed.World) -> None:
    """Take the run's lock on rank 0; every process fails together when another process holds it."""
    problem: dict[str, Any] = {}
    if world.is_main:
        try:
            run_dir.lock()
        except GentkError as exc:
            problem = {"message": exc.message, "hint": exc.hint}
    problem = json.loads(distributed.share_text(json.dumps(problem), world))
    if problem:
        raise GentkError(problem["message"], hint=problem["hint"])


def resume(path: str | Path, *, overrides: Sequence[str] = (), progress: bool = False) -> Run:
    """Continue an interrupted (or finished, with more epochs) run from its newest readable checkpoint,
    its history cut back to the checkpoint's step; a run without a checkpoint restarts from its
    first step. One process at a time: a run that another process is writing is refused."""
    run_dir = RunDir.open(path)
    recipe = load_recipe(run_dir.recipe_file, list(overrides))
    world = _join_world(recipe)
    _lock(run_dir, world)
    try:
        with abort_on_signals(lambda signum: Interrupted(run_dir.path, signum=signum, nproc=world.size, saved=False)):
            trainer = Trainer(recipe, run_dir, reporter=Reporter(progress), world=world)
            if run_dir.has_checkpoint():
                trainer.restore()
            else:
                trainer.restart()
            if overrides and world.is_main:
                run_dir.write_text("recipe.toml", dumps(recipe))
        trainer.fit()
        distributed.shutdown(world)  # a process group left open can abort the process at exit
    finally:
        run_dir.unlock()
    return Run(run_dir.path)


class Run:
    """A run directory: its recipe, metrics, trained model, samples and evaluations. The model is
    the newest readable checkpoint's, or `checkpoint`'s (a file name in the run, e.g. best.pt or
    checkpoint-00000700.pt, or a path)."""

    def __init__(
        self,
        path: str | Path,
        device: str = "auto",
        checkpoint: str | Path | None = None,
        overrides: Sequence[str] = (),
    ):
        self.dir = RunDir.open(path)
        self.path = self.dir.path
        self._device = device
        self._checkpoint = None if checkpoint is None else self._checkpoint_file(checkpoint)
        self._overrides = list(overrides)  # recipe keys changed for sampling, e.g. model.sampler.steps=20
        self.position: dict[str, int] = {}  # the epoch and step of the loaded checkpoint

    def _checkpoint_file(self, name: str | Path) -> Path:
        file = self.path / name
        if not file.is_file():
            kept = sorted(p.name for p in self.path.glob("*.pt"))
            raise GentkError(
                f"{self.path} has no checkpoint {str(name)!r}",
                hint=f"its checkpoints: {', '.join(kept) if kept else 'none yet'}",
            )
        return file

    @cached_property
    def recipe(self) -> Recipe:
        return load_recipe(self.dir.recipe_file, self._overrides)

    def metrics(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [r for r in self.dir.metrics() if kind is None or r.get("kind") == kind]

    @cached_property
    def model(self) -> Model:
        device = select_device(self._device)
        model = build_model(self.recipe, self.dir.data_info(), device)
        state = self.dir.load_checkpoint(device, file=self._checkpoint)
        load_model_state(model, state)
        self.position = dict(state.get("position", {}))
        for net in model.networks().values():
            net.eval()
        return model

    def sample(self, n: int, *, seed: int = 0, labels: torch.Tensor | None = None, **options: Any) -> torch.Tensor:
        """n samples (images in [0, 1] or points); options go to the model (sampler, steps, guidance...)."""
        generator = torch.Generator(self.model.device).manual_seed(seed)
        with attributed(self.recipe.model.component, "while sampling"):
            samples = self.model.sample(n, generator=generator, labels=labels, **options)
        finite = torch.isfinite(samples)
        if not bool(finite.all()):
            bad = int((~finite).sum())
            given = ", ".join(f"{k}={v!r}" for k, v in options.items())
            raise NumericalError(
                f"sampling {self.path} produced {bad} non-finite value{'s' if bad != 1 else ''} "
                f"(of {samples.numel()}){f' with {given}' if given else ''}; nothing was written",
                hint="check the sampling options (guidance, eta, steps); if the run diverged, its weights may be "
                "unusable",
            )
        return samples

    def save_samples(self, n: int, out: str | Path, **kwargs: Any) -> Path:
        """Samples to a PNG grid (images or a 2-D scatter) or, for `.pt`, the tensor itself."""
        out = Path(out)
        samples = self.sample(n, **kwargs).detach().cpu()
        if out.suffix == ".pt":
            out.parent.mkdir(parents=True, exist_ok=True)
            torch.save(samples, out)
        elif out.suffix.lower() == ".png":
            grid = class_labels(len(samples), self.model.grid_columns, self.dir.data_info().num_classes)
            title = f"{self.path.name} · step {self.position.get('step', 0)} · seed {kwargs.get('seed', 0)}"
            save_samples(
                samples, out, nrow=grid.columns, title=title, row_labels=grid.rows, column_labels=grid.column_labels
            )
        else:
            raise GentkError(
                f"cannot write samples to {out.name!r}", hint="use a .png (image grid) or .pt (tensor) file"
            )
        return out

    def evaluate(self, metric: str, *, seed: int = 0, split: str = "test", **config: Any) -> dict[str, Any]:
        """Evaluate a metric component on held-out data; `config` sets its fields."""
        spec = resolve_component("metric", {"use": metric, **config})
        check_metric_fits(self.recipe.model, spec)
        dataset = self.recipe.data.build()
        evaluator = spec.build()
        fit_metrics([(spec, evaluator)], dataset.split("train"), dataset.info)
        generator = torch.Generator(self.model.device).manual_seed(seed)
        result = evaluate_metric(spec, evaluator, self.model, dataset.split(split), dataset.info, generator)
        bad = sorted(k for k, v in result.items() if isinstance(v, float) and not math.isfinite(v))
        if bad:
            figures = ", ".join(f"{k} = {result[k]}" for k in bad)
            raise NumericalError(
                f"evaluating {self.path} with {metric!r} gave non-finite figures ({figures}); nothing was logged",
                hint="the run's weights may have diverged, or the metric's settings do not fit the model",
            )
        step = self.position.get("step", 0)
        if isinstance(result.get("protocol"), dict):  # a sample-quality figure's card (gentk.quality)
            precision = select_precision(self.recipe.run.precision, self.model.device)
            facts = {"seed": seed, "run_precision": precision, "step": step, "checkpoint": self._name()}
            result["protocol"] = {**result["protocol"], **facts}
        self.dir.log({"kind": "eval", "metric": metric, "step": step, "epoch": self.position.get("epoch"), **result})
        return result

    def _name(self) -> str:
        return self._checkpoint.name if self._checkpoint is not None else "newest"


def open_run(
    path: str | Path, device: str = "auto", checkpoint: str | Path | None = None, overrides: Sequence[str] = ()
) -> Run:
    return Run(path, device, checkpoint, overrides)
