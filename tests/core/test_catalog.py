"""The recipe catalog: bundled recipes as package data, plugin recipe folders, lookup by name."""

import tomllib
from pathlib import Path

import pytest

from gentk import api
from gentk.catalog import find_recipe, recipes
from gentk.errors import GentkError
from gentk.hookspecs import hookimpl
from gentk.recipe import load_recipe
from gentk.registry import Plugins

from .test_cli import gentk

BUNDLED = Path(__file__).resolve().parents[2] / "gentk" / "recipes"



@pytest.fixture
def with_recipes(tmp_path):
    """A manager holding one plugin (`mine`) that ships a folder with a new recipe and one whose
    name a bundled recipe already has."""
    folder = tmp_path / "mine_recipes"
    folder.mkdir()
    (folder / "my_toy.toml").write_text((BUNDLED / "vae_toy.toml").read_text().replace("VAE on", "Mine: VAE on"))
    (folder / "vae_toy.toml").write_text('description = "the plugin\'s vae_toy"\n')
    (folder / "notes.txt").write_text("not a recipe")

    class Mine:
        @hookimpl
        def gentk_register_recipes(self, register):
            register(folder)

    plugins = Plugins(load_entry_points=False)
    assert plugins.add(Mine(), "mine")
    return plugins, folder


def test_the_listing_holds_every_bundled_recipe_with_its_description():
    listed = {e.name: e for e in recipes() if e.plugin == "gentk"}
    files = sorted(BUNDLED.glob("*.toml"))
    assert files and sorted(listed) == [f.stem for f in files]
    for f in files:
        assert listed[f.stem].description == tomllib.loads(f.read_text())["description"]
        assert listed[f.stem].ref == f.stem


def test_the_checkout_recipes_folder_is_the_bundled_one():
    assert (BUNDLED.parent.parent / "recipes" / "vae_toy.toml").resolve() == (BUNDLED / "vae_toy.toml").resolve()


def test_a_name_finds_the_bundled_recipe_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = find_recipe("vae_toy")
    assert path.is_file() and path.resolve() == (BUNDLED / "vae_toy.toml").resolve()
    assert find_recipe("gentk:vae_toy") == path
    assert load_recipe(path).model.name == "vae"
    assert api.load("vae_toy", ["run.epochs=3"]).run.epochs == 3


def test_an_existing_file_is_used_as_is(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "vae_toy").write_text("# a file named like a recipe\n")
    assert find_recipe("vae_toy") == Path("vae_toy")
    assert find_recipe("elsewhere/x.toml") == Path("elsewhere/x.toml")  # reading it reports the missing file


def test_an_unknown_name_lists_close_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(GentkError) as info:
        find_recipe("vae_tyo")
    assert "no recipe named 'vae_tyo'" in info.value.message
    assert "vae_toy" in info.value.hint and "gentk recipes" in info.value.hint
    with pytest.raises(GentkError) as info:
        find_recipe("nope:vae_toy")
    assert "no plugin 'nope'" in info.value.message and "gentk:vae_toy" in info.value.hint


def test_a_documented_path_outside_a_checkout_points_at_the_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(GentkError) as info:
        find_recipe("recipes/vae_toy.toml")
    assert info.value.message == "recipe file not found" and "'vae_toy'" in info.value.hint


def test_a_plugin_ships_recipes_reachable_as_plugin_colon_name(with_recipes, tmp_path, monkeypatch):
    plugins, folder = with_recipes
    monkeypatch.chdir(tmp_path)
    listed = {e.qualified: e for e in recipes(plugins)}
    assert "mine:notes" not in listed
    assert listed["mine:my_toy"].description.startswith("Mine: VAE on")
    assert listed["mine:my_toy"].ref == "my_toy"
    # the bundled vae_toy wins the bare name; the plugin's is listed under its qualified name
    assert listed["mine:vae_toy"].ref == "mine:vae_toy" and listed["gentk:vae_toy"].ref == "vae_toy"
    assert find_recipe("my_toy", plugins) == folder / "my_toy.toml"
    assert find_recipe("mine:my_toy", plugins) == folder / "my_toy.toml"
    assert find_recipe("mine:vae_toy", plugins) == folder / "vae_toy.toml"
    assert find_recipe("vae_toy", plugins).resolve() == (BUNDLED / "vae_toy.toml").resolve()
    with pytest.raises(GentkError) as info:
        find_recipe("mine:my_tpy", plugins)
    assert "mine:my_toy" in info.value.hint


def test_the_cli_lists_recipes_and_takes_names(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = gentk(capsys, "recipes")
    assert code == 0 and "vae_toy" in out and "ddpm_small" in out and "gentk" in out
    code, out, _ = gentk(capsys, "check", "vae_toy")
    assert code == 0 and "ok:" in out
    code, out, _ = gentk(capsys, "show", "vae_toy", "--set", "run.epochs=7")
    assert code == 0 and "epochs = 7" in out
    code, _, err = gentk(capsys, "run", "vae_tyo")
    assert code == 2 and "vae_toy" in err and "gentk recipes" in err


def test_run_by_name_from_another_directory_names_the_run_after_the_recipe(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tiny = ["run.epochs=1", "run.n_samples=0", "data.n_train=256", "data.n_test=64", "metrics=[]"]
    sets = [arg for item in tiny for arg in ("--set", item)]
    code, out, err = gentk(capsys, "run", "vae_toy", *sets, "--out", tmp_path / "runs", "--quiet")
    assert code == 0, err
    (run,) = (tmp_path / "runs").iterdir()
    assert run.name.startswith("vae_toy") and (run / "recipe.toml").is_file()
    assert api.train("vae_toy", overrides=tiny, out=tmp_path / "api").path.name.startswith("vae_toy")
