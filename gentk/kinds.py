"""Component kinds: what each kind's components are (a protocol), and how they are built.

The core declares the bundled kinds; a plugin declares more through `gentk_register_kinds`.
The registry checks every built component against its kind's protocol and against the family
protocols it says it provides.
"""

from __future__ import annotations

from typing import Any

import attrs

from gentk import interfaces as base
from gentk.families import diffusion, gan, vae


@attrs.frozen
class Kind:
    """A kind of component: `use = "name"` in a recipe picks one of its registered components."""

    name: str
    protocol: Any  # a runtime-checkable typing.Protocol
    doc: str
    factory: str = "factory(config)"  # the factory's signature, for authors and `gentk describe`
    needs_family: bool = False  # components must declare the family protocol they implement
    plugin: str = "gentk"
    distribution: str | None = "gentk"


def protocol_name(protocol: Any) -> str:
    return getattr(protocol, "__name__", str(protocol))


def protocol_summary(protocol: Any) -> str:
    """The first sentence of a protocol's docstring."""
    doc = " ".join((protocol.__doc__ or "").split())
    return doc.split(". ")[0].rstrip(".")


BUNDLED: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(
            "dataset",
            base.Dataset,
            "A dataset held in memory with a training and a held-out split.",
            "factory(config) -> Dataset",
        ),
        Kind(
            "model",
            base.Model,
            "What `gentk run` trains: a model family with its networks and optimizers.",
            "factory(config, ctx: BuildContext) -> Model",
        ),
        Kind("encoder", vae.Encoder, "q(z|x) of a VAE.", "factory(config, ctx: BuildContext) -> Encoder"),
        Kind(
            "decoder",
            vae.Decoder,
            "p(x|z) of a VAE.",
            "factory(config, ctx: BuildContext, *, latent_dim: int) -> Decoder",
        ),
        Kind("generator", gan.Generator, "G(z, y) of a GAN.", "factory(config, ctx: BuildContext) -> Generator"),
        Kind("critic", gan.Critic, "D(x, y) of a GAN or WGAN.", "factory(config, ctx: BuildContext) -> Critic"),
        Kind(
            "denoiser",
            diffusion.Denoiser,
            "eps_theta(x_t, t, y) of a diffusion model.",
            "factory(config, ctx: BuildContext) -> Denoiser",
        ),
        Kind("schedule", diffusion.NoiseSchedule, "A diffusion noise schedule.", "factory(config) -> NoiseSchedule"),
        Kind(
            "objective",
            base.Objective,
            "A training objective; declares its family protocol with provides=.",
            "factory(config) -> Objective",
            needs_family=True,
        ),
        Kind(
            "sampler",
            base.Sampler,
            "A sampler; declares its family protocol with provides=.",
            "factory(config) -> Sampler",
            needs_family=True,
        ),
        Kind(
            "metric",
            base.Metric,
            "Evaluates a trained model on held-out data.",
            "factory(config) -> Metric",
        ),
        Kind(
            "feature_extractor",
            base.FeatureExtractor,
            "Maps images to features for sample-quality metrics (FID, KID, precision/recall).",
            "factory(config) -> FeatureExtractor",
        ),
        Kind(
            "optimizer",
            base.Optimizer,
            "An optimizer of a model's parameters.",
            "factory(config, params: Iterable[Parameter]) -> Optimizer",
        ),
    )
}
"""The kinds the core declares (each has its own hook in `gentk.hookspecs`)."""
