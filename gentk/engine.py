"""The generic training engine.

It knows nothing about model families: a `Model` does its own backward passes and optimizer
steps in `train_step`, so several optimizers, alternating updates and weight averages need no
change here. The engine owns data order, devices, precision, seeds, logging, figures,
checkpoints, resumption and interruption.
"""

from __future__ import annotations

import math
import platform
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import Any

import attrs
import torch

from gentk import distributed, figures
from gentk.data import batches, steps_per_epoch
from gentk.errors import GentkError, Interrupted, NumericalError
from gentk.hardware import autocast, select_device, select_precision
from gentk.interfaces import (
    BuildContext,
    DataInfo,
    HasExtraState,
    HasFigures,
    Metric,
    Model,
    Split,
    StepContext,
    UsesTrainingData,
)
from gentk.progress import Reporter
from gentk.recipe import Recipe, dumps
from gentk.registry import Spec, attributed, get_plugins
from gentk.rundir import RunDir

LOG_EVERY = 20  # steps per "step" record in metrics.jsonl


# -- building ---------------------------------------------------------------------------------
def build_model(recipe: Recipe, info: DataInfo, device: torch.device) -> Model:
    precision = select_precision(recipe.run.precision, device)
    model: Model = recipe.model.build(BuildContext(data=info, device=device, autocast=autocast(device, precision)))
    return model  # Spec.build verified it implements Model


def model_state(model: Model) -> dict[str, Any]:
    state = {
        "networks": {k: v.state_dict() for k, v in model.networks().items()},
        "optimizers": {k: v.state_dict() for k, v in model.optimizers().items()},
    }
    if isinstance(model, HasExtraState):
        state["extra"] = model.extra_state()
    return state


def load_model_state(model: Model, state: Mapping[str, Any]) -> None:
    for name, net in model.networks().items():
        net.load_state_dict(state["networks"][name])
    for name, opt in model.optimizers().items():
        opt.load_state_dict(state["optimizers"][name])
    if isinstance(model, HasExtraState) and "extra" in state:
        model.load_extra_state(state["extra"])


def fit_metrics(metrics: list[tuple[Spec, Metric]], train: Split, info: DataInfo) -> None:
    """Let metrics that learn from the training split (classifiers) do so."""
    for spec, metric in metrics:
        if isinstance(metric, UsesTrainingData):
            with attributed(spec.component, "while fitting to the training split"):
                metric.fit(train, info)


def evaluate_metric(
    spec: Spec, metric: Metric, model: Model, data: Split, info: DataInfo, generator: torch.Generator
) -> dict[str, Any]:
    """One metric's figures, its errors reported as the metric's."""
    with attributed(spec.component, "while evaluating"):
        return dict(metric.evaluate(model, data, info, generator=generator))


def set_mode(model: Model, training: bool) -> None:
    for net in model.networks().values():
        net.train(training)


def plugin_versions() -> dict[str, Any]:
    plugins = get_plugins()
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "plugins": [attrs.asdict(p) for p in plugins.info],
        "failed": [attrs.asdict(f) for f in plugins.failures],
    }


# -- training ---------------------------------------------------------------------------------
@attrs.define
class Position:
    """Where training stands: the epoch, batches done in it, and the global step."""

    epoch: int = 0
    batch: int = 0
    step: int = 0
    sums: dict = attrs.Factory(dict)  # running totals of this epoch's figures
    seconds: float = 0.0  # training time spent in this epoch


class Trainer:
    """Trains one recipe into one run directory."""

    def __init__(
        self, recipe: Recipe, run: RunDir, *, reporter: Reporter | None = None, world: distributed.World | None = None
    ):
        self.recipe, self.run, self.cfg = recipe, run, recipe.run
        self.world = world or distributed.World()
        self.reporter = reporter if reporter is not None and self.world.is_main else Reporter(enabled=False)
        if self.cfg.threads:
            torch.set_num_threads(self.cfg.threads)
        self.device = distributed.device_for(self.world, select_device(self.cfg.device))
        self.precision = select_precision(self.cfg.precision, self.device)
        self.autocast = autocast(self.device, self.precision)
        if self.cfg.batch_size % self.world.size:
            raise GentkError(
                f"batch_size {self.cfg.batch_size} does not split over {self.world.size} processes",
                hint="choose a batch size divisible by the number of processes",
            )
        torch.manual_seed(self.cfg.seed + self.world.rank)  # model noise differs per process
        self.dataset = recipe.data.build()
        self.info: DataInfo = self.dataset.info
        self.train_split: Split = self.dataset.split("train")
        self.model = build_model(recipe, self.info, self.device)
        if self.world.enabled:
            distributed.broadcast_state(self.model.networks())
            distributed.average_gradients_before_steps(self.model.optimizers(), self.world)
        self.metrics: list[tuple[Spec, Metric]] = [(spec, spec.build()) for spec in recipe.metrics]
        self.metrics_fitted = False
        self.data_rng = torch.Generator().manual_seed(self.cfg.seed)
        self.epoch_rng_state = self.data_rng.get_state()
        self.pos = Position()

    # -- state ------------------------------------------------------------------------------
    def rng_state(self) -> dict[str, torch.Tensor]:
        state = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            state["cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    def checkpoint(self, gather: bool = True) -> None:
        """Save on rank 0, with every process's RNG state (collective unless `gather` is off)."""
        rngs: list[Any] = [self.rng_state()]
        if self.world.enabled and gather:
            rngs = [None] * self.world.size
            torch.distributed.all_gather_object(rngs, self.rng_state())
        if self.world.is_main:
            state = model_state(self.model)
            state["position"] = attrs.asdict(self.pos)
            state["rng"] = {"processes": rngs, "data_epoch_start": self.epoch_rng_state}
            self.run.save_checkpoint(state)
        if gather:
            distributed.barrier(self.world)

    def restore(self) -> None:
        state = self.run.load_checkpoint(self.device)
        load_model_state(self.model, state)
        self.pos = Position(**state["position"])
        rngs = state["rng"]["processes"]
        mine = rngs[self.world.rank] if self.world.rank < len(rngs) else rngs[0]
        torch.set_rng_state(mine["torch"].cpu())
        if "cuda" in mine and self.device.type == "cuda":
            torch.cuda.set_rng_state(mine["cuda"].cpu(), self.device)
        self.epoch_rng_state = state["rng"]["data_epoch_start"].cpu()
        if self.world.is_main:
            self.run.truncate_metrics(self.pos.step)
        distributed.barrier(self.world)

    def start(self) -> None:
        if not self.world.is_main:
            return
        self.run.recipe_file.write_text(dumps(self.recipe), encoding="utf-8")
        self.run.write_json("plugins.json", plugin_versions())
        self.run.write_data_info(self.info)
        self.run.log(
            {"kind": "start", "step": 0, "device": str(self.device), "precision": self.precision, "seed": self.cfg.seed}
        )

    # -- loop -------------------------------------------------------------------------------
    def epoch_batches(self) -> Iterator:
        """This epoch's batches, resuming after `pos.batch` with the same data order and noise."""
        self.data_rng.set_state(self.epoch_rng_state)
        drop_last = len(self.train_split) >= self.cfg.batch_size
        it = batches(
            self.train_split,
            self.info,
            self.cfg.batch_size,
            device=self.device,
            generator=self.data_rng,
            shuffle=True,
            drop_last=drop_last,
            limit=self.cfg.steps_per_epoch,
            shard=(self.world.rank, self.world.size),
        )
        for i, batch in enumerate(it):
            if i >= self.pos.batch:
                yield batch

    def fit(self) -> dict[str, Any]:
        total = steps_per_epoch(len(self.train_split), self.cfg.batch_size, self.cfg.steps_per_epoch)
        try:
            while self.pos.epoch < self.cfg.epochs:
                self.train_epoch(total)
                self.end_epoch()
        except KeyboardInterrupt:
            self.checkpoint(gather=False)  # other processes may be gone: no collectives
            raise Interrupted(self.run.path) from None
        return self.finish()

    def train_epoch(self, total: int) -> None:
        set_mode(self.model, True)
        sums = defaultdict(float, self.pos.sums)
        count, started, before = 0, time.perf_counter(), self.pos.seconds
        with self.reporter.task(f"epoch {self.pos.epoch + 1}/{self.cfg.epochs}", total, self.pos.batch) as task:
            for batch in self.epoch_batches():
                ctx = StepContext(self.pos.step, self.pos.epoch, self.autocast, self.device)
                with attributed(self.recipe.model.component, "in its train step"):
                    figures_ = {k: float(v) for k, v in self.model.train_step(batch, ctx).items()}
                figures_ = distributed.average_figures(figures_, self.world)
                self.check_finite(figures_)
                self.pos.step += 1
                self.pos.batch += 1
                count += 1
                for k, v in figures_.items():
                    sums[k] += v
                self.pos.sums = dict(sums)
                self.pos.seconds = before + time.perf_counter() - started
                rate = count * self.cfg.batch_size / (time.perf_counter() - started)
                task.advance(figures_, rate)
                if self.pos.step % LOG_EVERY == 0 and self.world.is_main:
                    self.run.log(
                        {
                            "kind": "step",
                            "epoch": self.pos.epoch,
                            "step": self.pos.step,
                            **figures_,
                            "images_per_s": rate,
                        }
                    )
        done = max(self.pos.batch, 1)
        self.epoch_summary = {k: v / done for k, v in sums.items()}
        self.epoch_summary["seconds"] = self.pos.seconds
        self.epoch_summary["images_per_s"] = self.pos.batch * self.cfg.batch_size / max(self.pos.seconds, 1e-9)

    def check_finite(self, figures_: Mapping[str, float]) -> None:
        loss = figures_.get("loss")
        if loss is not None and not math.isfinite(loss):
            kept = (
                f"the last good checkpoint (after epoch {self.pos.epoch}) is kept"
                if self.run.has_checkpoint()
                else "no checkpoint had been written yet"
            )
            raise NumericalError(
                f"the loss became {loss} at epoch {self.pos.epoch + 1}, step {self.pos.step + 1}; training stopped "
                f"and {kept} in {self.run.path}",
                hint='lower the learning rate, use precision = "fp32", or check the data',
            )

    def end_epoch(self) -> None:
        epoch = self.pos.epoch + 1
        if self.world.enabled:  # buffers (batch-norm statistics) follow rank 0, as in DDP
            distributed.check_in_sync(self.model.networks(), self.device)
            distributed.broadcast_state(self.model.networks())
        if self.world.is_main:
            self.report_epoch(epoch)
        self.pos = Position(epoch=epoch, batch=0, step=self.pos.step)
        self.epoch_rng_state = self.data_rng.get_state()
        self.checkpoint()

    def report_epoch(self, epoch: int) -> None:
        set_mode(self.model, False)
        record = {"kind": "epoch", "epoch": epoch, "step": self.pos.step, **self.epoch_summary}
        record.update(self.evaluate_metrics(epoch))
        if self.cfg.n_samples and (epoch % self.cfg.sample_every == 0 or epoch == self.cfg.epochs):
            self.draw_figures(epoch)
        set_mode(self.model, True)
        self.run.log(record)
        self.reporter.epoch(record)

    def evaluate_metrics(self, epoch: int) -> dict[str, Any]:
        if not self.metrics:
            return {}
        test = self.dataset.split("test")
        if not self.metrics_fitted:
            fit_metrics(self.metrics, self.train_split, self.info)
            self.metrics_fitted = True
        out: dict[str, Any] = {}
        for spec, metric in self.metrics:
            name = spec.name
            generator = torch.Generator(self.device).manual_seed(self.cfg.seed + 7919 * epoch)
            result = evaluate_metric(spec, metric, self.model, test, self.info, generator)
            warning = result.pop("warning", None)
            if warning:
                self.reporter.warn(f"{name}: {warning}")
                out[f"{name}/warning"] = warning
            out.update({f"{name}/{k}": v for k, v in result.items()})
        return out

    def draw_figures(self, epoch: int) -> None:
        generator = torch.Generator(self.device).manual_seed(self.cfg.seed + 104729)
        component = self.recipe.model.component
        with attributed(component, "while sampling"):
            samples = self.model.sample(self.cfg.n_samples, generator=generator)
        nrow = self.model.grid_columns  # e.g. one row per class
        figures.save_samples(samples, self.run.figure(f"samples_epoch{epoch:03d}.png"), nrow=nrow)
        if isinstance(self.model, HasFigures):
            test = self.dataset.split("test")
            batch = next(batches(test, self.info, min(32, len(test)), device=self.device))
            with attributed(component, "while drawing its figures"):
                drawn = self.model.figures(batch, generator=generator)
            for name, images in drawn.items():
                figures.save_samples(images, self.run.figure(f"{name}_epoch{epoch:03d}.png"))
        figures.save_loss_curve(self.run.metrics(), self.run.figure("loss.png"))

    def finish(self) -> dict[str, Any]:
        if not self.world.is_main:
            return {"run": str(self.run.path)}
        figures.save_loss_curve(self.run.metrics(), self.run.figure("loss.png"))
        epochs = [r for r in self.run.metrics() if r.get("kind") == "epoch"]
        return {"run": str(self.run.path), "epochs": len(epochs), "last": epochs[-1] if epochs else {}}
