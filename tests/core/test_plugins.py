"""Plugin discovery and the plugin contract: third-party distributions, isolation of broken
plugins, attribution of their errors, blocking, and kinds declared by plugins."""

import textwrap

import pytest

from gentk import api, hookspecs
from gentk.errors import ComponentError, GentkError, Interrupted, PluginError, RecipeError
from gentk.hookspecs import hookimpl
from gentk.kinds import BUNDLED
from gentk.recipe import load_recipe, resolve
from gentk.registry import Plugins, get_plugins

from .conftest import make_distribution
from .test_cli import gentk

VAE_TOY = "recipes/vae_toy.toml"
QUICK = ["--set", "run.epochs=1", "--set", "run.steps_per_epoch=2", "--set", "run.n_samples=4"]


def test_third_party_plugin_is_discovered_with_its_distribution(example_plugin):
    plugins = get_plugins()
    info = {p.name: p for p in plugins.info}["example"]
    assert (info.distribution, info.version) == ("gentk-example-plugin", "0.1.0")
    component = plugins.get("model", "gaussian_fit")
    assert (component.plugin, component.distribution) == ("example", "gentk-example-plugin")


def test_third_party_component_trains_from_a_recipe(blob_recipe, tmp_path):
    run = api.train(blob_recipe, out=tmp_path / "runs")
    mean = run.model.net["mean"].detach()
    assert run.metrics("epoch")[-1]["loss"] < run.metrics("epoch")[0]["loss"]
    assert mean.shape == (2,) and float(mean.min()) > 1.0  # moved from 0 towards the blob at 3


# -- broken plugins: each is skipped, named, and the bundled recipes keep working ---------------
BROKEN = {
    "import_error": "raise ImportError('missing dependency foo')\n",
    "non_attrs_config": """
        from gentk.hookspecs import hookimpl
        @hookimpl
        def gentk_register_datasets(register):
            register('plain', lambda cfg: None, dict)
    """,
    "wrong_argument_name": """
        from gentk.hookspecs import hookimpl
        @hookimpl
        def gentk_register_datasets(reg):
            pass
    """,
    "name_clash": """
        from gentk.hookspecs import hookimpl
        from gentk.config import config
        @config
        class C:
            '''A second vae.'''
        @hookimpl
        def gentk_register_models(register):
            register('vae', lambda cfg, ctx: None, C)
    """,
    "raises_in_hook": """
        from gentk.hookspecs import hookimpl
        @hookimpl
        def gentk_register_models(register):
            raise RuntimeError('registration exploded')
    """,
}
"""Plugin module sources that must each be skipped without breaking anything else."""


SLOPPY = {
    "misspelled_hook": """
        from gentk.hookspecs import hookimpl
        @hookimpl
        def gentk_register_dataset(register):
            pass
    """,
    "wrong_factory_type": """
        from gentk.hookspecs import hookimpl
        from gentk.config import config
        @config
        class C:
            '''A dataset whose factory returns a dict.'''
        @hookimpl
        def gentk_register_datasets(register):
            register('not_a_dataset', lambda cfg: {}, C)
    """,
}
"""Plugins that load but are wrong: warned about, or failing only when their component is built."""


@pytest.fixture
def broken(site):
    """Install every BROKEN and SLOPPY plugin as its own distribution `broken-<variant>`."""
    for variant, source in {**BROKEN, **SLOPPY}.items():
        (site / f"broken_{variant}.py").write_text(textwrap.dedent(source))
        make_distribution(site, f"broken-{variant}", {variant: f"broken_{variant}"})
    return site


def test_each_broken_plugin_is_skipped_and_named(broken):
    """Catches one plugin's registration mistake taking every command down, or being skipped silently."""
    plugins = Plugins()
    plugins.registries  # noqa: B018
    failed = {f.name: f for f in plugins.failures}
    assert set(failed) == set(BROKEN)
    assert failed["import_error"].stage == "import" and "missing dependency foo" in failed["import_error"].cause
    assert "not an attrs class" in failed["non_attrs_config"].cause
    assert "reg" in failed["wrong_argument_name"].cause
    assert "'diffusion'" in failed["name_clash"].cause or "'vae'" in failed["name_clash"].cause
    assert "registration exploded" in failed["raises_in_hook"].cause
    for failure in failed.values():
        line = failure.render()
        assert failure.name in line and f"broken-{failure.name}" in line and "GENTK_BLOCK_PLUGINS" in line
        assert "\n" not in line
    assert plugins.get("model", "vae").plugin == "vae"  # the bundled vae survived the clash
    assert "plain" not in plugins.registries["dataset"]


def test_bundled_recipes_check_and_run_beside_broken_plugins(broken, capsys, tmp_path):
    """Catches a broken plugin failing `gentk check` / `gentk run` of a bundled recipe, and
    warnings that do not name the plugin."""
    code, out, err = gentk(capsys, "check", VAE_TOY)
    assert code == 0 and "ok" in out
    for variant in BROKEN:
        assert f"plugin '{variant}' (broken-{variant})" in err
    assert "gentk_register_dataset is not a gentk hook" in err and "misspelled_hook" in err
    code, out, err = gentk(capsys, "run", VAE_TOY, "--out", tmp_path, "--quiet", *QUICK)
    assert code == 0 and "done" in out
    wrong = ["--set", "data.use=not_a_dataset", "--out", tmp_path, "--quiet", *QUICK]
    code, _, err = gentk(capsys, "run", VAE_TOY, *wrong)
    assert code == 2 and "dataset 'not_a_dataset' (plugin 'wrong_factory_type'" in err
    assert "does not implement Dataset" in err


def test_plugins_command_lists_failures_and_exits_non_zero(broken, capsys):
    code, out, _ = gentk(capsys, "plugins")
    assert code == 1
    assert "failed to import" in out and "failed to register" in out and "import_error" in out


def test_misspelled_and_unmarked_hooks_are_reported():
    """Catches a misspelled hook (never called) passing silently."""

    class Sloppy:
        @hookimpl
        def gentk_register_dataset(self, register):  # missing the s
            pass

        def gentk_register_models(self, register):  # not marked @hookimpl
            pass

    plugins = Plugins(load_entry_points=False)
    assert plugins.add(Sloppy(), "sloppy")
    text = " ".join(plugins.problems())
    assert "gentk_register_dataset is not a gentk hook" in text and "did you mean gentk_register_datasets" in text
    assert "gentk_register_models is not marked with @hookimpl" in text


def test_environment_variable_blocks_named_plugins(example_plugin, monkeypatch):
    monkeypatch.setenv("GENTK_BLOCK_PLUGINS", "example, other")
    plugins = Plugins()
    assert "example" not in {p.name for p in plugins.info}
    with pytest.raises(GentkError) as info:
        plugins.get("dataset", "blob")
    assert "installed plugins" in info.value.hint


def test_missing_component_lists_what_is_installed():
    with pytest.raises(GentkError) as info:
        get_plugins().get("optimizer", "adamax")
    assert "adam" in info.value.hint and "common" in info.value.hint


def test_plugin_object_registered_at_run_time():
    class Extra:
        @hookimpl
        def gentk_register_optimizers(self, register):
            from gentk_common.configs import SGDConfig

            register("sgd_copy", lambda cfg, params: None, SGDConfig)

    plugins = Plugins()
    plugins.add(Extra(), "extra")
    assert plugins.get("optimizer", "sgd_copy").plugin == "extra"
    plugins.remove("extra")
    assert "sgd_copy" not in plugins.registries["optimizer"]


def test_every_hook_is_documented_and_every_bundled_kind_has_one():
    hooks = [name for name in dir(hookspecs) if name.startswith("gentk_register_")]
    assert sorted(hooks) == sorted(hookspecs.HOOKS)
    assert set(hookspecs.KIND_HOOKS) == set(BUNDLED)
    for name in hooks:
        assert getattr(hookspecs, name).__doc__.strip(), name


def test_objective_without_a_family_protocol_is_refused():
    """Catches objectives that accept anything: an objective must say which family it serves."""

    class Vague:
        @hookimpl
        def gentk_register_objectives(self, register):
            from gentk_vae.configs import ELBOConfig

            register("vague", lambda cfg: object(), ELBOConfig)

    plugins = Plugins()
    plugins.add(Vague(), "vague")
    plugins.registries  # noqa: B018
    [failure] = [f for f in plugins.failures if f.name == "vague"]
    assert "family protocol" in failure.cause


# -- checked composition -----------------------------------------------------------------------
def test_check_rejects_a_sampler_that_does_not_fit_the_model():
    """Catches `gentk check` accepting a DDPM with the Langevin density sampler, which fails
    only when the run first samples."""
    with pytest.raises(RecipeError) as info:
        load_recipe("recipes/ddpm_small.toml", ['model.sampler={use="langevin"}'])
    [problem] = info.value.problems
    assert problem.path == ("model", "sampler", "use")
    assert "DiffusionSampler" in problem.message and "'langevin'" in problem.message
    fitting = problem.hint.split(": ", 1)[1].split(", ")
    assert {"ancestral", "ddim", "ddpm_langevin"} <= set(fitting) and "langevin" not in fitting


def test_non_string_use_and_unknown_kind_are_recipe_problems():
    with pytest.raises(RecipeError) as info:
        load_recipe(VAE_TOY, ["model.objective.use=5"])
    assert "must be the name of a objective" in info.value.render() or "(a string)" in info.value.render()


# -- errors inside a component's code are attributed to it --------------------------------------
FAULTY = """
    import torch
    from gentk.config import config
    from gentk.hookspecs import hookimpl

    @config
    class FaultyConfig:
        '''A model whose train step has a bug.'''

    class Faulty:
        grid_columns = None

        def __init__(self, cfg, ctx):
            self.device = torch.device("cpu")
            self.net = torch.nn.Linear(2, 2)

        def networks(self):
            return {"net": self.net}

        def optimizers(self):
            return {}

        def train_step(self, batch, ctx):
            return {"loss": batch.x.no_such_method()}

        def sample(self, n, *, generator, labels=None, **options):
            return torch.zeros(n, 2)

    class NotAModel:
        def __init__(self, cfg, ctx):
            pass

    @hookimpl
    def gentk_register_models(register):
        register("faulty", Faulty, FaultyConfig)
        register("not_a_model", NotAModel, FaultyConfig)
"""


@pytest.fixture
def faulty(site):
    (site / "faulty_plugin.py").write_text(textwrap.dedent(FAULTY))
    make_distribution(site, "faulty-dist", {"faulty": "faulty_plugin"})
    return site


def test_exception_in_a_train_step_names_plugin_and_component(faulty, capsys, tmp_path):
    """Catches a plugin's bug surfacing as a bare `unexpected error: AttributeError` with no
    component or plugin named."""
    faulty = ["--set", "model.use=faulty", "--set", "metrics=[]"]
    code, _, err = gentk(capsys, "run", VAE_TOY, *faulty, "--out", tmp_path, "--quiet", *QUICK)
    assert code == 2
    assert "model 'faulty' (plugin 'faulty', distribution faulty-dist) failed in its train step" in err
    assert "AttributeError" in err and "no_such_method" in err and "unexpected error" not in err
    code, _, err = gentk(capsys, "run", VAE_TOY, *faulty, "--out", tmp_path, *QUICK, "--debug")
    assert code == 2 and "Traceback" in err  # --debug after the command still shows the traceback


def test_factory_returning_the_wrong_type_is_named(faulty, tmp_path):
    """Catches a factory whose result breaks its kind's protocol being found only later, as an
    AttributeError deep in the engine."""
    with pytest.raises(PluginError) as info:
        api.train(
            VAE_TOY, overrides=["model.use=not_a_model", "metrics=[]", "run.epochs=1"], out=tmp_path, progress=False
        )
    text = info.value.render()
    assert "model 'not_a_model' (plugin 'faulty'" in text and "does not implement Model" in text
    assert "train_step" in text and "networks" in text


def test_wrong_lazy_path_is_named():
    from gentk.registry import lazy

    with pytest.raises(PluginError, match="cannot import the factory 'gentk_vae.nowhere:Nothing'"):
        lazy("gentk_vae.nowhere:Nothing")()


def test_component_error_keeps_user_errors_unchanged():
    from gentk.registry import attributed

    component = get_plugins().get("model", "vae")
    with pytest.raises(GentkError) as info, attributed(component, "while sampling"):
        raise GentkError("bad --class")
    assert not isinstance(info.value, ComponentError)
    with pytest.raises(ComponentError, match="model 'vae' .* failed while sampling: ValueError: boom"):
        with attributed(component, "while sampling"):
            raise ValueError("boom")
    # a stop the user asked for (Ctrl-C while a component is built) is not the component's fault
    with pytest.raises(Interrupted), attributed(component, "while being built"):
        raise Interrupted(None, signum=2)


# -- kinds declared by plugins -----------------------------------------------------------------
PRIOR_PLUGIN = """
    from typing import Protocol, runtime_checkable
    import torch
    from attrs import validators as v
    from gentk.config import config, param, sub
    from gentk.hookspecs import hookimpl
    from gentk.registry import Spec

    @runtime_checkable
    class Prior(Protocol):
        '''A fixed density on the data space: log_prob(x) (B, D) -> (B,).'''

        def log_prob(self, x: torch.Tensor) -> torch.Tensor: ...

    @config
    class LaplaceConfig:
        '''An isotropic Laplace density with scale b.'''

        scale: float = param(1.0, "scale b", v.gt(0))

    class Laplace:
        def __init__(self, cfg):
            self.scale = cfg.scale

        def log_prob(self, x):
            return -(x.abs() / self.scale).sum(-1)

    @config
    class ShiftFitConfig:
        '''Fits a shift m so that x - m is likely under a prior.'''

        prior: Spec = sub("prior", "laplace", "the density of x - m")
        optimizer: Spec = sub("optimizer", "adam", "optimizer of m")

    class ShiftFit:
        grid_columns = None

        def __init__(self, cfg, ctx):
            self.device = torch.device("cpu")
            self.prior: Prior = cfg.prior.build()
            self.shift = torch.nn.ParameterDict({"m": torch.nn.Parameter(torch.zeros(ctx.data.shape))})
            self.opt = cfg.optimizer.build(self.shift.parameters())

        def networks(self):
            return {"shift": self.shift}

        def optimizers(self):
            return {"shift": self.opt}

        def train_step(self, batch, ctx):
            loss = -self.prior.log_prob(batch.x - self.shift["m"]).mean()
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
            return {"loss": loss.detach()}

        def sample(self, n, *, generator, labels=None, **options):
            return self.shift["m"].detach() + torch.zeros(n, *self.shift["m"].shape)

    @hookimpl
    def gentk_register_kinds(register):
        register("prior", Prior, "A fixed density on the data space.", factory="factory(config) -> Prior")

    @hookimpl
    def gentk_register_components(register):
        register("prior", "laplace", Laplace, LaplaceConfig)
        register("model", "shift_fit", ShiftFit, ShiftFitConfig)
"""

PRIOR_RECIPE = """
[run]
epochs = 2
batch_size = 256
steps_per_epoch = 20
n_samples = 4
[data]
use = "toy2d"
name = "moons"
n_train = 2000
n_test = 200
[model]
use = "shift_fit"
[model.prior]
use = "laplace"
scale = 0.5
[model.optimizer]
lr = 0.05
"""


@pytest.fixture
def prior_plugin(site, tmp_path):
    (site / "prior_plugin.py").write_text(textwrap.dedent(PRIOR_PLUGIN))
    make_distribution(site, "gentk-prior", {"prior": "prior_plugin"})
    recipe = tmp_path / "shift.toml"
    recipe.write_text(PRIOR_RECIPE)
    return recipe


def test_a_plugin_kind_is_used_by_a_third_party_model_in_a_recipe_that_trains(prior_plugin, tmp_path, capsys):
    """Catches closed kinds: a sub-component of a kind declared by a plugin crashing the resolver."""
    plugins = get_plugins()
    assert plugins.kind("prior").plugin == "prior"
    assert plugins.get("prior", "laplace").distribution == "gentk-prior"
    run = api.train(prior_plugin, out=tmp_path / "runs", progress=False)
    losses = [r["loss"] for r in run.metrics("epoch")]
    assert len(losses) == 2 and losses[-1] < losses[0]
    for command in (["components", "prior"], ["describe", "laplace", "--kind", "prior"], ["kinds"]):
        code, out, _ = gentk(capsys, *command)
        assert code == 0 and ("laplace" in out or "prior" in out), command
    code, _, err = gentk(capsys, "check", prior_plugin, "--set", "model.prior.use=gaussian")
    assert code == 2 and "no prior named 'gaussian'" in err and "laplace" in err


def test_unknown_kind_in_a_config_is_a_recipe_problem():
    """Catches a KeyError from the resolver when a config names a kind nobody declared."""
    from gentk.config import config, sub
    from gentk.registry import Spec

    @config
    class NeedsFlow:
        """A model with a flow layer."""

        flow: Spec = sub("flow", "planar", "the flow")

    class FlowModel:
        @hookimpl
        def gentk_register_models(self, register):
            register("flowy", lambda cfg, ctx: None, NeedsFlow)

    plugins = Plugins()
    plugins.add(FlowModel(), "flowy")
    raw = load_recipe.__globals__["read_toml"](VAE_TOY)
    raw["model"] = {"use": "flowy"}
    with pytest.raises(RecipeError) as info:
        resolve(raw, plugins=plugins)
    assert "'flow' is not a component kind" in info.value.render()
