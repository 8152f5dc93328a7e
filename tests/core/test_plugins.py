"""Plugin discovery: third-party distributions, broken plugins, duplicates, blocking."""

import pytest

from gentk import api, hookspecs
from gentk.errors import GentkError, PluginError
from gentk.hookspecs import hookimpl
from gentk.registry import Plugins, get_plugins

from .conftest import make_distribution


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


def test_broken_plugin_is_reported_and_skipped(example_plugin):
    (example_plugin / "broken_plugin.py").write_text("raise ImportError('missing dependency foo')\n")
    make_distribution(example_plugin, "broken-dist", {"broken": "broken_plugin"})
    plugins = Plugins()
    [failure] = [f for f in plugins.failures if f.name == "broken"]
    assert (failure.name, failure.distribution, failure.entry_point) == ("broken", "broken-dist", "broken_plugin")
    assert "missing dependency foo" in failure.cause
    assert plugins.get("dataset", "blob").plugin == "example"


def test_duplicate_name_is_an_error_naming_both_plugins(example_plugin):
    (example_plugin / "clash_plugin.py").write_text(
        "from gentk.hookspecs import hookimpl\n"
        "from gentk_example.plugin import BlobConfig\n"
        "@hookimpl\n"
        "def gentk_register_datasets(register):\n"
        "    register('blob', lambda cfg: None, BlobConfig)\n"
    )
    make_distribution(example_plugin, "clash-dist", {"clash": "clash_plugin"})
    with pytest.raises(PluginError) as info:
        Plugins().registries
    assert "'example'" in info.value.message and "'clash'" in info.value.message


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
            from gentk_common.plugin import SGDConfig

            register("sgd_copy", lambda cfg, params: None, SGDConfig)

    plugins = Plugins()
    plugins.add(Extra(), "extra")
    assert plugins.get("optimizer", "sgd_copy").plugin == "extra"
    plugins.remove("extra")
    assert "sgd_copy" not in plugins.registries["optimizer"]


def test_every_hook_is_documented_and_has_a_kind():
    hooks = [name for name in dir(hookspecs) if name.startswith("gentk_register_")]
    assert sorted(hooks) == sorted(hookspecs.KINDS.values())
    for name in hooks:
        assert getattr(hookspecs, name).__doc__.strip(), name


def test_registering_a_non_attrs_config_is_rejected():
    class Bad:
        @hookimpl
        def gentk_register_optimizers(self, register):
            register("bad", lambda cfg, params: None, dict)

    plugins = Plugins(load_entry_points=False)
    plugins.add(Bad(), "bad")
    with pytest.raises(PluginError, match="not an attrs class"):
        plugins.registries
