"""The `ddpm` model: trains the denoiser with its objective (L_simple and its weighted variants,
in the epsilon, x0 or v parameterization), keeps an EMA copy, samples with any diffusion sampler
and classifier-free guidance, and draws the trajectory figure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import torch
from torch import Tensor, nn

from gentk.errors import GentkError
from gentk.families.diffusion import (
    Denoiser,
    DiffusionObjective,
    DiffusionSampler,
    EpsFn,
    NoiseSchedule,
    StepHook,
)
from gentk.interfaces import Batch, BuildContext, Figures, Optimizer, StepContext, as_module
from gentk.progress import Phase, phase
from gentk.recipe import resolve_component, to_data
from gentk_diffusion.configs import DDPMConfig, DDPMObjectiveConfig, max_sampler_steps
from gentk_diffusion.ema import EMA
from gentk_diffusion.parameterization import PREDICTIONS
from gentk_diffusion.samplers import eps_from, guided_eps

SAMPLE_OPTIONS = ("sampler", "steps", "guidance")


class DDPM:
    """Denoising diffusion model (a `Model` and a `DiffusionModel`); see `DDPMConfig` for the options."""

    def __init__(self, cfg: DDPMConfig, ctx: BuildContext):
        info = ctx.data
        if info.kind != "image":
            raise GentkError("the ddpm model needs image data", hint="choose an image dataset")
        if cfg.conditional and info.num_classes == 0:
            raise GentkError(
                "a conditional ddpm needs a labelled dataset",
                hint="set model.conditional = false or use a dataset with labels",
            )
        self.cfg = cfg
        self.info = info
        self.device: torch.device = ctx.device or torch.device("cpu")
        self.autocast = ctx.autocast
        self.num_classes: int = info.num_classes if cfg.conditional else 0
        net_ctx = BuildContext(attrs.evolve(info, num_classes=self.num_classes), self.device)
        self.denoiser = as_module(cfg.denoiser.build(net_ctx), f"denoiser {cfg.denoiser.name!r}").to(self.device)
        schedule: NoiseSchedule = cfg.schedule.build()
        self.schedule: NoiseSchedule = schedule.to(self.device)
        self.objective: DiffusionObjective = cfg.objective.build()
        self.prediction: str = self.objective.prediction  # what the denoiser predicts
        if self.prediction not in PREDICTIONS:
            raise GentkError(
                f"objective {cfg.objective.name!r} trains a {self.prediction!r} prediction, which no sampler reads",
                hint=f"use an objective whose prediction is one of {', '.join(PREDICTIONS)}",
            )
        self.sampler: DiffusionSampler = cfg.sampler.build()
        self.optimizer: Optimizer = cfg.optimizer.build(self.denoiser.parameters())
        self.ema = EMA(self.denoiser, cfg.ema_decay, cfg.ema_warmup) if cfg.ema_decay > 0 else None
        self.grid_columns: int | None = None  # row length of the last sample grid (one row per class)

    # -- training ---------------------------------------------------------------------------------
    def networks(self) -> Mapping[str, nn.Module]:
        return {"denoiser": self.denoiser}

    def optimizers(self) -> Mapping[str, Optimizer]:
        return {"denoiser": self.optimizer}

    def train_step(self, batch: Batch, ctx: StepContext) -> Figures:
        self.denoiser.train()
        x0 = batch.x * 2 - 1  # (B, C, H, W) in [-1, 1]
        y = batch.y if self.num_classes else None
        with ctx.autocast():
            loss = self.objective(self.denoiser, self.schedule, x0, y, self.num_classes)
        grad_norm = ctx.update(loss, self.optimizer, self.cfg.grad_clip)
        figures = {"loss": loss.detach()}  # tensors: the engine reads them at its log points
        if grad_norm is not None:
            figures["grad_norm"] = grad_norm
        if self.ema is not None:
            self.ema.update()
        return figures

    def extra_state(self) -> dict[str, Any]:
        return {"ema": self.ema.state_dict()} if self.ema is not None else {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        if self.ema is not None and "ema" in state:
            self.ema.load_state_dict(state["ema"])

    # -- sampling ---------------------------------------------------------------------------------
    def eval_denoiser(self) -> Denoiser:
        """The network used for sampling and evaluation (the EMA copy by default), in eval mode."""
        net = self.ema.shadow if self.ema is not None and self.cfg.sample_with_ema else self.denoiser
        return net.eval()

    def sample(
        self, n: int, *, generator: torch.Generator, labels: Tensor | int | None = None, **options: Any
    ) -> Tensor:
        """n images (n, C, H, W) in [0, 1]. Options: sampler (a name), steps, guidance (w).
        A conditional model without labels draws one row per class (see `DDPMConfig`)."""
        sampler, guidance = self._sample_options(options)
        per_class = labels is None and self.num_classes > 0
        labels = self._labels(n, labels)
        n = len(labels) if labels is not None else n
        self.grid_columns = n // self.num_classes if per_class else None
        steps = len(sampler.timesteps(self.schedule))
        with phase(f"sampling (n={n})", steps, unit="step") as bar:
            x = sampler.sample(
                self._guided_eps(labels, guidance),
                self.schedule,
                (n, *self.info.shape),
                generator=generator,
                on_step=self._counting(bar),
            )
        return self.to_images(x)

    def sampling_settings(self, **options: Any) -> dict[str, Any]:
        """The sampler, its steps and the guidance that `sample` uses with
        these options (a `DescribesSampling`)."""
        sampler, guidance = self._sample_options(options)
        table = {"use": options["sampler"]} if options.get("sampler") else to_data(self.cfg.sampler)
        settings = ", ".join(f"{k} = {v}" for k, v in table.items() if k not in ("use", "steps"))
        return {
            "sampler": table["use"],
            "sampler_settings": settings or "defaults",
            "steps": len(sampler.timesteps(self.schedule)),
            "guidance": guidance,
            "ema": self.ema is not None and self.cfg.sample_with_ema,
        }

    def figures(self, batch: Batch, *, generator: torch.Generator) -> Mapping[str, Tensor]:
        """The trajectory grid: each row one sample (of class 0, 1, ... when conditional) at the
        steps in `trajectory_steps`, each column labelled with the step t of the state it shows
        (the first state at or below the step asked for: samplers that skip steps show the next)."""
        from gentk.figures import GridLabels, LabelledFigures

        count, times = self.cfg.trajectory_samples, self.cfg.trajectory_steps
        if count == 0:
            return {}
        labels = torch.arange(count, device=self.device) % self.num_classes if self.num_classes else None
        frames: dict[int, Tensor] = {}
        shown: dict[int, float] = {}  # the step t of each frame

        def keep(time: float, x: Tensor) -> None:
            for want in times:
                if time <= want and want not in frames:
                    frames[want], shown[want] = self.to_images(x), time

        steps = len(self.sampler.timesteps(self.schedule))
        with phase("trajectory", steps, unit="step") as bar:
            count_step = self._counting(bar)

            def keep_frames(time: float, x: Tensor) -> None:
                keep(time, x)
                count_step(time, x)

            self.sampler.sample(
                self._guided_eps(labels, self.cfg.guidance),
                self.schedule,
                (count, *self.info.shape),
                generator=generator,
                on_step=keep_frames,
            )
        grid = torch.stack([frames[t] for t in times], dim=1).flatten(0, 1)  # (count * len(times), C, H, W)
        from torchvision.utils import make_grid

        def name(t: float) -> str:
            what = " (noise)" if t >= self.schedule.num_steps else " (sample)" if t == 0 else ""
            return f"t = {t:g}{what}"

        rows = tuple(f"class {k}" for k in labels.tolist()) if labels is not None else ()
        figure = make_grid(grid, nrow=len(times), padding=2, pad_value=1.0)[None]
        layout = GridLabels(rows=rows, column_labels=tuple(name(shown[t]) for t in times))
        return LabelledFigures({"trajectory": figure}, {"trajectory": layout})

    def _counting(self, bar: Phase) -> StepHook:
        """A step hook that advances `bar` once per reverse step (the first call is the start noise)."""

        def hook(time: float, x: Tensor) -> None:
            if time != self.schedule.num_steps:
                bar.advance()

        return hook

    @staticmethod
    def to_images(x: Tensor) -> Tensor:
        """[-1, 1] -> [0, 1]."""
        return ((x.clamp(-1, 1) + 1) / 2).float()

    def _guided_eps(self, labels: Tensor | None, guidance: float) -> EpsFn:
        """The guided noise prediction the samplers draw from (labels None: unconditional):
        guidance on the denoiser's output, then converted to eps from its parameterization."""
        guided = guided_eps(self._denoise_in_run_precision(), labels, guidance, self.num_classes)
        return eps_from(guided, self.prediction, self.schedule)

    def _denoise_in_run_precision(self) -> Denoiser:
        """The sampling denoiser under the run's autocast (bf16 runs sample in bf16 too); the
        sampler's arithmetic stays in fp32."""
        net, autocast = self.eval_denoiser(), self.autocast

        def denoise(x: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:
            with autocast():
                return net(x, t, y).float()

        return denoise

    def _sample_options(self, options: dict[str, Any]) -> tuple[DiffusionSampler, float]:
        unknown = sorted(set(options) - set(SAMPLE_OPTIONS))
        if unknown:
            raise GentkError(
                f"the ddpm model does not take the sampling option(s) {', '.join(unknown)}",
                hint=f"it takes: {', '.join(SAMPLE_OPTIONS)}",
            )
        guidance = options.get("guidance")
        if guidance is not None and guidance != 0 and not self.num_classes:
            raise GentkError(
                "guidance needs a class-conditional model",
                hint="train with model.conditional = true and objective.p_uncond > 0",
            )
        if guidance is not None and guidance < 0:
            raise GentkError(f"guidance must be >= 0, got {guidance}")
        objective = getattr(self.cfg.objective, "config", None)
        if guidance and isinstance(objective, DDPMObjectiveConfig) and objective.p_uncond == 0:
            raise GentkError(
                "guidance needs a model trained with label dropout: this one was trained with objective.p_uncond = 0, "
                "so its unconditional prediction eps(x) was never learned",
                hint="sample without --guidance (or --guidance 0), or retrain with objective.p_uncond > 0 (e.g. 0.1)",
            )
        sampler = self._sampler(options.get("sampler"), options.get("steps"))
        return sampler, self.cfg.guidance if guidance is None else float(guidance)

    def _sampler(self, name: str | None, steps: int | None) -> DiffusionSampler:
        """The recipe's sampler, or the one named (e.g. on the command line; only samplers that
        provide `DiffusionSampler` fit), with `steps` if given."""
        if name is None and steps is None:
            return self.sampler
        table = {"use": name} if name is not None else to_data(self.cfg.sampler)  # the recipe's, re-checked
        if steps is not None:
            table["steps"] = steps
        spec = resolve_component("sampler", table, accepts=DiffusionSampler)
        most = max_sampler_steps(spec.config, self.schedule.num_steps)
        steps = getattr(spec.config, "steps", None)
        if steps is not None and steps > most:
            raise GentkError(
                f"{steps} sampling steps is more than the {most} sampler {spec.name!r} can take "
                f"on the schedule's T = {self.schedule.num_steps}",
                hint=f"give --steps between 1 and {most}",
            )
        sampler: DiffusionSampler = spec.build()
        return sampler

    def _labels(self, n: int, labels: Tensor | int | None) -> Tensor | None:
        if not self.num_classes:
            if labels is not None:
                raise GentkError(
                    "this ddpm model is unconditional; it cannot sample a class",
                    hint="train with model.conditional = true on a labelled dataset",
                )
            return None
        if labels is None:  # one row per class
            per_class = max(1, round(n / self.num_classes))
            return torch.arange(self.num_classes, device=self.device).repeat_interleave(per_class)
        labels = torch.as_tensor(labels, device=self.device).long().reshape(-1)
        if labels.numel() == 1:
            labels = labels.expand(n)
        if labels.numel() != n or labels.min() < 0 or labels.max() >= self.num_classes:
            raise GentkError(f"labels must be {n} class numbers in 0..{self.num_classes - 1}")
        return labels
