"""The plugin kit catches broken components, names them and says what is wrong."""

import json
from typing import Protocol, runtime_checkable

import pytest
import torch
from torch import nn

from gentk import testing
from gentk.config import config, param
from gentk.errors import GentkError
from gentk.hookspecs import hookimpl
from gentk.interfaces import DataInfo, Split
from gentk.registry import get_plugins
from gentk.testing import (
    ConformanceError,
    case_id,
    check_component,
    conformance_cases,
    fresh_plugins,
    train_recipe,
)

plugin_manager = testing.plugin_manager  # the kit's fixture, used by one test here


@config
class WidthConfig:
    """An encoder with a latent size."""

    latent_dim: int = param(4, "latent size")


class GoodEncoder(nn.Module):
    def __init__(self, cfg: WidthConfig, ctx) -> None:
        super().__init__()
        self.latent_dim = cfg.latent_dim
        self.net = nn.Linear(ctx.data.numel, 2 * cfg.latent_dim)

    def forward(self, x):
        return self.net(x.flatten(1)).chunk(2, dim=-1)


class WrongShapeEncoder(GoodEncoder):
    def forward(self, x):
        mean, logvar = super().forward(x)
        return mean[:, :1], logvar


class NaNEncoder(GoodEncoder):
    def forward(self, x):
        mean, logvar = super().forward(x)
        return mean * float("nan"), logvar


class NoLatentDim:
    def __init__(self, cfg, ctx) -> None:
        pass

    def __call__(self, x):
        return x, x


@config
class BlobsConfig:
    """Points, but stored as the wrong kind of tensor."""

    as_images: bool = param(True, "claim image data (uint8 is then required)")


class FloatImages:
    def __init__(self, cfg: BlobsConfig) -> None:
        self.info = DataInfo(shape=(1, 4, 4), kind="image")

    def split(self, name):
        return Split(torch.rand(3, 1, 4, 4))


@config
class NeedsPathConfig:
    """A dataset read from a folder."""

    path: str = param(doc="the folder")


@config
class NoDocConfig:
    width: int = param(2, "width")


@runtime_checkable
class Prior(Protocol):
    """A prior over latents."""

    def log_prob(self, z: torch.Tensor) -> torch.Tensor: ...


@config
class PriorConfig:
    """A standard normal prior."""

    scale: float = param(1.0, "std")


class Normal:
    def __init__(self, cfg: PriorConfig) -> None:
        self.scale = cfg.scale

    def log_prob(self, z):
        return -0.5 * (z / self.scale).pow(2).sum(-1)


@config
class TinyModelConfig:
    """A model with one parameter."""

    fail: str = param("none", "what goes wrong: 'none', 'no_loss', 'range' or 'crash'")


class TinyModel:
    def __init__(self, cfg: TinyModelConfig, ctx) -> None:
        if cfg.fail == "crash":
            raise ZeroDivisionError("boom")
        self.fail = cfg.fail
        self.device = torch.device("cpu")
        self.grid_columns = None
        self.shape = ctx.data.shape
        self.net = nn.Linear(1, 1)
        self.opt = torch.optim.SGD(self.net.parameters(), lr=0.1)

    def networks(self):
        return {"net": self.net}

    def optimizers(self):
        return {"sgd": self.opt}

    def train_step(self, batch, ctx):
        return {"nll": 1.0} if self.fail == "no_loss" else {"loss": torch.tensor(1.0)}

    def sample(self, n, *, generator, labels=None, **options):
        if options:
            raise GentkError("no options")
        return torch.full((n, *self.shape), 2.0 if self.fail == "range" else 0.5)


class Broken:
    """A plugin whose components each break their protocol in one way."""

    @hookimpl
    def gentk_register_kinds(self, register):
        register("prior", Prior, "A prior over latents.")

    @hookimpl
    def gentk_register_encoders(self, register):
        register("good", GoodEncoder, WidthConfig)
        register("wrong_shape", WrongShapeEncoder, WidthConfig)
        register("nan", NaNEncoder, WidthConfig)
        register("no_latent_dim", NoLatentDim, WidthConfig)
        register("no_doc", GoodEncoder, NoDocConfig)

    @hookimpl
    def gentk_register_models(self, register):
        register("tiny", TinyModel, TinyModelConfig)

    @hookimpl
    def gentk_register_datasets(self, register):
        register("float_images", FloatImages, BlobsConfig)
        register("needs_path", FloatImages, NeedsPathConfig)

    @hookimpl
    def gentk_register_components(self, register):
        register("prior", "normal", Normal, PriorConfig)


@pytest.fixture(scope="module")
def plugins():
    return fresh_plugins(Broken(), names="broken")


def check(plugins, kind, name, **kw):
    return check_component(plugins.get(kind, name), plugins, **kw)


def test_cases_list_the_plugins_components(plugins):
    ids = [case_id(c) for c in conformance_cases(plugins, "broken")]
    assert ids[0] == "dataset:float_images" and ids[-1] == "prior:normal"
    assert "encoder:wrong_shape" in ids and not any(i.startswith("optimizer:") for i in ids)


def test_a_conforming_component_passes(plugins):
    checked = check(plugins, "encoder", "good")
    assert checked.status == "passed" and checked.info.kind == "image"


def test_wrong_output_shape_is_named(plugins):
    with pytest.raises(ConformanceError) as info:
        check(plugins, "encoder", "wrong_shape")
    message = str(info.value)
    assert "encoder 'wrong_shape' (plugin 'broken'" in message
    assert "mean has shape (4, 1), expected (4, 4)" in message


def test_non_finite_output_fails(plugins):
    with pytest.raises(ConformanceError, match="NaN or infinite"):
        check(plugins, "encoder", "nan")


def test_missing_protocol_member_fails(plugins):
    with pytest.raises(ConformanceError, match="latent_dim") as info:
        check(plugins, "encoder", "no_latent_dim")
    assert "Encoder" in str(info.value)


def test_config_without_docstring_fails(plugins):
    with pytest.raises(ConformanceError, match="no docstring"):
        check(plugins, "encoder", "no_doc")


@pytest.mark.parametrize(
    "fail, message",
    [
        ("no_loss", "train_step returned no 'loss' \\(keys: nll\\)"),
        ("range", r"sample\(2\) lies in \[2, 2\], outside \[0, 1\]"),
        ("crash", "could not be built.*ZeroDivisionError: boom"),
    ],
)
def test_broken_models_fail(plugins, fail, message):
    assert check(plugins, "model", "tiny").status == "passed"
    with pytest.raises(ConformanceError, match=message):
        check(plugins, "model", "tiny", config={"fail": fail})


def test_dataset_dtype_rules(plugins):
    with pytest.raises(ConformanceError, match="images are stored as uint8"):
        check(plugins, "dataset", "float_images")


def test_required_field_skips_unless_given(plugins):
    checked = check(plugins, "dataset", "needs_path")
    assert checked.skipped and "path" in checked.reason
    with pytest.raises(ConformanceError, match="uint8"):
        check(plugins, "dataset", "needs_path", config={"path": "x"})


def test_a_declared_kind_is_checked_against_its_protocol(plugins):
    assert check(plugins, "prior", "normal").status == "passed"


def test_a_plugin_with_a_misspelled_hook_fails_its_cases():
    class Misspelled:
        @hookimpl
        def gentk_register_encoders(self, register):
            register("good", GoodEncoder, WidthConfig)

        def gentk_register_encoder(self, register):
            pass

    with pytest.raises(ConformanceError, match="did you mean gentk_register_encoders"):
        conformance_cases(fresh_plugins(Misspelled(), names="typo"), "typo")


def test_a_plugin_that_fails_to_register_fails_its_cases():
    class NotAttrs:
        @hookimpl
        def gentk_register_encoders(self, register):
            register("bad", GoodEncoder, dict)

    plugins = fresh_plugins(NotAttrs(), names="bad")
    plugins.registries  # noqa: B018
    with pytest.raises(ConformanceError, match="not an attrs class"):
        conformance_cases(plugins, "bad")


def test_a_config_that_changes_through_toml_fails():
    @config
    class TupleConfig:
        """Sizes kept as a tuple, annotated as a list."""

        sizes: list = param((1, 2), "sizes")

    class Tuples:
        @hookimpl
        def gentk_register_encoders(self, register):
            register("tuples", GoodEncoder, TupleConfig)

    plugins = fresh_plugins(Tuples(), names="tuples")
    with pytest.raises(ConformanceError, match="changes through TOML"):
        check(plugins, "encoder", "tuples")


def test_train_recipe_trains_a_few_steps(tmp_path, one_thread):
    recipe = {
        "data": {"use": "toy2d", "n_train": 64, "n_test": 32},
        "model": {"use": "vae", "encoder": {"use": "mlp_gaussian"}, "decoder": {"use": "mlp_gaussian"}},
    }
    path = train_recipe(recipe, tmp_path=tmp_path, steps=3)
    assert (path / "checkpoint.pt").is_file() and (path / "figures" / "samples_epoch001.png").is_file()
    records = [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["kind"] == "epoch"] == [3]


def test_fixture_installs_the_manager(plugin_manager):
    made = plugin_manager(Broken(), names="broken")
    assert get_plugins() is made and made.get("prior", "normal").plugin == "broken"
