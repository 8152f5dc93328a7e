"""The generic training engine.

It knows nothing about model families: a `Model` does its own backward passes and optimizer
steps in `train_step`, so several optimizers, alternating updates and weight averages need no
change here. The engine owns data order, devices, precision, seeds, logging, figures,
checkpoints, resumption and interruption.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import signal
import socket
import time
import warnings
from collections.abc import Iterator, Mapping
from functools import partial
from typing import Any

import attrs
import torch

from gentk import distributed, figures
from gentk.data import batches, steps_per_epoch
from gentk.errors import GentkError, GentkWarning, Interrupted, NumericalError, signal_name
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
    plain_update,
)
from gentk.progress import Reporter
from gentk.recipe import Recipe, dumps
from gentk.registry import Spec, attributed, get_plugins
from gentk.rundir import RunDir
from gentk.signals import StopRequest, stop_on_signals
from gentk.tally import Reading, Tally
from gentk.updates import ScaledUpdates

LOG_EVERY = 20  # steps per "step" record in metrics.jsonl
DIVERGENCE_HINT = 'lower the learning rate, set run.max_loss to stop earlier, use precision = "fp32", or check the data'


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
    logged: dict = attrs.Factory(dict)  # the totals at the last "step" record
    window_steps: int = 0  # steps since then

    def describe(self) -> str:
        done = f"{self.epoch} epoch{'s' if self.epoch != 1 else ''} done"
        return f"step {self.step} ({done}{f' + {self.batch} steps' if self.batch else ''})"


def parse_every(value: str | int | None) -> tuple[int | None, float | None]:
    """`run.checkpoint_every`: "500" (steps) -> (500, None); "10m" (minutes) -> (None, 600.0)."""
    if value is None:
        return None, None
    text = str(value).strip().lower()
    try:
        if text.endswith("m"):
            minutes = float(text[:-1])
            if minutes > 0:
                return None, 60.0 * minutes
        elif int(text) > 0:
            return int(text), None
    except ValueError:
        pass
    raise GentkError(
        f"run.checkpoint_every = {value!r} is neither a number of steps nor of minutes",
        hint='write e.g. "500" (every 500 steps) or "10m" (every 10 minutes)',
    )


class _StopNow(Exception):
    """Raised inside `fit` at a step boundary where a signal asked to stop."""


class Trainer:
    """Trains one recipe into one run directory.

    Checkpoints are written at step boundaries only (after a complete `train_step` and the position
    update), so a checkpoint's position and its model, optimizer and RNG states always agree: at each
    epoch end, every `run.checkpoint_every` steps or minutes, and when a signal asks to stop
    (see gentk.signals). Under torch.distributed the stop request and the clock's checkpoint are
    agreed on in the all-reduce of the step's figures that the loop does anyway, so every process
    saves at the same step and every process's RNG state is kept."""

    def __init__(
        self,
        recipe: Recipe,
        run: RunDir,
        *,
        reporter: Reporter | None = None,
        world: distributed.World | None = None,
        stop: StopRequest | None = None,
    ):
        self.recipe, self.run, self.cfg = recipe, run, recipe.run
        self.world = world or distributed.World()
        self.reporter = reporter if reporter is not None and self.world.is_main else Reporter(enabled=False)
        self.stop = stop or StopRequest(announce=self.world.is_main)
        self.every_steps, self.every_seconds = parse_every(self.cfg.checkpoint_every)
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
        with self.reporter.shown():  # data loading progress, hidden by --quiet and on ranks > 0
            self.dataset = recipe.data.build()
            self.info: DataInfo = self.dataset.info
            self.train_split: Split = self.dataset.split("train")
        self.model = build_model(recipe, self.info, self.device)
        if self.world.enabled:
            distributed.broadcast_state(self.model.networks())
            distributed.average_gradients_before_steps(self.model.optimizers(), self.world)
        if self.cfg.compile:
            for net in self.model.networks().values():
                net.compile()  # in place: the state dict keeps its keys
        self.scaled: ScaledUpdates | None = None  # fp16 loss scaling
        if self.precision == "fp16":
            average = partial(distributed.average_gradients, world=self.world) if self.world.enabled else None
            self.scaled = ScaledUpdates(self.device, self.model.optimizers(), average)
        self.metrics: list[tuple[Spec, Metric]] = [(spec, spec.build()) for spec in recipe.metrics]
        self.metrics_fitted = False
        self.data_rng = torch.Generator().manual_seed(self.cfg.seed)
        self.epoch_rng_state = self.data_rng.get_state()
        self.pos = Position()
        self.saved: Position | None = None  # where the last checkpoint was written
        self.saved_time = time.monotonic()
        self.checked_step = 0  # the last step whose figures were read and found finite
        self.best: dict[str, Any] | None = None  # best_metric's best value, its epoch and step
        self.last_record: dict[str, Any] = {}

    # -- state ------------------------------------------------------------------------------
    def rng_state(self) -> dict[str, torch.Tensor]:
        state = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            state["cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    def check_weights_finite(self) -> None:
        """Refuse to save non-finite weights (or optimizer state): every process checks its own copy
        (they are equal), so all raise together. One host sync per checkpoint."""
        checks, names = [], []
        for name, net in self.model.networks().items():
            for t in net.state_dict().values():
                if t.is_floating_point() or t.is_complex():
                    checks.append(torch.isfinite(t).all())
                    names.append(f"network {name!r}")
        for name, opt in self.model.optimizers().items():
            for per_param in opt.state_dict().get("state", {}).values():
                for t in per_param.values():
                    if isinstance(t, torch.Tensor) and t.is_floating_point():
                        checks.append(torch.isfinite(t).all())
                        names.append(f"the state of optimizer {name!r}")
        if not checks:
            return
        finite = torch.stack(checks).cpu()
        if bool(finite.all()):
            return
        bad = sorted({n for n, ok in zip(names, finite.tolist(), strict=True) if not ok})
        raise NumericalError(
            f"{', '.join(bad)} became non-finite by {self.pos.describe()}; training stopped without saving "
            f"them, and {self.kept()}",
            hint=DIVERGENCE_HINT,
        )

    def checkpoint(self, *, best: bool = False) -> None:
        """Save at a step boundary on rank 0, with every process's RNG state (a collective)."""
        self.check_weights_finite()
        rngs: list[Any] = [self.rng_state()]
        if self.world.enabled:
            rngs = [None] * self.world.size
            torch.distributed.all_gather_object(rngs, self.rng_state())
        if self.world.is_main:
            state = model_state(self.model)
            state["position"] = attrs.asdict(self.pos)
            state["rng"] = {"processes": rngs, "data_epoch_start": self.epoch_rng_state}
            state["best"] = self.best
            if self.scaled is not None:
                state["loss_scales"] = self.scaled.state_dict()
            self.run.save_checkpoint(state, step=self.pos.step, keep=self.cfg.keep_checkpoints, best=best)
        self.saved = attrs.evolve(self.pos, sums=dict(self.pos.sums), logged=dict(self.pos.logged))
        self.saved_time = time.monotonic()
        if self.world.is_main:
            self.write_status("running")  # after `saved`, so the status names this checkpoint
        distributed.barrier(self.world)

    def restore(self) -> None:
        state = self.run.load_checkpoint(self.device)  # the newest readable one
        load_model_state(self.model, state)
        self.pos = Position(**state["position"])
        self.saved = attrs.evolve(self.pos)
        self.best = state.get("best")
        if self.scaled is not None:
            self.scaled.load_state_dict(state.get("loss_scales", {}))
        rngs = state["rng"]["processes"]
        if len(rngs) != self.world.size and self.world.is_main:
            warnings.warn(
                f"the checkpoint holds the random states of {len(rngs)} process(es) and this run has "
                f"{self.world.size}: training goes on, but not exactly as with {len(rngs)}",
                GentkWarning,
                stacklevel=2,
            )
        mine = rngs[self.world.rank] if self.world.rank < len(rngs) else rngs[0]
        torch.set_rng_state(mine["torch"].cpu())
        if "cuda" in mine and self.device.type == "cuda":
            torch.cuda.set_rng_state(mine["cuda"].cpu(), self.device)
        self.epoch_rng_state = state["rng"]["data_epoch_start"].cpu()
        distributed.barrier(self.world)  # every process has read the checkpoint files
        if self.world.is_main:
            self.run.truncate_metrics(self.pos.step)  # the history ends where the checkpoint stands
            self.run.discard_checkpoints_after(self.pos.step)
        distributed.barrier(self.world)

    def restart(self) -> None:
        """Resume a run that has no checkpoint: from its first step, its history emptied."""
        if self.world.is_main:
            self.run.truncate_metrics(None)
        self.start()

    def start(self) -> None:
        if not self.world.is_main:
            return
        self.run.write_text("recipe.toml", dumps(self.recipe))
        self.run.write_json("plugins.json", plugin_versions())
        self.run.write_data_info(self.info)
        self.run.log(
            {"kind": "start", "step": 0, "device": str(self.device), "precision": self.precision, "seed": self.cfg.seed}
        )

    def write_status(self, status: str, **fields: Any) -> None:
        if not self.world.is_main:
            return
        latest = {k: v for k, v in self.last_record.items() if k not in ("kind", "epoch", "step")}
        self.run.write_status(
            status,
            epoch=self.pos.epoch,
            epochs=self.cfg.epochs,
            step=self.pos.step,
            checkpoint_step=self.saved.step if self.saved is not None else None,
            nproc=self.world.size,
            pid=os.getpid(),
            host=socket.gethostname(),
            latest=latest,
            **fields,
        )

    def kept(self) -> str:
        if self.saved is None:
            return "no checkpoint had been written yet"
        return f"the last checkpoint, at {self.saved.describe()}, is kept in {self.run.path} (its weights are finite)"

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
        """Train to `run.epochs`. Signals stop it at the next step boundary with a checkpoint
        (raising Interrupted); the run's status.json follows it."""
        total = steps_per_epoch(len(self.train_split), self.cfg.batch_size, self.cfg.steps_per_epoch)
        self.write_status("running")
        try:
            with stop_on_signals(self.stop):
                try:
                    while self.pos.epoch < self.cfg.epochs:
                        self.train_epoch(total)
                        self.end_epoch()
                        last = self.pos.epoch >= self.cfg.epochs
                        if not last and distributed.any_flag(self.stop.requested, self.world, self.device):
                            raise _StopNow  # a signal during the epoch's end: its checkpoint is saved
                except _StopNow:
                    raise self.interrupted() from None
        except KeyboardInterrupt:  # raised by code, not by a signal: the state may be mid-step
            self.write_status("interrupted", signal="SIGINT")
            raise Interrupted(self.run.path, nproc=self.world.size, saved=False) from None
        except Interrupted as exc:
            self.write_status("interrupted", signal=signal_name(exc.signum))
            raise
        except BaseException as exc:
            with contextlib.suppress(Exception):
                self.write_status("failed", error=f"{type(exc).__name__}: {exc}"[:500])
            raise
        self.write_status("done")
        return self.finish()

    def interrupted(self) -> Interrupted:
        signum = self.stop.signum if self.stop.signum is not None else signal.SIGINT
        return Interrupted(self.run.path, signum=signum, nproc=self.world.size, where=self.pos.describe())

    def train_epoch(self, total: int) -> None:
        set_mode(self.model, True)
        tally = Tally(self.device, self.pos.sums)
        update = self.scaled or plain_update
        count, started, before = 0, time.perf_counter(), self.pos.seconds
        every_steps, every_seconds = self.every_steps, self.every_seconds
        item = "points" if self.info.kind == "points" else "img"  # what the rate counts
        with self.reporter.task(f"epoch {self.pos.epoch + 1}/{self.cfg.epochs}", total, self.pos.batch, item) as task:
            for batch in self.epoch_batches():
                ctx = StepContext(self.pos.step, self.pos.epoch, self.autocast, self.device, update)
                with attributed(self.recipe.model.component, "in its train step"):
                    tally.add(self.model.train_step(batch, ctx))
                self.pos.step += 1
                self.pos.batch += 1
                count += 1
                self.pos.seconds = before + time.perf_counter() - started
                last = self.pos.batch >= total
                clock_due = every_seconds is not None and time.monotonic() - self.saved_time >= every_seconds
                step_due = every_steps is not None and self.pos.step % every_steps == 0
                if not (last or step_due or self.sync_due(clock_due)):
                    task.advance()
                    continue
                reading = tally.read(self.world, (self.stop.requested, clock_due and self.world.is_main))
                stop, save = reading.flags
                shown = self.take(reading)
                task.advance(shown, count * self.cfg.batch_size / max(self.pos.seconds - before, 1e-9))
                # a step boundary: position and state agree. The epoch's last step is saved by end_epoch.
                if not last:
                    if stop:
                        self.checkpoint()
                        raise _StopNow
                    if save or step_due:
                        self.checkpoint()
                elif stop:
                    self.stop.request(self.stop.signum or signal.SIGINT)
        done = max(self.pos.batch, 1)
        self.epoch_summary = {k: v / done for k, v in self.pos.sums.items()}
        self.epoch_summary["seconds"] = self.pos.seconds
        self.epoch_summary["images_per_s"] = self.pos.batch * self.cfg.batch_size / max(self.pos.seconds, 1e-9)

    def sync_due(self, clock_due: bool) -> bool:
        """Whether the figures are read at this step (besides an epoch's end and a step checkpoint):
        every LOG_EVERY steps; in a single process also at once when a signal asks to stop or the
        clock's checkpoint is due (several processes learn of those at the next regular reading)."""
        if self.pos.step % LOG_EVERY == 0:
            return True
        return not self.world.enabled and (self.stop.requested or clock_due)

    def take(self, reading: Reading) -> dict[str, float]:
        """Check a reading of the figures, keep its sums, and log the means since the last record
        every LOG_EVERY steps; returns the reading's own means (for the progress display)."""
        self.check_finite(reading)
        pos, before = self.pos, self.pos.sums
        self.checked_step = pos.step
        pos.sums = dict(reading.sums)
        pos.window_steps += reading.steps
        if pos.step % LOG_EVERY == 0:
            if self.world.is_main:
                rate = pos.batch * self.cfg.batch_size / max(pos.seconds, 1e-9)
                means = {k: (v - pos.logged.get(k, 0.0)) / pos.window_steps for k, v in pos.sums.items()}
                self.run.log({"kind": "step", "epoch": pos.epoch, "step": pos.step, **means, "images_per_s": rate})
            pos.logged, pos.window_steps = dict(pos.sums), 0
        return {k: (v - before.get(k, 0.0)) / max(reading.steps, 1) for k, v in pos.sums.items()}

    def check_finite(self, reading: Reading) -> None:
        """Stop on a non-finite figure (a loss, a gradient norm) or a loss above `run.max_loss` in the
        steps of a reading (at most LOG_EVERY of them)."""
        first, step = self.pos.step - reading.steps + 1, self.pos.step
        steps = f"step {step}" if first == step else f"within steps {first}-{step}"
        where = f"at epoch {self.pos.epoch + 1}, {steps}"
        bad = reading.bad_figure()
        if bad is not None:
            name, value = bad
            raise NumericalError(
                f"the {name} became {value} {where}; training stopped and {self.kept()}", hint=DIVERGENCE_HINT
            )
        max_loss, peak = self.cfg.max_loss, reading.peak_loss
        if max_loss is not None and peak is not None and peak > max_loss:
            raise NumericalError(
                f"the loss reached {peak:.6g}, above run.max_loss = {max_loss:g}, {where}: the run diverged; "
                f"training stopped and {self.kept()}",
                hint=DIVERGENCE_HINT,
            )

    def end_epoch(self) -> None:
        epoch = self.pos.epoch + 1
        if self.world.enabled:  # buffers (batch-norm statistics) follow rank 0, as in DDP
            distributed.check_in_sync(self.model.networks(), self.device)
            distributed.broadcast_state(self.model.networks())
        best = False
        if self.world.is_main:
            record = self.report_epoch(epoch)
            best = self.update_best(record)
        self.pos = Position(epoch=epoch, batch=0, step=self.pos.step)
        self.epoch_rng_state = self.data_rng.get_state()
        self.checkpoint(best=best)

    def update_best(self, record: Mapping[str, Any]) -> bool:
        """Whether this epoch's `run.best_metric` beats the best so far (then it is kept as best.pt)."""
        name = self.cfg.best_metric
        if name is None:
            return False
        value = record.get(name)
        if not isinstance(value, int | float) or isinstance(value, bool):
            figures_ = ", ".join(sorted(k for k, v in record.items() if isinstance(v, int | float))) or "none"
            message = f"run.best_metric {name!r} is not a figure of the epoch records (they have: {figures_})"
            self.reporter.warn(message)
            warnings.warn(message, GentkWarning, stacklevel=2)
            return False
        if not math.isfinite(value):
            return False
        if self.best is not None:
            previous = self.best["value"]
            if (value >= previous) if self.cfg.best_mode == "min" else (value <= previous):
                return False
        self.best = {"metric": name, "value": float(value), "epoch": record["epoch"], "step": record["step"]}
        return True

    def report_epoch(self, epoch: int) -> dict[str, Any]:
        set_mode(self.model, False)
        record = {"kind": "epoch", "epoch": epoch, "step": self.pos.step, **self.epoch_summary}
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):  # evaluating never moves training's random state
            with self.reporter.phase(f"epoch {epoch}: metrics"):
                record.update(self.evaluate_metrics(epoch))
            drawing = self.cfg.n_samples and (epoch % self.cfg.sample_every == 0 or epoch == self.cfg.epochs)
            if drawing:
                with self.reporter.phase(f"epoch {epoch}: figures"):
                    self.draw_figures(epoch)
        set_mode(self.model, True)
        self.run.log(record)
        if drawing:  # after the record, so that this epoch's held-out figures are on it
            figures.save_loss_curve(self.run.metrics(), self.run.figure("loss.png"), title=self.run.path.name)
        self.last_record = record
        self.reporter.epoch(record)
        return record

    def evaluate_metrics(self, epoch: int) -> dict[str, Any]:
        if not self.metrics:
            return {}
        test = self.dataset.split("test")
        if not self.metrics_fitted:
            torch.manual_seed(self.cfg.seed + 15485863)  # the same fit whenever it happens (inside fork_rng)
            fit_metrics(self.metrics, self.train_split, self.info)
            self.metrics_fitted = True
        out: dict[str, Any] = {}
        for spec, metric in self.metrics:
            name = spec.name
            seed = self.cfg.seed + 7919 * epoch
            generator = torch.Generator(self.device).manual_seed(seed)
            result = evaluate_metric(spec, metric, self.model, test, self.info, generator)
            warning = result.pop("warning", None)
            if warning:
                self.reporter.warn(f"{name}: {warning}")
                out[f"{name}/warning"] = warning
            protocol = result.pop("protocol", None)
            if protocol is not None:  # a sample-quality figure's protocol card (gentk.quality)
                out[f"{name}/protocol"] = {
                    **protocol,
                    "seed": seed,
                    "run_precision": self.precision,
                    "step": self.pos.step,
                }
            out.update({f"{name}/{k}": v for k, v in result.items()})
        return out

    def draw_figures(self, epoch: int) -> None:
        generator = torch.Generator(self.device).manual_seed(self.cfg.seed + 104729)
        component = self.recipe.model.component
        with attributed(component, "while sampling"):
            samples = self.model.sample(self.cfg.n_samples, generator=generator)
        title = f"{self.run.path.name} · epoch {epoch}"
        grid = figures.class_labels(len(samples), self.model.grid_columns, self.info.num_classes)
        reference = figures.reference_points(self.train_split.x) if self.info.kind == "points" else None
        figures.save_samples(
            samples,
            self.run.figure(f"samples_epoch{epoch:03d}.png"),
            nrow=grid.columns,
            title=title,
            row_labels=grid.rows,
            column_labels=grid.column_labels,
            reference=reference,
        )
        if isinstance(self.model, HasFigures):
            test = self.dataset.split("test")
            batch = next(batches(test, self.info, min(32, len(test)), device=self.device))
            with attributed(component, "while drawing its figures"):
                drawn = self.model.figures(batch, generator=generator)
            for name, images in drawn.items():
                labels = figures.labels_of(drawn, name)
                figures.save_samples(
                    images,
                    self.run.figure(f"{name}_epoch{epoch:03d}.png"),
                    nrow=labels.columns,
                    title=f"{title} · {name}",
                    row_labels=labels.rows,
                    column_labels=labels.column_labels,
                )

    def finish(self) -> dict[str, Any]:
        if not self.world.is_main:
            return {"run": str(self.run.path)}
        figures.save_loss_curve(self.run.metrics(), self.run.figure("loss.png"), title=self.run.path.name)
        epochs = [r for r in self.run.metrics() if r.get("kind") == "epoch"]
        return {"run": str(self.run.path), "epochs": len(epochs), "last": epochs[-1] if epochs else {}}
