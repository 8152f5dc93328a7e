"""Hostile recipe values are refused before any work starts, each as a problem naming its key.

Each case is a value that used to be accepted and then ran out of memory, looped for ever,
crashed a library or gave an `unexpected error`; each must now be a RecipeError (or, for a
malformed `--set`, a GentkError) at the key at fault, and `gentk check` must exit 2 without a
traceback.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gentk.catalog import find_recipe
from gentk.cli import main
from gentk.errors import GentkError, PluginError, RecipeError
from gentk.recipe import check_metric_fits, load_recipe, resolve, resolve_component
from gentk.registry import get_plugins

BIG = "1000000000000000000000000000000"  # 10**30

# (recipe, --set, key path of the problem, the bug it catches)
CASES = [
    ("vae_toy", f"model.encoder.hidden=[{BIG}]", "model -> encoder -> hidden", "a 10**30 width built until OOM"),
    ("vae_toy", f"model.encoder.latent_dim={BIG}", "model -> encoder -> latent_dim", "10**30 latent size"),
    ("vae_toy", "model.encoder.hidden=[" + ", ".join(["8"] * 100) + "]", "model -> encoder -> hidden", "100 layers"),
    ("gan_ring", f"model.critic.layers={BIG}", "model -> critic -> layers", "10**30 layers built until OOM"),
    ("ddpm_small", f"model.denoiser.num_res_blocks={BIG}", "model -> denoiser -> num_res_blocks", "10**30 blocks"),
    (
        "ddpm_small",
        "model.denoiser.channel_mult=[1, 2, 2, 2, 2, 2, 2, 2, 2]",
        "model -> denoiser -> channel_mult",
        "more levels than any image has",
    ),
    (
        "ddpm_small",
        "model.denoiser={use='unet', channels=4096, channel_mult=[1, 64]}",
        "model -> denoiser -> channel_mult",
        "widths past the bound from channels x channel_mult",
    ),
    ("ddpm_small", f"model.sampler.steps={BIG}", "model -> sampler -> steps", "10**30 steps looped for ever"),
    ("ddpm_small", f"model.schedule.num_steps={BIG}", "model -> schedule -> num_steps", "a 10**30-step schedule"),
    ("langevin_ring", f"model.sampler.steps={BIG}", "model -> sampler -> steps", "10**30 Langevin steps"),
    ("iwae_toy", f"model.objective.k={BIG}", "model -> objective -> k", "10**30 importance samples"),
    ("vae_toy", f"metrics.0.k={BIG}", "metrics -> 0 -> k", "10**30 importance samples in nll"),
    ("vae_toy", "run.threads=100000", "run -> threads", "OpenMP crashed on 100000 threads"),
    ("vae_toy", "run.seed=18446744073709551616", "run -> seed", "seeds of 2**64 overflowed torch"),
    ("vae_toy", "data.seed=18446744073709551616", "data -> seed", "a data seed of 2**64"),
    ("vae_toy", "model.optimizer.lr=1e38", "model -> optimizer -> lr", "lr 1e38 diverged at run time"),
    ("vae_toy", "model.optimizer.betas=[0.9]", "model -> optimizer -> betas", "short betas crashed Adam"),
    ("vae_toy", "model.optimizer.betas=[0.9, 0.99, 0.999]", "model -> optimizer -> betas", "long betas"),
    ("vae_toy", "model.optimizer.betas=[0.9, 1.5]", "model -> optimizer -> betas", "invalid betas crashed Adam"),
    (
        "ddpm_small",
        "model.trajectory_steps=[999, -3, 0]",
        "model -> trajectory_steps",
        "negative trajectory steps crashed the figure after an epoch",
    ),
    ("ddpm_small", "model.trajectory_steps=[]", "model -> trajectory_steps", "an empty trajectory figure"),
    ("vae_toy", "run.device=meta", "run -> device", "device 'meta' failed at run time"),
    ("vae_toy", "run.device=cuda:x", "run -> device", "a malformed cuda device"),
    ("vae_toy", "model.use=3", "model -> use", "a non-string use gave an unexpected error"),
    ("vae_toy", "metrics.0.use=3", "metrics -> 0 -> use", "a non-string metric use"),
    ("vae_toy", "model.sampler.use=[1]", "model -> sampler", "use as an array"),
    ("ddpm_small", "model.sampler.eta=inf", "model -> sampler -> eta", "eta = inf gave NaN samples"),
    ("ddpm_small", "model.sampler.eta=nan", "model -> sampler -> eta", "eta = nan"),
    ("cfg_ddpm_small", "model.guidance=1e308", "model -> guidance", "guidance 1e308 gave NaN samples"),
    ("ddpm_small", "model.sampler.steps=-1", "model -> sampler -> steps", "negative sampler steps"),
    ("ddpm_small", "model.sampler.steps=1001", "model -> sampler -> steps", "more sampler steps than T"),
    (
        "ddpm_small",
        "model.sampler={use='ancestral', steps=5000}",
        "model -> sampler -> steps",
        "more ancestral steps than T",
    ),
    (
        "ddpm_small",
        "model.schedule={use='linear', beta_start=0.5, beta_end=0.1}",
        "model -> schedule -> beta_end",
        "beta_end below beta_start",
    ),
    ("ddpm_small", "model.schedule={use='linear', beta_end=1.0}", "model -> schedule -> beta_end", "beta_T = 1"),
    ("ddpm_small", "model.guidance=2", "model -> guidance", "guidance on an unconditional model"),
    ("cfg_ddpm_small", "model.objective.p_uncond=0", "model -> guidance", "guidance without label dropout"),
    ("vae_toy", "run.max_loss=inf", "run -> max_loss", "a non-finite bound"),
    ("vae_toy", "run.steps_per_epoch=0", "run -> steps_per_epoch", "zero steps per epoch trained nothing"),
    ("vae_toy", "run.epochs=1e999", "run -> epochs", "an infinite float where an int belongs"),
    ("vae_toy", "data.n_train=" + BIG, "data -> n_train", "10**30 toy points"),
    ("vae_toy", "data={use='image_folder', path='/no/such/folder'}", "data -> path", "a missing image folder"),
    (
        "vae_toy",
        "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t=1",
        "a -> b -> c -> d -> e -> f -> g -> h",
        "20-deep nesting recursed",
    ),
    (
        "vae_toy",
        "run.x=" + "{a=" * 20 + "1" + "}" * 20,
        "run -> x -> a -> a -> a -> a -> a -> a",
        "a 20-deep inline table",
    ),
    ("ddpm_small", "metrics=[{use='nll'}]", "metrics -> 0 -> use", "nll on a ddpm failed after an epoch"),
    ("gan_ring", "metrics=[{use='log_likelihood'}]", "metrics -> 0 -> use", "log_likelihood on a gan"),
]


def gentk(capsys, *args: str | Path) -> tuple[int, str]:
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.parametrize("recipe, item, where, bug", CASES, ids=[f"{c[0]}:{c[1][:40]}" for c in CASES])
def test_hostile_value_is_a_problem_at_its_key(capsys, recipe, item, where, bug):
    with pytest.raises(RecipeError) as info:
        load_recipe(find_recipe(recipe), [item])
    paths = [" -> ".join(map(str, p.path)) for p in info.value.problems]
    assert where in paths, (bug, info.value.render())
    code, text = gentk(capsys, "check", recipe, "--set", item)
    assert code == 2 and where in text, (bug, text)
    assert "Traceback" not in text and "unexpected error" not in text


@pytest.mark.parametrize(
    "item",
    ["metrics.0=1", "metrics.7.use=nll", "run.epochs.x=1", "=1", "no-equals", "run.x=" + "[" * 3000 + "]" * 3000],
)
def test_malformed_set_is_a_user_error(capsys, item):
    """`--set metrics.0=1` and a 3000-deep value (RecursionError in the TOML parser) gave unexpected errors."""
    with pytest.raises(GentkError):
        load_recipe(find_recipe("vae_toy"), [item])
    code, text = gentk(capsys, "check", "vae_toy", "--set", item)
    assert code == 2 and "Traceback" not in text and "unexpected error" not in text


def test_deeply_nested_file_is_a_user_error(tmp_path, capsys):
    """A recipe file nested past the TOML parser's recursion limit."""
    path = tmp_path / "deep.toml"
    path.write_text("x = " + "[" * 3000 + "]" * 3000 + "\n")
    with pytest.raises(GentkError, match="deeply"):
        load_recipe(path)
    code, text = gentk(capsys, "check", path)
    assert code == 2 and "Traceback" not in text


def test_component_tables_resolved_alone_are_checked_too():
    """The samplers, schedules and metrics `gentk sample` and `gentk eval` resolve on their own."""
    with pytest.raises(RecipeError) as info:
        resolve_component("sampler", {"use": "ddim", "eta": float("inf")})
    assert info.value.problems[0].path == ("sampler", "eta")
    with pytest.raises(RecipeError):
        resolve_component("metric", {"use": "nll", "k": 10**30})
    with pytest.raises(RecipeError):
        resolve_component("sampler", {"use": "ddim", "steps": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {}}}}}}}}})


def test_metric_that_does_not_fit_the_model_is_refused_with_the_ones_that_do():
    raw = {
        "data": {"use": "toy2d"},
        "model": {"use": "gmm_em"},
        "metrics": [{"use": "mode_coverage"}, {"use": "nll"}, {"use": "vlb"}],
    }
    with pytest.raises(RecipeError) as info:
        resolve(raw)
    found = {" -> ".join(map(str, p.path)): p for p in info.value.problems}
    assert set(found) == {"metrics -> 1 -> use", "metrics -> 2 -> use"}
    assert (
        "needs a model that provides LatentVariableModel; model 'gmm_em' does not"
        in found["metrics -> 1 -> use"].message
    )
    assert "log_likelihood" in found["metrics -> 1 -> use"].hint and "nll" not in found["metrics -> 1 -> use"].hint


def test_check_metric_fits_for_gentk_eval():
    """`gentk eval RUN --metric nll` on a ddpm run failed only after building everything."""
    ddpm = load_recipe(find_recipe("ddpm_small")).model
    vae = load_recipe(find_recipe("vae_toy")).model
    nll = resolve_component("metric", {"use": "nll"})
    with pytest.raises(GentkError, match="metric 'nll' needs a model that provides LatentVariableModel") as info:
        check_metric_fits(ddpm, nll)
    assert "vlb" in info.value.hint
    check_metric_fits(vae, nll)
    check_metric_fits(ddpm, resolve_component("metric", {"use": "coverage"}))
    check_metric_fits(ddpm.component, get_plugins().get("metric", "vlb"))


def test_bundled_metrics_declare_what_they_need():
    metrics = get_plugins().registries["metric"]
    needs = {name: [p.__name__ for p in c.requires] for name, c in metrics.items()}
    assert needs == {
        "nll": ["LatentVariableModel"],
        "vlb": ["DiffusionModel"],
        "log_likelihood": ["LogDensity"],
        "mode_coverage": [],
        "coverage": [],
        "fid": [],  # any model that samples images like its data
        "kid": [],
        "precision_recall": [],
        "quality": [],
    }


def test_requires_must_be_runtime_protocols():
    from gentk.registry import _check_registration

    kind = get_plugins().kind("metric")
    from gentk_vae.configs import NLLConfig

    with pytest.raises(PluginError, match="requires"):
        _check_registration(kind, "m", lambda cfg: None, NLLConfig, (), (int,))


def test_every_bundled_recipe_passes_check(capsys):
    """The bounds are ones a real recipe never meets."""
    from gentk.catalog import recipes

    for entry in recipes():
        load_recipe(entry.path())
    code, text = gentk(capsys, "check", Path(find_recipe("cfg_ddpm")))
    assert code == 0, text
