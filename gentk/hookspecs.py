"""The hooks a gentk plugin implements.

Every hook receives one argument, `register`, a callback the core binds to the registering
plugin, so that every entry records the plugin and distribution that supplied it. A plugin
implements only the hooks it needs; each implementation is marked with `@hookimpl`.

Component hooks, one per bundled kind, take

    register(name, factory, config, *, provides=(), requires=())

`name` is what recipes write after `use =`; `config` is a frozen attrs class (see
`gentk.config`) whose fields are the recipe keys; `factory(config, ...)` builds the component
(each kind documents its factory's arguments in `gentk.kinds`); `provides` names the family
protocols the built component implements (say `(AdversarialObjective,)`), which is what
sub-component slots that accept only some components of a kind check; `requires` (for
metrics) names the protocols the recipe's model must provide. Factories may be given
lazily with `gentk.registry.lazy("package.module:Name")`, so that listing plugins does not
import heavy modules.
"""

import pluggy

hookspec = pluggy.HookspecMarker("gentk")
hookimpl = pluggy.HookimplMarker("gentk")


@hookspec
def gentk_register_kinds(register):
    """New kinds of component: `register(name, protocol, doc, *, factory="factory(config)")`.

    `protocol` is a runtime-checkable `typing.Protocol` every component of the kind satisfies;
    `factory` documents the factory's signature. Components of the new kind are registered with
    `gentk_register_components`, and configs refer to them with `sub("name", ...)`."""


@hookspec
def gentk_register_components(register):
    """Components of any kind, bundled or declared by a plugin:
    `register(kind, name, factory, config, *, provides=(), requires=())`."""


@hookspec
def gentk_register_recipes(register):
    """Recipes a plugin ships: `register(folder)`, a folder (a path or an
    `importlib.resources` traversable) of `*.toml` recipes; `gentk recipes` lists them and
    `gentk run NAME` runs one by its file name without `.toml`."""


@hookspec
def gentk_register_datasets(register):
    """Datasets: `factory(config) -> Dataset`."""


@hookspec
def gentk_register_models(register):
    """Model families (what the engine trains): `factory(config, ctx: BuildContext) -> Model`."""


@hookspec
def gentk_register_encoders(register):
    """Encoders q(z|x): `factory(config, ctx: BuildContext) -> Encoder`."""


@hookspec
def gentk_register_decoders(register):
    """Decoders p(x|z): `factory(config, ctx: BuildContext, *, latent_dim: int) -> Decoder`; the
    model passes the latent size of its encoder, so a recipe sets it in one place."""


@hookspec
def gentk_register_generators(register):
    """GAN generators: `factory(config, ctx: BuildContext) -> Generator`."""


@hookspec
def gentk_register_critics(register):
    """GAN discriminators and WGAN critics: `factory(config, ctx: BuildContext) -> Critic`."""


@hookspec
def gentk_register_denoisers(register):
    """Diffusion denoisers eps(x_t, t, y): `factory(config, ctx: BuildContext) -> Denoiser`."""


@hookspec
def gentk_register_schedules(register):
    """Diffusion noise schedules: `factory(config) -> NoiseSchedule`."""


@hookspec
def gentk_register_objectives(register):
    """Training objectives (losses): `factory(config) -> Objective`; declare the family protocol
    with `provides=(...)`."""


@hookspec
def gentk_register_samplers(register):
    """Samplers: `factory(config) -> Sampler`; declare the family protocol with `provides=(...)`."""


@hookspec
def gentk_register_metrics(register):
    """Evaluation metrics: `factory(config) -> Metric`."""


@hookspec
def gentk_register_feature_extractors(register):
    """Feature extractors of the sample-quality metrics: `factory(config) -> FeatureExtractor`."""


@hookspec
def gentk_register_optimizers(register):
    """Optimizers: `factory(config, params) -> torch.optim.Optimizer`."""


KIND_HOOKS = {
    "dataset": "gentk_register_datasets",
    "model": "gentk_register_models",
    "encoder": "gentk_register_encoders",
    "decoder": "gentk_register_decoders",
    "generator": "gentk_register_generators",
    "critic": "gentk_register_critics",
    "denoiser": "gentk_register_denoisers",
    "schedule": "gentk_register_schedules",
    "objective": "gentk_register_objectives",
    "sampler": "gentk_register_samplers",
    "metric": "gentk_register_metrics",
    "feature_extractor": "gentk_register_feature_extractors",
    "optimizer": "gentk_register_optimizers",
}
"""Bundled component kind -> the hook that registers it (`gentk_register_components` serves every kind)."""

HOOKS = frozenset(name for name in globals() if name.startswith("gentk_register_"))
"""Every hook name a plugin may implement."""
