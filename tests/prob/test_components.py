"""The prob plugin's components: sampler, models, metrics, recipes, and mode coverage."""

import math
from pathlib import Path

import pytest
import torch

from gentk.errors import GentkError, RecipeError
from gentk.families.density import DensitySampler
from gentk.interfaces import (
    Batch,
    BuildContext,
    DataInfo,
    HasExtraState,
    HasFigures,
    LogDensity,
    Metric,
    Model,
    Split,
    StepContext,
)
from gentk.prob import mode_coverage, toy_mixture_centres
from gentk.recipe import load_recipe, resolve_component
from gentk.registry import get_plugins
from tests.stubs import BareModel

RECIPES = Path(__file__).parents[2] / "recipes"
POINTS = DataInfo(shape=(2,), num_classes=8, kind="points")


def ring_points(n, seed=0, std=0.02):
    centres = toy_mixture_centres("ring")
    g = torch.Generator().manual_seed(seed)
    return centres[torch.randint(8, (n,), generator=g)] + std * torch.randn(n, 2, generator=g)


def step_ctx(step=0):
    import contextlib

    return StepContext(step, 0, contextlib.nullcontext, torch.device("cpu"))


def build_model(table, info=POINTS):
    return resolve_component("model", table).build(BuildContext(data=info, device=torch.device("cpu")))


def test_every_component_is_registered_with_documented_fields():
    import attrs

    from gentk.config import field_doc

    ours = [c for c in get_plugins().components() if c.plugin == "prob"]
    assert {(c.kind, c.name) for c in ours} == {
        ("sampler", "langevin"),
        ("model", "langevin_target"),
        ("model", "gmm_em"),
        ("metric", "mode_coverage"),
        ("metric", "log_likelihood"),
    }
    for component in ours:
        assert component.summary
        assert all(field_doc(f) for f in attrs.fields(component.config))


def test_mode_coverage_counts_modes_and_quality():
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    g = torch.Generator().manual_seed(0)
    near = centres[torch.tensor([0, 1, 2] * 100)] + 0.1 * torch.randn(300, 2, generator=g)
    far = torch.full((100, 2), 5.0)
    result = mode_coverage(torch.cat([near, far]), centres, 0.1)
    assert (result.modes_covered, result.num_modes) == (3, 4)
    assert result.coverage == 0.75
    assert result.high_quality == pytest.approx(300 * (1 - math.exp(-4.5)) / 400, abs=0.03)
    assert mode_coverage(near[:5], centres, 0.1, min_fraction=1.0).modes_covered == 2  # needs 1.25 each


def test_langevin_sampler_component_samples_a_gaussian():
    sampler = resolve_component("sampler", {"use": "langevin", "step_size": 0.05, "steps": 200, "mala": True}).build()
    log_p = lambda x: -0.5 * ((x - 1.0) ** 2).sum(-1)  # noqa: E731  N(1, I)
    x = sampler.sample(log_p, (2000, 2), generator=torch.Generator().manual_seed(0))
    assert x.shape == (2000, 2)
    assert torch.allclose(x.mean(0), torch.ones(2), atol=0.1)
    assert torch.allclose(x.var(0), torch.ones(2), atol=0.15)


def langevin_table(**sampler):
    return {
        "use": "langevin_target",
        "mixture": "ring",
        "chains": 64,
        "steps_per_batch": 20,
        "sampler": {"use": "langevin", "step_size": 1e-4, "steps": 200, "init_std": 2.0, **sampler},
    }


def test_langevin_target_trains_samples_and_restores():
    torch.manual_seed(0)
    model = build_model(langevin_table(mala=True))
    assert isinstance(model, Model) and isinstance(model, HasExtraState) and isinstance(model, HasFigures)
    assert isinstance(model, LogDensity) and isinstance(model.sampler, DensitySampler)
    batch = Batch(ring_points(256))
    figures = [model.train_step(batch, step_ctx(i)) for i in range(5)]
    last = {k: float(v) for k, v in figures[-1].items()}
    assert abs(last["gap"]) < 0.5 and 0.5 < last["acceptance"] <= 1
    x = model.sample(200, generator=torch.Generator().manual_seed(1))
    assert mode_coverage(x, model.target.means, 0.02).modes_covered == 8
    pinned = model.sample(50, generator=torch.Generator().manual_seed(1), labels=torch.full((50,), 3))
    assert float((pinned - model.target.means[3]).norm(dim=-1).max()) < 0.2
    state = model.extra_state()
    other = build_model(langevin_table(mala=True))
    other.load_extra_state(state)
    assert torch.equal(other.chains, model.chains)
    assert model.figures(batch, generator=torch.Generator())["chains"].shape[:2] == (1, 3)
    with pytest.raises(GentkError):
        model.sample(4, generator=torch.Generator(), guidance=2.0)


def test_langevin_target_needs_points():
    with pytest.raises(GentkError):
        build_model(langevin_table(), DataInfo(shape=(1, 28, 28)))


def test_gmm_em_fits_and_checkpoints():
    torch.manual_seed(0)
    model = build_model({"use": "gmm_em", "components": 8})
    with pytest.raises(GentkError):
        model.log_prob(torch.zeros(1, 2))  # not fitted yet
    batch = Batch(ring_points(2000))
    trace = [float(model.train_step(batch, step_ctx(i))["log_likelihood"]) for i in range(5)]
    assert all(b >= a - 1e-5 for a, b in zip(trace, trace[1:], strict=False))
    assert trace[-1] > 2.5  # the ring's entropy is about -2.9 nats
    state = {k: v.clone() for k, v in model.networks()["mixture"].state_dict().items()}
    other = build_model({"use": "gmm_em", "components": 8})
    other.networks()["mixture"].load_state_dict(state)
    other.load_extra_state(model.extra_state())
    assert torch.allclose(other.log_prob(batch.x), model.log_prob(batch.x))
    assert other.trace == model.trace
    x = model.sample(500, generator=torch.Generator().manual_seed(0))
    assert mode_coverage(x, model.mixture().means, 0.02).modes_covered == 8
    with pytest.raises(GentkError):
        model.sample(4, generator=torch.Generator(), labels=torch.zeros(4, dtype=torch.long))


def test_gmm_em_on_images_samples_images():
    info = DataInfo(shape=(1, 4, 4))
    model = build_model({"use": "gmm_em", "components": 3}, info)
    model.train_step(Batch(torch.rand(30, 1, 4, 4)), step_ctx())
    x = model.sample(5, generator=torch.Generator())
    assert x.shape == (5, 1, 4, 4) and float(x.min()) >= 0 and float(x.max()) <= 1
    assert model.figures(Batch(torch.rand(2, 1, 4, 4)), generator=torch.Generator())["component_means"].shape == (
        3,
        1,
        4,
        4,
    )


def test_metrics_on_a_fitted_mixture():
    torch.manual_seed(0)
    model = build_model({"use": "gmm_em", "components": 8})
    model.train_step(Batch(ring_points(2000)), step_ctx())
    test = Split(ring_points(1000, seed=1))
    g = torch.Generator().manual_seed(0)
    coverage = resolve_component("metric", {"use": "mode_coverage", "n_samples": 500}).build()
    result = coverage.evaluate(model, test, POINTS, generator=g)
    assert result["modes"] == 8 and result["high_quality"] > 0.95 and "warning" not in result
    ll = resolve_component("metric", "log_likelihood").build().evaluate(model, test, POINTS, generator=g)
    assert 2.5 < ll["log_likelihood"] < 3.3 and 0 < ll["stderr"] < 0.1


def test_mode_coverage_metric_warns_on_collapse_and_identifies_the_grid():
    from gentk_prob.metrics import identify_mixture

    class Collapsed:
        device = torch.device("cpu")

        def sample(self, n, *, generator, **options):
            return torch.tensor([[2.0, 0.0]]).repeat(n, 1)

    test = Split(ring_points(1000))
    metric = resolve_component("metric", "mode_coverage").build()
    result = metric.evaluate(Collapsed(), test, POINTS, generator=torch.Generator())
    assert result["modes"] == 1 and "7 of 8 modes" in result["warning"]
    grid = toy_mixture_centres("grid")
    points = grid.repeat(10, 1) + 0.05 * torch.randn(250, 2)
    name, centres, std = identify_mixture(points)
    assert name == "grid" and std == pytest.approx(0.05, rel=0.3)
    with pytest.raises(GentkError):
        resolve_component("metric", "log_likelihood").build().evaluate(
            Collapsed(), test, POINTS, generator=torch.Generator()
        )


@pytest.mark.parametrize("name", ["langevin_ring", "mala_ring", "em_grid"])
def test_recipes_resolve(name):
    recipe = load_recipe(RECIPES / f"{name}.toml")
    assert recipe.data.name == "toy2d"


def test_recipes_run_end_to_end(tmp_path):
    import gentk.api as gk

    quick = [
        "run.epochs=1",
        "run.steps_per_epoch=2",
        "run.n_samples=100",
        "run.threads=1",
        "model.sampler.steps=100",
        "metrics.0.n_samples=200",
    ]
    run = gk.train(RECIPES / "mala_ring.toml", overrides=quick, out=tmp_path)
    last = run.metrics("epoch")[-1]
    assert last["mode_coverage/modes"] == 8 and 0.5 < last["acceptance"] <= 1
    assert (run.path / "figures" / "chains_epoch001.png").is_file()
    assert run.sample(10, steps=20).shape == (10, 2)
    em = gk.train(
        RECIPES / "em_grid.toml",
        overrides=[
            "run.epochs=3",
            "run.n_samples=100",
            "run.threads=1",
            "data.n_train=2000",
            "run.batch_size=2000",
            "metrics.1.n_samples=500",
        ],
        out=tmp_path,
    )
    trace = [r["log_likelihood"] for r in em.metrics("epoch")]
    assert len(trace) == 3 and all(b >= a - 1e-5 for a, b in zip(trace, trace[1:], strict=False))
    assert em.evaluate("mode_coverage")["modes"] == 25
    assert (em.path / "figures" / "fit_epoch003.png").is_file()


def test_components_implement_their_protocols():
    """Every component builds into what its kind and its registration promise: models are Models
    and LogDensities (declared with provides=, which the log_likelihood metric relies on), the
    sampler a DensitySampler, the metrics Metrics. Catches a model losing log_prob or grid_columns,
    or a registration that stops declaring what the component provides."""
    table = get_plugins().registries
    for name in ("langevin_target", "gmm_em"):
        assert LogDensity in table["model"][name].provides
        model = build_model({"use": name})
        assert isinstance(model, Model) and isinstance(model, LogDensity) and model.grid_columns is None
    assert DensitySampler in table["sampler"]["langevin"].provides
    for name in ("mode_coverage", "log_likelihood"):
        assert isinstance(resolve_component("metric", name).build(), Metric)


def test_log_likelihood_of_a_model_without_a_density_is_a_user_error():
    """The log_likelihood metric checks isinstance(model, LogDensity) before scoring. Catches it
    calling log_prob on any model, which reached the user as an AttributeError from the metric
    rather than a GentkError that says which models have an exact density."""
    assert isinstance(BareModel(), Model) and not isinstance(BareModel(), LogDensity)
    metric = resolve_component("metric", "log_likelihood").build()
    with pytest.raises(GentkError, match="no exact log-density"):
        metric.evaluate(BareModel(), Split(ring_points(10)), POINTS, generator=torch.Generator())


def test_the_langevin_target_takes_only_density_samplers_on_the_command_line():
    """`gentk sample RUN --sampler NAME` resolves the sampler against DensitySampler. Catches a
    diffusion sampler being built and then called with a log-density it cannot use."""
    model = build_model(langevin_table())
    with pytest.raises(RecipeError) as info:
        model.sample(4, generator=torch.Generator(), sampler="ddim")
    [problem] = info.value.problems
    assert "DensitySampler" in problem.message and "langevin" in problem.hint
