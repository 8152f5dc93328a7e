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
    found = problems(
        {
            "run": {"epochs": 0, "batch_size": "big", "colour": "red"},
            "data": {"use": "blob", "dim": -1},
            "model": {"use": "gaussian_fits", "optimizer": {"use": "adam"}},
        }
    )
    assert set(found) == {"run -> epochs", "run -> batch_size", "run -> colour", "data -> dim", "model -> use"}
    assert "gaussian_fit" in found["model -> use"].hint  # lists what is available
    assert "expected int" in found["run -> batch_size"].message
    assert "allowed keys" in found["run -> colour"].hint


def test_nested_component_errors_have_full_key_paths(example_plugin):
    found = problems(
        {"data": {"use": "blob"}, "model": {"use": "gaussian_fit", "optimizer": {"use": "adam", "lr": -1.0}}}
    )
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


@pytest.mark.parametrize(
    "text, value",
    [("32", 32), ("1e-4", 1e-4), ("true", True), ("[1, 2]", [1, 2]), ("mnist", "mnist"), ('"quoted"', "quoted")],
)
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


# -- switching components from the command line -------------------------------------------------
@pytest.mark.parametrize("item", ['model.sampler={use="ddim", steps=20}', "model.sampler.use=ddim"])
def test_set_switches_a_component_and_drops_the_old_keys(item):
    """ddpm_mnist's ancestral sampler sets `variance`, which ddim does not have: switching must
    start the table afresh instead of reporting an unknown key."""
    from gentk.catalog import find_recipe

    recipe = load_recipe(find_recipe("ddpm_mnist"), [item])
    sampler = recipe.model.config.sampler
    assert sampler.name == "ddim"
    assert sampler.config.steps == (20 if "steps" in item else 50)


def test_set_switches_a_default_component_and_keeps_keys_set_after_it():
    from gentk.catalog import find_recipe

    recipe = load_recipe(find_recipe("vae_toy"), ["model.optimizer.use=sgd", "model.optimizer.lr=0.5"])
    assert recipe.model.config.optimizer.name == "sgd" and recipe.model.config.optimizer.config.lr == 0.5


# -- show: every default, unset optional ones as comments -----------------------------------------
def test_dumps_writes_unset_optionals_as_comments_and_round_trips():
    """`gentk show` left out every unset optional key (steps_per_epoch, threads, ...), so it did
    not show what could be set; the comment lines keep the text valid TOML."""
    from gentk.catalog import recipes

    for entry in recipes():
        recipe = load_recipe(entry.path())
        text = dumps(recipe)
        assert resolve(tomllib.loads(text)) == recipe, entry.name
    text = dumps(load_recipe(next(e for e in recipes() if e.name == "vae_toy").path()))
    run_table = text.split("[run]\n")[1].split("\n\n")[0]
    assert "# steps_per_epoch = none  (unset)" in run_table and "# max_loss = none  (unset)" in run_table
    assert "[[metrics]]" in text and "# n_examples = none  (unset)" in text  # nll's unset key, in its entry


def test_show_prints_unset_optionals_and_parses(capsys):
    from gentk.cli import main

    try:
        main(["show", "ddpm_small", "--set", "model.sampler.use=ancestral"])
    except SystemExit as exc:
        assert not exc.code
    out = capsys.readouterr().out
    assert "# steps = none  (unset)" in out.split("[model.sampler]")[1]
    assert tomllib.loads(out)["model"]["sampler"] == {
        "use": "ancestral",
        "variance": "beta",
        "spacing": "linspace",
        "clip_denoised": True,
    }


# -- describe run, data, metrics -----------------------------------------------------------------
@pytest.mark.parametrize(
    "part, expected",
    [
        ("run", ["[run]", "steps_per_epoch", "threads", "checkpoint_every", "'auto'"]),
        ("data", ["[data]", "toy2d", "image_folder", "mnist"]),
        ("metrics", ["[[metrics]]", "nll", "LatentVariableModel", "vlb", "DiffusionModel", "any model"]),
        ("model", ["[model]", "ddpm", "vae", "LogDensity"]),
        ("recipe", ["description", "metrics"]),
    ],
)
def test_describe_explains_the_parts_of_a_recipe(capsys, part, expected):
    """`gentk describe run` answered "no component named 'run'"."""
    from gentk.cli import main

    try:
        main(["describe", part])
    except SystemExit as exc:
        assert not exc.code
    out = capsys.readouterr().out
    for text in expected:
        assert text in out, (part, text)


# -- value checks ---------------------------------------------------------------------------------
def test_fixed_length_tuples_and_non_finite_numbers():
    from gentk.config import check_value, non_finite

    assert check_value([0.9, 0.99], tuple[float, float]) == (True, (0.9, 0.99))
    assert not check_value([0.9], tuple[float, float])[0]
    assert not check_value([0.9, 0.9, 0.9], tuple[float, float])[0]
    assert check_value([1, 2, 3], tuple[int, ...]) == (True, (1, 2, 3))
    assert not check_value(10**400, float)[0]
    assert non_finite(float("nan")) and non_finite((1.0, float("inf"))) and not non_finite((1.0, 2))


def test_cross_field_errors_name_the_key_inside_the_component():
    from gentk.recipe import resolve_component

    with pytest.raises(RecipeError) as info:
        resolve_component(
            "model",
            {"use": "ddpm", "schedule": {"use": "cosine", "num_steps": 10}, "sampler": {"use": "ddim", "steps": 11}}
            | {"trajectory_steps": [10, 0]},
        )
    [problem] = info.value.problems
    assert problem.path == ("model", "sampler", "steps") and "T = 10" in problem.message
    resolve_component(
        "model",
        {"use": "ddpm", "schedule": {"use": "cosine", "num_steps": 10}, "sampler": {"use": "ddim", "steps": 10}}
        | {"trajectory_steps": [10, 0]},
    )
    with pytest.raises(RecipeError) as info:  # the default trajectory (999, 350, 0) is past T = 10
        resolve_component("model", {"use": "ddpm", "schedule": {"use": "cosine", "num_steps": 10}})
    assert [p.path for p in info.value.problems] == [("model", "trajectory_steps")]
