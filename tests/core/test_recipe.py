"""Recipes: resolution, every kind of user error collected in one report, overrides."""

import tomllib

import pytest

from gentk.errors import GentkError, RecipeError
from gentk.recipe import apply_overrides, dumps, load_recipe, parse_value, resolve


def problems(raw, file=None):
    with pytest.raises(RecipeError) as info:
        resolve(raw, file=file)
    return {" -> ".join(map(str, p.path)): p for p in info.value.problems}


def test_recipe_resolves_with_defaults(blob_recipe):
    recipe = load_recipe(blob_recipe)
    assert recipe.model.name == "gaussian_fit"
    assert recipe.model.config.optimizer.name == "adam"  # default component, lr from the file
    assert recipe.model.config.optimizer.config.lr == 0.05
    assert recipe.run.epochs == 3 and recipe.run.seed == 0


def test_all_problems_are_reported_together(example_plugin):
    found = problems({
        "run": {"epochs": 0, "batch_size": "big", "colour": "red"},
        "data": {"use": "blob", "dim": -1},
        "model": {"use": "gaussian_fits", "optimizer": {"use": "adam"}},
    })
    assert set(found) == {"run -> epochs", "run -> batch_size", "run -> colour", "data -> dim", "model -> use"}
    assert "gaussian_fit" in found["model -> use"].hint  # lists what is available
    assert "expected int" in found["run -> batch_size"].message
    assert "allowed keys" in found["run -> colour"].hint


def test_nested_component_errors_have_full_key_paths(example_plugin):
    found = problems({"data": {"use": "blob"}, "model": {"use": "gaussian_fit", "optimizer": {"use": "adam", "lr": -1.0}}})
    assert "model -> optimizer -> lr" in found


def test_missing_tables_are_reported(example_plugin):
    found = problems({})
    assert {"data", "model"} <= set(found)


def test_shorthand_component_name(example_plugin):
    recipe = resolve({"data": "blob", "model": {"use": "gaussian_fit", "optimizer": "sgd"}})
    assert recipe.model.config.optimizer.name == "sgd"


def test_missing_file_and_syntax_error_name_the_file(tmp_path):
    with pytest.raises(GentkError) as info:
        load_recipe(tmp_path / "nope.toml")
    assert info.value.file.endswith("nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[run\nepochs = 1\n")
    with pytest.raises(GentkError) as info:
        load_recipe(bad)
    assert "TOML syntax error" in info.value.message and "line 1" in info.value.message


def test_error_report_names_the_file(blob_recipe):
    with pytest.raises(RecipeError) as info:
        load_recipe(blob_recipe, ["run.epochs=-2"])
    text = info.value.render()
    assert str(blob_recipe) in text and "run -> epochs" in text


@pytest.mark.parametrize("text, value", [("32", 32), ("1e-4", 1e-4), ("true", True), ("[1, 2]", [1, 2]),
                                         ("mnist", "mnist"), ('"quoted"', "quoted")])
def test_override_values_parse_as_toml_or_string(text, value):
    assert parse_value(text) == value


def test_overrides_set_nested_keys_and_unknown_paths_fail(blob_recipe):
    recipe = load_recipe(blob_recipe, ["model.optimizer.lr=0.2", "run.epochs=1"])
    assert recipe.model.config.optimizer.config.lr == 0.2 and recipe.run.epochs == 1
    with pytest.raises(RecipeError) as info:
        load_recipe(blob_recipe, ["model.optimizer.learning_rate=0.2"])
    assert info.value.problems[0].path == ("model", "optimizer", "learning_rate")
    with pytest.raises(GentkError):
        apply_overrides({"run": {"epochs": 1}}, ["run.epochs.x=1"])
    with pytest.raises(GentkError):
        apply_overrides({}, ["no-equals-sign"])


def test_resolved_recipe_round_trips(blob_recipe):
    recipe = load_recipe(blob_recipe)
    again = resolve(tomllib.loads(dumps(recipe)))
    assert again == recipe


def test_overrides_reach_into_arrays_of_tables():
    raw = apply_overrides({"metrics": [{"use": "nll", "k": 5000}]}, ["metrics.0.k=50"])
    assert raw["metrics"][0]["k"] == 50
    with pytest.raises(GentkError):
        apply_overrides({"metrics": [{"use": "nll"}]}, ["metrics.3.k=50"])
