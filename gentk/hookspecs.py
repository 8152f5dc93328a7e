"""The hooks a gentk plugin implements.

Every hook receives a `register` callback bound to one kind of component:

    register(name, factory, config)

`name` is what recipes write after `use =`; `config` is an attrs class (see `gentk.config`)
whose fields are the recipe keys; `factory(config, *args)` builds the component. Factories may
be given lazily with `gentk.registry.lazy("package.module:Name")` so that listing plugins does
not import heavy modules. A plugin implements only the hooks it needs.
"""

import pluggy

hookspec = pluggy.HookspecMarker("gentk")
hookimpl = pluggy.HookimplMarker("gentk")


@hookspec
def gentk_register_datasets(register):
    """Datasets: `factory(config) -> gentk.interfaces.Dataset`."""


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
    """Training objectives (losses): `factory(config) -> Objective`."""


@hookspec
def gentk_register_samplers(register):
    """Samplers: `factory(config) -> Sampler`."""


@hookspec
def gentk_register_metrics(register):
    """Evaluation metrics for `gentk eval`: `factory(config) -> Metric`."""


@hookspec
def gentk_register_optimizers(register):
    """Optimizers: `factory(config, params) -> torch.optim.Optimizer`."""


KINDS = {
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
    "optimizer": "gentk_register_optimizers",
}
"""Component kind -> the hook that registers it."""
