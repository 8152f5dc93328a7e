"""The plugin kit: test a plugin's components against their protocols, and train its recipes.

    from gentk.testing import case_id, check_component, conformance_cases, fresh_plugins, train_recipe
    from gentk_foo import plugin

    PLUGINS = fresh_plugins(plugin, names="foo")  # the bundled plugins plus this one, not installed

    @pytest.mark.parametrize("component", conformance_cases(PLUGINS, "foo"), ids=case_id)
    def test_component_conforms(component):
        checked = check_component(component, PLUGINS)
        if checked.skipped:
            pytest.skip(checked.reason)

    def test_recipe_trains(tmp_path):
        train_recipe("foo:foo_ring", plugins=PLUGINS, tmp_path=tmp_path)

`check_component` builds a component from its default config (or the table a caller gives) on
small data descriptions (`IMAGES`, then `POINTS`: the first its factory accepts), exercises it
against its kind's protocol with tiny tensors (shapes, dtypes, ranges, finiteness) and
round-trips its config through TOML. A failure raises `ConformanceError` (an AssertionError)
naming the component and what is wrong. Components of kinds a plugin declares are checked
against their protocol only.

As a pytest plugin (`pytest_plugins = ["gentk.testing"]`) the module also gives the fixture
`plugin_manager`, a factory of fresh managers that are the process-wide plugins during a test.
"""

from __future__ import annotations

import contextlib
import copy
import math
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from importlib import metadata
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Literal

import attrs
import pytest
import tomli_w
import torch
from torch import Tensor, nn

from gentk import registry
from gentk.errors import ComponentError, GentkError, PluginError, RecipeError
from gentk.families.diffusion import Denoiser, NoiseSchedule
from gentk.families.gan import Critic, Generator
from gentk.families.vae import Decoder, Encoder
from gentk.interfaces import (
    Batch,
    BuildContext,
    DataInfo,
    Dataset,
    FeatureExtractor,
    HasExtraState,
    HasFigures,
    Model,
    Optimizer,
    Split,
    StepContext,
    UsesTrainingData,
)
from gentk.kinds import BUNDLED
from gentk.recipe import apply_overrides, resolve, resolve_component, to_data
from gentk.registry import CORE, ENTRY_POINT_GROUP, Component, Plugins, Spec

IMAGES = DataInfo(shape=(1, 28, 28), num_classes=10, kind="image")
"""Small grey images with 10 classes: the first data description a component is built for."""
POINTS = DataInfo(shape=(2,), kind="points")
"""Unlabelled 2-D points: tried when a component's factory does not accept `IMAGES`."""
INFOS: tuple[DataInfo, ...] = (IMAGES, POINTS)

BATCH = 4
"""Examples per tiny batch."""
LATENT = 4
"""The latent size decoders are built with."""


class ConformanceError(AssertionError):
    """A component does not do what its kind's protocol promises."""


class _Mismatch(Exception):
    """One broken expectation, raised inside an exercise and reported with the component's name."""


def expect(condition: bool, message: str) -> None:
    """Raise (inside an exercise) when `condition` is false."""
    if not condition:
        raise _Mismatch(message)


# -- managers -----------------------------------------------------------------------------------
def fresh_plugins(
    *plugins: Any,
    names: str | Sequence[str] | None = None,
    distribution: str | None = None,
    bundled: bool = True,
    entry_points: bool = False,
) -> Plugins:
    """A plugin manager holding `plugins` (modules or objects with `@hookimpl` hooks), not
    installed: each is added under its name in `names` (default: the top package name without
    `gentk_`, or the object's class name). `bundled` adds gentk's own plugins (which most
    plugins build on: optimizers, datasets); `entry_points` adds every installed plugin instead.
    A plugin of the same name that is installed is replaced by the one given. Registration
    failures and warnings are kept in the manager (`.failures`, `.warnings`), as for installed
    plugins; `conformance_cases` reports them."""
    if isinstance(names, str):
        names = [names]
    names = list(names) if names is not None else [_default_name(p) for p in plugins]
    if len(names) != len(plugins):
        raise ValueError(f"{len(plugins)} plugins but {len(names)} names")
    manager = Plugins(load_entry_points=entry_points)
    if bundled and not entry_points:
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name):
            if ep.dist is not None and ep.dist.name == CORE and ep.name not in names:
                manager.add(ep.load(), ep.name, CORE, ep.dist.version, entry_point=ep.value)
    for plugin, name in zip(plugins, names, strict=True):
        for held in (name, manager.manager.get_name(plugin)):
            if held is not None and manager.manager.has_plugin(held):
                manager.remove(held)
        manager.add(plugin, name, distribution)
    return manager


def _default_name(plugin: Any) -> str:
    module = getattr(plugin, "__name__", None)
    if isinstance(module, str):
        return module.split(".")[0].removeprefix("gentk_")
    return type(plugin).__name__.lower()


@contextlib.contextmanager
def installed(plugins: Plugins) -> Iterator[Plugins]:
    """Make `plugins` the process-wide manager (what `get_plugins()` returns) inside the block,
    for code that resolves components at run time (a sampler named when sampling, say)."""
    before = registry.use_plugins(plugins)
    try:
        yield plugins
    finally:
        registry.use_plugins(before)


@pytest.fixture
def plugin_manager() -> Iterator[Callable[..., Plugins]]:
    """A factory: `plugin_manager(module, names="foo")` is `fresh_plugins(...)`, installed as the
    process-wide manager until the test ends."""
    with contextlib.ExitStack() as stack:

        def make(*plugins: Any, **options: Any) -> Plugins:
            return stack.enter_context(installed(fresh_plugins(*plugins, **options)))

        yield make


# -- conformance --------------------------------------------------------------------------------
def conformance_cases(plugins: Plugins, plugin_name: str | None = None) -> list[Component]:
    """Every component `plugin_name` registers (every component when None), bundled kinds first.
    Raises ConformanceError when the plugin failed to load or register, is not there, or has
    hooks that are never called (a misspelled name, a missing `@hookimpl`)."""
    if plugin_name is not None:
        failures = [f.render() for f in plugins.failures if f.name == plugin_name]
        warnings = [w.render() for w in plugins.warnings if w.name == plugin_name]
        if failures or warnings:
            raise ConformanceError("\n".join(failures + warnings))
        if plugin_name not in {p.name for p in plugins.info}:
            loaded = ", ".join(p.name for p in plugins.info) or "none"
            raise ConformanceError(f"no plugin {plugin_name!r} is loaded (loaded: {loaded})")
    order = {kind: i for i, kind in enumerate(plugins.kinds)}
    chosen = [c for c in plugins.components() if plugin_name is None or c.plugin == plugin_name]
    return sorted(chosen, key=lambda c: (order[c.kind], c.name))


def case_id(component: Component) -> str:
    """`kind:name`, a test id for parametrised conformance tests."""
    return f"{component.kind}:{component.name}"


@attrs.frozen
class Checked:
    """The outcome of a check that did not fail: passed on `info`, or skipped with a reason."""

    component: Component
    status: Literal["passed", "skipped"]
    reason: str = ""
    info: DataInfo | None = None

    @property
    def skipped(self) -> bool:
        return self.status == "skipped"


@attrs.frozen
class Exercise:
    """What an exercise gets besides the built component."""

    spec: Spec
    info: DataInfo
    plugins: Plugins
    generator: torch.Generator

    def data(self, n: int = BATCH) -> Tensor:
        """A batch as models see it: images as floats in [0, 1] ({0, 1} when binarised), points."""
        if self.info.kind == "image":
            x = torch.rand((n, *self.info.shape), generator=self.generator)
            return torch.bernoulli(x, generator=self.generator) if self.info.binarized else x
        return torch.randn((n, *self.info.shape), generator=self.generator)

    def labels(self, n: int = BATCH) -> Tensor | None:
        if not self.info.num_classes:
            return None
        return torch.randint(0, self.info.num_classes, (n,), generator=self.generator)

    def context(self) -> BuildContext:
        return BuildContext(data=self.info, device=torch.device("cpu"))


def check_component(
    component: Component,
    plugins: Plugins,
    *,
    config: Mapping[str, Any] | None = None,
    infos: Sequence[DataInfo] = INFOS,
) -> Checked:
    """Build `component` from its default config (or from the table `config`, without `use`)
    and exercise it; raise ConformanceError when it breaks its protocol. Returns a skipped
    result, with the reason, when the config cannot be resolved (a required field), no data
    description in `infos` suits its factory (a user error from every attempt) or a dataset's
    data cannot be loaded here (a download)."""
    kind = plugins.kind(component.kind)
    where = f"{component.kind} {component.name!r} ({component.origin})"
    if not (component.config.__doc__ or "").strip():
        raise ConformanceError(f"{where}: its config class {component.config.__name__} has no docstring")
    table = {"use": component.name, **copy.deepcopy(dict(config or {}))}
    try:
        spec = resolve_component(component.kind, table, plugins=plugins)
    except GentkError as exc:
        return Checked(component, "skipped", f"its config cannot be resolved: {_render(exc)}")
    _check_round_trip(spec, plugins, where)
    uses_data = kind.name in _DATA_KINDS or (kind.name not in BUNDLED and "ctx" in kind.factory)
    attempts: list[str] = []
    with torch.random.fork_rng(devices=[]):
        for info in infos if uses_data else infos[:1]:
            torch.manual_seed(0)
            ex = Exercise(spec, info, plugins, torch.Generator().manual_seed(0))
            label = f" on {info.kind} {info.shape}" if uses_data else ""
            try:
                built = _build(kind.name, spec, ex)
            except PluginError as exc:  # a lazy path that does not import, a result that breaks its protocol
                raise ConformanceError(f"{where}{label}: {_render(exc)}") from exc
            except ComponentError as exc:  # a crash: a failure unless another data description suits it
                attempts.append(f"{label.strip() or 'build'}: {_render(exc)}")
                continue
            except GentkError as exc:  # the factory refuses this data: try the next description
                attempts.append(f"{label.strip() or 'build'}: {_render(exc)}")
                if uses_data:
                    continue
                return Checked(component, "skipped", f"it cannot be built from this config: {_render(exc)}")
            _verify(built, component, kind.protocol, where)
            exercise = EXERCISES.get(kind.name) if kind.name in BUNDLED else None
            try:
                if exercise is not None:
                    exercise(built, ex)
            except _Mismatch as exc:
                raise ConformanceError(f"{where}{label}: {exc}") from None
            except _DataUnavailable as exc:
                return Checked(component, "skipped", f"its data cannot be loaded here: {exc}", info)
            except Exception as exc:
                raise ConformanceError(f"{where}{label}: raised {type(exc).__name__}: {exc}") from exc
            return Checked(component, "passed", "", info if uses_data else None)
    failed = any(_is_fault(a) for a in attempts)
    message = f"{where} could not be built from its config: " + "; ".join(attempts)
    if failed:
        raise ConformanceError(message)
    return Checked(component, "skipped", message)


_DATA_KINDS = frozenset({"model", "encoder", "decoder", "generator", "critic", "denoiser"})
"""Bundled kinds whose factories take a BuildContext (and so a data description)."""


def _is_fault(attempt: str) -> bool:
    return _FAULT in attempt


_FAULT = "[crashed] "


def _render(exc: GentkError) -> str:
    if isinstance(exc, RecipeError):
        return "; ".join(" ".join(p.render().split()) for p in exc.problems)
    fault = _FAULT if isinstance(exc, ComponentError) else ""
    return fault + exc.message + (f" (hint: {exc.hint})" if exc.hint else "")


def _verify(built: Any, component: Component, protocol: Any, where: str) -> None:
    """The registry checks this when building; checked again so that a kit run says it plainly."""
    for p in (protocol, *component.provides):
        if not isinstance(built, p):
            missing = ", ".join(registry.missing_members(built, p))
            raise ConformanceError(f"{where}: built a {type(built).__name__}, which lacks {missing} of {p.__name__}")


def _check_round_trip(spec: Spec, plugins: Plugins, where: str) -> None:
    """The config written as TOML and read back resolves to an equal config."""
    data = to_data(spec)
    try:
        text = tomli_w.dumps({"component": data})
    except TypeError as exc:
        raise ConformanceError(f"{where}: its config does not write as TOML: {exc} (data: {data!r})") from None
    again = resolve_component(spec.component.kind, tomllib.loads(text)["component"], plugins=plugins)
    if again.config != spec.config:
        raise ConformanceError(
            f"{where}: its config changes through TOML: {spec.config!r} is read back as {again.config!r}"
        )


def _build(kind: str, spec: Spec, ex: Exercise) -> Any:
    """Call the factory with the arguments its kind's signature names."""
    if kind == "decoder":
        return spec.build(ex.context(), latent_dim=LATENT)
    if kind == "optimizer":
        return spec.build(nn.Linear(3, 2).parameters())
    if kind in _DATA_KINDS or (kind not in BUNDLED and "ctx" in ex.plugins.kind(kind).factory):
        return spec.build(ex.context())
    return spec.build()


class _DataUnavailable(Exception):
    """A dataset raised a user error when asked for a split (data to download, say)."""


# -- exercises, one per bundled kind --------------------------------------------------------------
def _finite(t: Tensor, what: str) -> None:
    expect(isinstance(t, Tensor), f"{what} is a {type(t).__name__}, not a tensor")
    expect(t.is_floating_point(), f"{what} has dtype {t.dtype}, not a floating-point dtype")
    expect(bool(torch.isfinite(t.detach()).all()), f"{what} has NaN or infinite values")


def _shape(t: Tensor, shape: Iterable[int], what: str) -> None:
    shape = tuple(shape)
    expect(tuple(t.shape) == shape, f"{what} has shape {tuple(t.shape)}, expected {shape}")


def _in_unit_interval(t: Tensor, what: str) -> None:
    low, high = float(t.detach().min()), float(t.detach().max())
    expect(low >= 0.0 and high <= 1.0, f"{what} lies in [{low:.3g}, {high:.3g}], outside [0, 1]")


def exercise_dataset(ds: Dataset, ex: Exercise) -> None:
    info = ds.info
    expect(isinstance(info, DataInfo), f"info is a {type(info).__name__}, not a DataInfo")
    names: tuple[Literal["train", "test"], ...] = ("train", "test")
    for name in names:
        try:
            split = ds.split(name)
        except (PluginError, ComponentError):
            raise
        except GentkError as exc:
            raise _DataUnavailable(_render(exc)) from None
        expect(isinstance(split, Split), f"split({name!r}) is a {type(split).__name__}, not a Split")
        what = f"split({name!r}).x"
        expect(len(split) > 0, f"split({name!r}) is empty")
        expect(
            tuple(split.x.shape[1:]) == info.shape, f"{what} has shape {tuple(split.x.shape)}, not (N, *{info.shape})"
        )
        if info.kind == "image":
            expect(split.x.dtype == torch.uint8, f"{what} has dtype {split.x.dtype}; images are stored as uint8")
        else:
            _finite(split.x, what)
        if split.y is not None:
            _shape(split.y, (len(split),), f"split({name!r}).y")
            expect(split.y.dtype == torch.int64, f"split({name!r}).y has dtype {split.y.dtype}, not int64")
            if info.num_classes:
                low, high = int(split.y.min()), int(split.y.max())
                expect(
                    0 <= low and high < info.num_classes,
                    f"split({name!r}).y has labels in [{low}, {high}], outside [0, {info.num_classes})",
                )


def exercise_model(model: Model, ex: Exercise) -> None:
    info = ex.info
    expect(
        model.grid_columns is None or (isinstance(model.grid_columns, int) and model.grid_columns > 0),
        f"grid_columns is {model.grid_columns!r}, not a positive int or None",
    )
    expect(isinstance(model.device, torch.device), f"device is {model.device!r}, not a torch.device")
    networks = model.networks()
    expect(isinstance(networks, Mapping), f"networks() returned a {type(networks).__name__}, not a mapping")
    for name, net in networks.items():
        expect(isinstance(net, nn.Module), f"networks()[{name!r}] is a {type(net).__name__}, not an nn.Module")
    for name, opt in model.optimizers().items():
        expect(isinstance(opt, Optimizer), f"optimizers()[{name!r}] is a {type(opt).__name__}, not an Optimizer")
    batch = Batch(ex.data().to(model.device), _to(ex.labels(), model.device))
    for net in networks.values():
        net.train(True)
    figures = model.train_step(batch, StepContext(0, 0, contextlib.nullcontext, model.device))
    expect(isinstance(figures, Mapping), f"train_step returned a {type(figures).__name__}, not a mapping")
    expect("loss" in figures, f"train_step returned no 'loss' (keys: {', '.join(figures) or 'none'})")
    for key, value in figures.items():
        number = float(value.detach()) if isinstance(value, Tensor) else float(value)  # 0-dim tensors, floats
        expect(math.isfinite(number), f"train_step's {key!r} is {number}")
    for net in networks.values():
        net.train(False)
    n = 2
    samples = model.sample(n, generator=torch.Generator(model.device).manual_seed(0))
    _finite(samples, "sample(2)")
    _shape(samples, (n, *info.shape), "sample(2)")
    if info.kind == "image":
        _in_unit_interval(samples, "sample(2)")
    try:
        model.sample(1, generator=torch.Generator(model.device).manual_seed(0), no_such_option=1)
    except GentkError:
        pass
    else:
        raise _Mismatch("sample(..., no_such_option=1) did not raise a GentkError for the unknown option")
    if isinstance(model, HasExtraState):
        model.load_extra_state(copy.deepcopy(model.extra_state()))
    if isinstance(model, HasFigures):
        for name, image in model.figures(batch, generator=torch.Generator(model.device).manual_seed(0)).items():
            _finite(image, f"figures()[{name!r}]")


def _to(t: Tensor | None, device: torch.device) -> Tensor | None:
    return None if t is None else t.to(device)


def exercise_encoder(encoder: Encoder, ex: Exercise) -> None:
    expect(isinstance(encoder.latent_dim, int) and encoder.latent_dim > 0, "latent_dim is not a positive int")
    out = encoder(ex.data())
    expect(isinstance(out, tuple) and len(out) == 2, "encoder(x) did not return a (mean, logvar) pair")
    for part, t in zip(("mean", "logvar"), out, strict=True):
        _finite(t, f"encoder(x) {part}")
        _shape(t, (BATCH, encoder.latent_dim), f"encoder(x) {part}")


def exercise_decoder(decoder: Decoder, ex: Exercise) -> None:
    x = ex.data()
    z = torch.randn((BATCH, LATENT), generator=ex.generator)
    params = decoder(z)
    _finite(params, "decoder(z)")
    expect(params.shape[0] == BATCH, f"decoder(z) has shape {tuple(params.shape)}, not (B, ...)")
    log_prob = decoder.log_prob(x, params)
    _finite(log_prob, "log_prob(x, params)")
    _shape(log_prob, (BATCH,), "log_prob(x, params)")
    mean = decoder.mean(params)
    _finite(mean, "mean(params)")
    _shape(mean, x.shape, "mean(params)")
    if ex.info.kind == "image":
        _in_unit_interval(mean, "mean(params)")
    sample = decoder.sample(params, torch.Generator().manual_seed(0))
    _finite(sample, "sample(params)")
    _shape(sample, x.shape, "sample(params)")
    stacked = decoder(torch.randn((3, BATCH, LATENT), generator=ex.generator))  # leading sample dimension
    _shape(decoder.log_prob(x, stacked), (3, BATCH), "log_prob(x, params) for z of shape (3, B, Z)")


def exercise_generator(generator: Generator, ex: Exercise) -> None:
    z = torch.randn((BATCH, generator.latent_dim), generator=ex.generator)
    out = generator(z, ex.labels() if generator.conditional else None)
    _finite(out, "generator(z, y)")
    _shape(out, (BATCH, *ex.info.shape), "generator(z, y)")
    if generator.output_range is not None:
        low, high = generator.output_range
        lo, hi = float(out.detach().min()), float(out.detach().max())
        expect(
            lo >= low - 1e-4 and hi <= high + 1e-4, f"generator(z, y) lies in [{lo:.3g}, {hi:.3g}], outside {low, high}"
        )


def exercise_critic(critic: Critic, ex: Exercise) -> None:
    x, y = ex.data(), ex.labels() if critic.conditional else None
    scores = critic(x, y)
    _finite(scores, "critic(x, y)")
    _shape(scores, (BATCH,), "critic(x, y)")
    out = critic.forward_aux(x, y)
    expect(isinstance(out, tuple) and len(out) == 2, "forward_aux(x, y) did not return (scores, logits or None)")
    _shape(out[0], (BATCH,), "forward_aux(x, y) scores")
    if out[1] is not None:
        _finite(out[1], "forward_aux(x, y) logits")
        expect(out[1].dim() == 2 and out[1].shape[0] == BATCH, f"forward_aux logits have shape {tuple(out[1].shape)}")


def exercise_denoiser(denoiser: Denoiser, ex: Exercise) -> None:
    x = ex.data() * 2 - 1
    t = torch.randint(0, 100, (BATCH,), generator=ex.generator)
    out = denoiser(x, t, ex.labels())
    _finite(out, "denoiser(x, t, y)")
    _shape(out, x.shape, "denoiser(x, t, y)")


def exercise_schedule(schedule: NoiseSchedule, ex: Exercise) -> None:
    steps = schedule.num_steps
    expect(isinstance(steps, int) and steps > 0, f"num_steps is {steps!r}")
    betas = schedule.betas
    _finite(betas, "betas")
    _shape(betas, (steps,), "betas")
    expect(bool(((betas > 0) & (betas < 1)).all()), "betas are not all in (0, 1)")
    cumprod = schedule.alpha_bar(torch.arange(-1, steps))  # index -1: the clean data
    expect(cumprod.dtype == torch.float64, f"alpha_bar(t) has dtype {cumprod.dtype}, not float64")
    _finite(cumprod, "alpha_bar(t)")
    _shape(cumprod, (steps + 1,), "alpha_bar(arange(-1, T))")
    expect(float(cumprod[0]) == 1.0, f"alpha_bar(-1) is {float(cumprod[0])}, not 1")
    expect(bool((cumprod[1:] < cumprod[:-1]).all()), "alpha_bar(t) is not decreasing in t")
    expect(0 < float(cumprod[-1]), "alpha_bar(T-1) is not positive")
    expect(
        torch.allclose(cumprod[1:], torch.cumprod(1 - betas.double(), 0), rtol=1e-4, atol=1e-6),
        "alpha_bar(t) is not the cumulative product of 1 - betas",
    )
    variance = schedule.posterior_variance
    _finite(variance, "posterior_variance")
    _shape(variance, (steps,), "posterior_variance")
    expect(bool((variance >= 0).all()), "posterior_variance has negative entries")
    x0 = ex.data() * 2 - 1
    t = torch.randint(0, steps, (BATCH,), generator=ex.generator)
    noise = torch.randn(x0.shape, generator=ex.generator)
    _shape(schedule.q_sample(x0, t, noise), x0.shape, "q_sample(x0, t, noise)")
    for what, pair in (("q_mean_var", schedule.q_mean_var(x0, t)), ("posterior", schedule.posterior(x0, x0, t))):
        for part in pair:
            _finite(part, what)
            expect(part.dim() == 0 or part.shape[0] == BATCH, f"{what} gave shape {tuple(part.shape)}, not (B, ...)")
    expect(isinstance(schedule.to("cpu"), NoiseSchedule), "to(device) did not return a NoiseSchedule")


def exercise_optimizer(optimizer: Optimizer, ex: Exercise) -> None:
    params = [p for group in optimizer.param_groups for p in group["params"]]
    expect(bool(params), "param_groups hold no parameters")
    before = [p.detach().clone() for p in params]
    optimizer.zero_grad(set_to_none=True)
    loss = torch.stack([((p - 1) ** 2).sum() for p in params]).sum()
    loss.backward()
    optimizer.step()
    expect(all(bool(torch.isfinite(p).all()) for p in params), "a step made a parameter NaN or infinite")
    expect(
        any(not torch.equal(a, p) for a, p in zip(before, params, strict=True)),
        "a step left the parameters as they were",
    )
    optimizer.load_state_dict(copy.deepcopy(optimizer.state_dict()))


def exercise_feature_extractor(extractor: FeatureExtractor, ex: Exercise) -> None:
    """Features (N, D) of images in [0, 1]: finite, one row per image, the same for an image whatever
    else is in its batch; a card naming the extractor. One that learns from data is fitted first
    on a small labelled split; one whose weights cannot be fetched here is skipped."""
    if isinstance(extractor, UsesTrainingData):
        y = torch.arange(40) % IMAGES.num_classes
        x = (torch.rand((40, *IMAGES.shape), generator=ex.generator) * 255).to(torch.uint8)
        extractor.fit(Split(x, y), IMAGES)
    images = torch.rand((6, *IMAGES.shape), generator=ex.generator)
    try:
        features = extractor.features(images)
    except (PluginError, ComponentError):
        raise
    except GentkError as exc:  # weights to download
        raise _DataUnavailable(_render(exc)) from None
    _finite(features, "features")
    expect(features.dim() == 2 and len(features) == 6, f"features have shape {tuple(features.shape)}, not (6, D)")
    again = extractor.features(images[3:])
    expect(
        torch.allclose(again, features[3:], rtol=1e-4, atol=1e-5),
        "an image's features change with the other images in its batch",
    )
    card = extractor.card()
    expect(isinstance(card, Mapping) and "extractor" in card, f"card() is {card!r}, not a mapping with 'extractor'")


EXERCISES: dict[str, Callable[[Any, Exercise], None]] = {
    "dataset": exercise_dataset,
    "model": exercise_model,
    "encoder": exercise_encoder,
    "decoder": exercise_decoder,
    "generator": exercise_generator,
    "critic": exercise_critic,
    "denoiser": exercise_denoiser,
    "schedule": exercise_schedule,
    "optimizer": exercise_optimizer,
    "feature_extractor": exercise_feature_extractor,
}
"""Bundled kind -> what the kit does with a built component beyond checking its protocols
(objectives, samplers and metrics are checked against their kind and provided protocols)."""


# -- training ------------------------------------------------------------------------------------
def train_recipe(
    recipe: str | Path | Traversable | Mapping[str, Any],
    *,
    tmp_path: str | Path,
    plugins: Plugins | None = None,
    steps: int = 2,
    batch_size: int = 8,
    n_samples: int = 4,
    overrides: Sequence[str] = (),
) -> Path:
    """Train a recipe (a file, a name from the recipe catalog such as `foo:foo_ring`, or a parsed
    table) for one epoch of `steps` small batches on the CPU, with `plugins` as the process-wide
    manager; return the run directory (under `tmp_path/runs`) after checking it holds a
    checkpoint and an epoch record with a finite loss."""
    from gentk import api
    from gentk.rundir import RunDir

    plugins = plugins if plugins is not None else registry.get_plugins()
    with installed(plugins):
        raw, name = _read_recipe(recipe, plugins)
        quick = [
            "run.epochs=1",
            f"run.steps_per_epoch={steps}",
            f"run.batch_size={batch_size}",
            f"run.n_samples={n_samples}",
            'run.device="cpu"',
        ]
        resolved = resolve(apply_overrides(raw, [*quick, *overrides]), file=name, plugins=plugins)
        run = api.train(resolved, out=Path(tmp_path) / "runs", name=Path(name).stem)
    run_dir = RunDir.open(run.path)
    epochs = [r for r in run_dir.metrics() if r.get("kind") == "epoch"]
    if not run_dir.has_checkpoint() or not epochs:
        raise ConformanceError(f"training {name} wrote no checkpoint or no epoch record in {run_dir.path}")
    loss = epochs[-1].get("loss")
    if not isinstance(loss, (int, float)) or not math.isfinite(loss):
        raise ConformanceError(f"training {name} logged the epoch loss {loss!r}")
    return run_dir.path


def _read_recipe(recipe: str | Path | Traversable | Mapping[str, Any], plugins: Plugins) -> tuple[dict, str]:
    if isinstance(recipe, Mapping):
        return copy.deepcopy(dict(recipe)), "recipe"
    if isinstance(recipe, str | Path):
        from gentk.catalog import find_recipe

        recipe = find_recipe(recipe, plugins)
    return tomllib.loads(recipe.read_text(encoding="utf-8")), recipe.name
