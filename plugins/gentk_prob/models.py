"""Models that put `gentk.prob` to work on toy data through the normal engine.

`LangevinTarget` samples a toy2d mixture by Langevin dynamics on its exact density;
`GMMEM` fits a Gaussian mixture by EM, one iteration per training step.
"""

from typing import Any

import torch
from einops import rearrange
from torch import Tensor, nn

from gentk.errors import GentkError
from gentk.families.density import DensitySampler
from gentk.interfaces import Batch, BuildContext, LogDensity, StepContext
from gentk.prob import GaussianMixture, diag_gaussian_log_prob, em_step, initial_mixture, toy_mixture
from gentk_prob import plots
from gentk_prob.configs import GMMEMConfig, LangevinTargetConfig


def _seeded_generator(device: torch.device) -> torch.Generator:
    """A generator for the model's own randomness, seeded from torch's global RNG (which the engine
    seeds from run.seed), so a run repeats exactly."""
    return torch.Generator(device).manual_seed(int(torch.randint(0, 2**62, ())))


def _no_options(model: str, options: dict[str, Any], supported: str) -> None:
    given = [k for k, v in options.items() if v is not None]
    if given:
        raise GentkError(f"{model} does not take the sampling option(s) {', '.join(given)}", hint=supported)


class ComponentDensity:
    """Log-density for chains pinned to one mixture component each: chain b targets N(mu_{k_b}, std_{k_b}²)."""

    def __init__(self, mixture: GaussianMixture, labels: Tensor):
        if bool(((labels < 0) | (labels >= mixture.num_components)).any()):
            raise GentkError(f"mode labels must be in 0..{mixture.num_components - 1}")
        self.means = mixture.means[labels]  # (B, D)
        self.logvar = 2 * mixture.stds[labels].log()  # (B, D)

    def log_prob(self, x: Tensor) -> Tensor:
        return diag_gaussian_log_prob(x, self.means, self.logvar)  # (B,)


class LangevinTarget:
    """No trainable parameters. Each training step advances `chains` persistent Langevin chains by
    `steps_per_batch` steps and logs loss = -mean log p(chains), data_nll = -mean log p(batch) and
    their gap, which shrinks to about zero once the chains have reached the target. `sample` runs
    fresh chains with the configured sampler; `--class K` pins them to mode K."""

    def __init__(self, cfg: LangevinTargetConfig, ctx: BuildContext):
        if ctx.data.kind != "points" or ctx.data.shape != (2,):
            raise GentkError(
                "langevin_target samples toy2d mixtures: the data must be 2-D points",
                hint='use [data] use = "toy2d" with name = "ring" or "grid"',
            )
        self.cfg = cfg
        self.device = ctx.device or torch.device("cpu")
        self.grid_columns: int | None = None
        self.target = toy_mixture(cfg.mixture, cfg.std).to(self.device)
        self.sampler: DensitySampler = cfg.sampler.build()  # the slot accepts only DensitySamplers
        self.rng = _seeded_generator(self.device)
        self.chains = self.sampler.run(self.target, (cfg.chains, 2), generator=self.rng, steps=0).samples

    def networks(self) -> dict[str, nn.Module]:
        return {}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {}

    def log_prob(self, x: Tensor) -> Tensor:
        """The target's exact log-density, (B, 2) -> (B,)."""
        return self.target.log_prob(x.to(self.device))

    def train_step(self, batch: Batch, ctx: StepContext) -> dict[str, Tensor | float]:
        result = self.sampler.run(
            self.target, tuple(self.chains.shape), generator=self.rng, x0=self.chains, steps=self.cfg.steps_per_batch
        )
        self.chains = result.samples
        chain_nll = -self.target.log_prob(self.chains).mean()
        data_nll = -self.target.log_prob(batch.x).mean()
        out: dict[str, Tensor | float] = {"loss": chain_nll, "data_nll": data_nll, "gap": chain_nll - data_nll}
        if result.acceptance is not None:
            out["acceptance"] = result.acceptance
        return out

    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator,
        labels: Tensor | None = None,
        sampler: str | None = None,
        steps: int | None = None,
        **options: Any,
    ) -> Tensor:
        _no_options("langevin_target", options, "it takes --class (a mode index), --sampler and --steps")
        chosen = self.sampler
        if sampler is not None and sampler != self.cfg.sampler.name:
            from gentk.recipe import resolve_component

            chosen = resolve_component("sampler", sampler, accepts=DensitySampler).build()
        target: LogDensity = self.target
        if labels is not None:
            target = ComponentDensity(self.target, labels.to(self.device))
        return chosen.sample(target, (n, 2), generator=generator, steps=steps)

    def figures(self, batch: Batch, *, generator: torch.Generator) -> dict[str, Tensor]:
        image = plots.density_plot(self.target, self.chains, f"target and {len(self.chains)} persistent chains")
        return {"chains": image}

    def extra_state(self) -> dict[str, Any]:
        return {"chains": self.chains, "rng": self.rng.get_state()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.chains = state["chains"].to(self.device)
        self.rng.set_state(state["rng"].cpu())


class MixtureParameters(nn.Module):
    """The parameters of a diagonal Gaussian mixture, held as buffers so checkpoints keep them."""

    means: Tensor  # (K, D)
    stds: Tensor  # (K, D)
    weights: Tensor  # (K,)
    fitted: Tensor  # () bool

    def __init__(self, k: int, d: int):
        super().__init__()
        self.register_buffer("means", torch.zeros(k, d))
        self.register_buffer("stds", torch.ones(k, d))
        self.register_buffer("weights", torch.full((k,), 1.0 / k))
        self.register_buffer("fitted", torch.tensor(False))

    def mixture(self) -> GaussianMixture:
        return GaussianMixture(self.means, self.stds, self.weights)

    def assign(self, mixture: GaussianMixture) -> None:
        self.means.copy_(mixture.means)
        self.stds.copy_(mixture.stds)
        self.weights.copy_(mixture.weights)
        self.fitted.fill_(True)


class GMMEM:
    """A K-component diagonal Gaussian mixture on flattened data, fitted by EM: the first training
    step seeds it (k-means++ or random points), every step runs one EM iteration on its batch and logs the average
    log-likelihood after it (loss is its negative) and the improvement, which EM keeps ≥ 0 when every
    step sees the same data (one batch holding the whole split)."""

    def __init__(self, cfg: GMMEMConfig, ctx: BuildContext):
        self.cfg = cfg
        self.info = ctx.data
        self.device = ctx.device or torch.device("cpu")
        self.grid_columns: int | None = None
        self.params = MixtureParameters(cfg.components, ctx.data.numel).to(self.device)
        self.rng = _seeded_generator(self.device)
        self.trace: list[float] = []

    def networks(self) -> dict[str, nn.Module]:
        return {"mixture": self.params}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {}

    def mixture(self) -> GaussianMixture:
        if not bool(self.params.fitted):
            raise GentkError("the mixture has not been fitted yet", hint="train it first: gentk run <recipe>")
        return self.params.mixture()

    def _flat(self, x: Tensor) -> Tensor:
        return rearrange(x.float().to(self.device), "b ... -> b (...)")  # (B, D)

    def log_prob(self, x: Tensor) -> Tensor:
        """Log-density of examples (B, ...) under the fitted mixture, (B,)."""
        return self.mixture().log_prob(self._flat(x))

    def train_step(self, batch: Batch, ctx: StepContext) -> dict[str, Tensor | float]:
        x = self._flat(batch.x)  # (B, D)
        if not bool(self.params.fitted):
            start = initial_mixture(x, self.cfg.components, self.rng, method=self.cfg.init, min_std=self.cfg.min_std)
            self.params.assign(start)
        new, before = em_step(x, self.params.mixture(), self.cfg.min_std)
        self.params.assign(new)
        after = new.log_prob(x).mean()
        self.trace.append(float(after))
        return {"loss": -after, "log_likelihood": after, "improvement": after - before}

    def sample(self, n: int, *, generator: torch.Generator, labels: Tensor | None = None, **options: Any) -> Tensor:
        if labels is not None:
            raise GentkError("gmm_em takes no class labels", hint="mixture components are not classes; drop --class")
        _no_options("gmm_em", options, "it takes no sampling options; run `gentk sample RUN --n N --out F`")
        x = self.mixture().sample((n,), generator=generator)  # (n, D)
        x = x.reshape(n, *self.info.shape)
        return x.clamp(0, 1) if self.info.kind == "image" else x

    def figures(self, batch: Batch, *, generator: torch.Generator) -> dict[str, Tensor]:
        if self.info.kind == "image":
            means = self.mixture().means.reshape(-1, *self.info.shape)  # (K, C, H, W)
            return {"component_means": means.clamp(0, 1)}
        if self.info.shape != (2,):
            return {}
        return {"fit": plots.fit_plot(self.mixture(), self._flat(batch.x), self.trace)}

    def extra_state(self) -> dict[str, Any]:
        return {"trace": torch.tensor(self.trace, dtype=torch.float64), "rng": self.rng.get_state()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.trace = state["trace"].tolist()
        self.rng.set_state(state["rng"].cpu())
