"""The gan model: critic/generator schedule, clipping, conditioning, sampling and an end-to-end toy run."""

import math

import attrs
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gentk.errors import GentkError
from gentk.families.gan import Critic
from gentk.hardware import autocast
from gentk.interfaces import Batch, BuildContext, DataInfo, Model, StepContext
from gentk.recipe import resolve, resolve_component
from gentk.registry import Component, Spec
from gentk_gan.model import GAN

POINTS = DataInfo(shape=(2,), kind="points")
IMAGES = DataInfo(shape=(1, 8, 8), num_classes=3)


def build(info: DataInfo, **model) -> object:
    spec = resolve_component("model", {"use": "gan", **model})
    return spec.build(BuildContext(data=info, device=torch.device("cpu")))


def ctx(step: int = 0) -> StepContext:
    return StepContext(step, 0, autocast(torch.device("cpu"), "fp32"), torch.device("cpu"))


def image_batch(n: int = 6) -> Batch:
    return Batch(torch.rand(n, 1, 8, 8), torch.arange(n) % 3)


def test_generator_updates_every_n_critic_steps():
    model = build(POINTS, n_critic=3, generator={"use": "mlp", "hidden": 8}, critic={"use": "mlp", "hidden": 8})
    g_before = [p.clone() for p in model.generator.parameters()]
    batch = Batch(torch.randn(16, 2))
    for step in range(2):
        out = model.train_step(batch, ctx(step))
        assert "loss_g" not in out
    assert all(torch.equal(a, b) for a, b in zip(g_before, model.generator.parameters(), strict=True))
    out = model.train_step(batch, ctx(2))
    assert "loss_g" in out and math.isfinite(out["loss"])
    assert not all(torch.equal(a, b) for a, b in zip(g_before, model.generator.parameters(), strict=True))
    assert model.extra_state()["critic_steps"] == 3


@settings(max_examples=10)
@given(st.sampled_from([1e-3, 1e-2, 0.1]), st.integers(0, 1000))
def test_every_critic_weight_lies_in_clip_range_after_a_critic_step(c, seed):
    torch.manual_seed(seed)
    model = build(
        IMAGES,
        objective={"use": "wgan", "clip": c},
        n_critic=2,
        generator={"use": "conv", "channels": 4, "fc_hidden": 8, "latent_dim": 4},
        critic={"use": "conv", "channels": 4, "hidden": 8},
        d_optimizer={"use": "rmsprop", "lr": 1.0},
    )  # a huge step, so clipping must act
    for step in range(2):
        model.train_step(image_batch(), ctx(step))
        bound = torch.tensor(c, dtype=torch.float32)  # c as stored in float32 weights
        assert all(bool(p.detach().abs().max() <= bound) for p in model.critic.parameters())


@pytest.mark.parametrize("upsample", ["transposed", "resize"])
def test_images_sample_in_unit_range_with_the_data_shape(upsample):
    model = build(
        IMAGES,
        generator={"use": "conv", "channels": 4, "fc_hidden": 0, "upsample": upsample},
        critic={"use": "dcgan", "channels": 4},
    )
    model.train_step(image_batch(), ctx())
    x = model.sample(5, generator=torch.Generator().manual_seed(0))
    assert x.shape == (5, 1, 8, 8) and float(x.min()) >= 0 and float(x.max()) <= 1


def test_conditional_and_acgan_use_labels_and_reject_bad_options():
    model = build(
        IMAGES,
        generator={"use": "mlp", "hidden": 8, "conditional": True},
        critic={"use": "mlp", "hidden": 8, "aux_classifier": True},
        n_critic=1,
    )
    out = model.train_step(image_batch(), ctx())
    assert math.isfinite(out["loss"]) and math.isfinite(out["loss_g"])
    g = torch.Generator().manual_seed(0)
    same = model.sample(4, generator=g, labels=torch.tensor([2]))
    assert same.shape == (4, 1, 8, 8)
    with pytest.raises(GentkError):
        model.sample(4, generator=g, labels=torch.tensor([3]))  # class out of range
    with pytest.raises(GentkError):
        model.sample(4, generator=g, steps=10)
    with pytest.raises(GentkError):
        model.train_step(Batch(torch.rand(4, 1, 8, 8)), ctx())  # no labels


def test_unconditional_generator_refuses_labels():
    model = build(IMAGES)
    with pytest.raises(GentkError, match="not conditional"):
        model.sample(2, generator=torch.Generator(), labels=torch.tensor([0]))


def test_conv_networks_refuse_points():
    with pytest.raises(GentkError):
        build(POINTS, generator="conv")


def test_end_to_end_toy_run_logs_mode_coverage(tmp_path):
    import gentk.api as gk

    raw = {
        "run": {"epochs": 2, "batch_size": 64, "steps_per_epoch": 10, "n_samples": 64, "threads": 1},
        "data": {"use": "toy2d", "name": "ring", "n_train": 640, "n_test": 200},
        "model": {
            "use": "gan",
            "n_critic": 2,
            "objective": {"use": "gan", "non_saturating": True},
            "generator": {"use": "mlp", "hidden": 16, "latent_dim": 4},
            "critic": {"use": "mlp", "hidden": 16},
        },
        "metrics": [{"use": "mode_coverage", "n_samples": 200}],
    }
    run = gk.train(resolve(raw), out=tmp_path, name="gan_toy")
    epochs = run.metrics("epoch")
    assert len(epochs) == 2
    assert all(0 <= r["mode_coverage/coverage"] <= 1 and "loss_g" in r for r in epochs)
    assert run.model.extra_state()["critic_steps"] == 20
    assert run.sample(7).shape == (7, 2)


def test_same_batch_schedule_makes_k_critic_steps_then_one_generator_step_per_batch():
    model = build(
        POINTS,
        n_critic=3,
        critic_batch="same",
        generator={"use": "mlp", "hidden": 8},
        critic={"use": "mlp", "hidden": 8, "dropout": 0.5},
    )
    calls = []
    critic_step = model.critic_step
    model.critic_step = lambda *a: calls.append("d") or critic_step(*a)
    batch = Batch(torch.randn(16, 2))
    for step in range(2):
        g_before = [p.clone() for p in model.generator.parameters()]
        out = model.train_step(batch, ctx(step))
        assert "loss_g" in out  # every batch updates the generator
        assert not all(torch.equal(a, b) for a, b in zip(g_before, model.generator.parameters(), strict=True))
    assert calls == ["d"] * 6 and model.extra_state()["critic_steps"] == 6


def test_mlp_networks_take_leaky_generator_and_critic_dropout():
    model = build(
        IMAGES, generator={"use": "mlp", "hidden": 8, "slope": 0.2}, critic={"use": "mlp", "hidden": 8, "dropout": 0.3}
    )
    kinds = {type(m).__name__ for m in model.generator.modules()} | {type(m).__name__ for m in model.critic.modules()}
    assert {"LeakyReLU", "Dropout"} <= kinds and "ReLU" not in kinds
    model.critic.eval()  # dropout off: the critic is deterministic
    x = torch.rand(4, 1, 8, 8)
    assert torch.equal(model.critic(x), model.critic(x))


def test_clipping_can_spare_normalisation_layers():
    model = build(
        IMAGES,
        objective={"use": "wgan", "clip": 1e-3, "clip_norm_layers": False},
        n_critic=1,
        generator={"use": "conv", "channels": 4, "fc_hidden": 8, "latent_dim": 4},
        critic={"use": "conv", "channels": 4, "hidden": 8, "norm": "batch"},
        d_optimizer={"use": "rmsprop", "lr": 1.0},
    )
    model.train_step(image_batch(), ctx())
    bound = torch.tensor(1e-3, dtype=torch.float32)
    norms = [m for m in model.critic.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and any(bool(m.weight.abs().max() > bound) for m in norms)  # scale left alone
    weights = [m.weight for m in model.critic.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert all(bool(w.detach().abs().max() <= bound) for w in weights)


class HeadlessCritic(torch.nn.Module):
    """A third-party critic without a class head: forward_aux must not be needed."""

    conditional = False
    num_aux_classes = 0

    def __init__(self, info: DataInfo):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(info.numel, 1))
        self.aux_calls = 0

    def forward(self, x, y=None):
        return self.net(x).squeeze(1)

    def forward_aux(self, x, y=None):
        self.aux_calls += 1
        return self(x, y), None


class HeadedCritic(torch.nn.Module):
    """A third-party AC-GAN critic whose class head is called `classifier`, not `aux`."""

    conditional = False

    def __init__(self, info: DataInfo):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(info.numel, 8), torch.nn.LeakyReLU(0.2))
        self.score = torch.nn.Linear(8, 1)
        self.classifier = torch.nn.Linear(8, info.num_classes)
        self.num_aux_classes = info.num_classes

    def forward(self, x, y=None):
        return self.forward_aux(x, y)[0]

    def forward_aux(self, x, y=None):
        h = self.body(x)
        return self.score(h).squeeze(1), self.classifier(h)


def with_critic(cls: type, info: DataInfo) -> object:
    """A gan model whose critic is built by a third-party factory (checked against Critic like any other)."""
    component = Component("critic", cls.__name__, lambda cfg, bctx: cls(bctx.data), object, "test", protocol=Critic)
    model_cfg = resolve_component(
        "model", {"use": "gan", "n_critic": 2, "generator": {"use": "mlp", "hidden": 8}}
    ).config
    return GAN(
        attrs.evolve(model_cfg, critic=Spec(component, None)), BuildContext(data=info, device=torch.device("cpu"))
    )


def test_aux_loss_only_when_the_critic_declares_a_class_head():
    """Catches the model detecting an AC-GAN head by duck typing (it once looked for an attribute
    named `aux`): a critic whose head has another name then trained without labels or class loss,
    and a critic without a head had to offer one. The head is declared by `num_aux_classes`."""
    bundled = [build(IMAGES, critic={"use": "mlp", "hidden": 8, "aux_classifier": aux}).critic for aux in (False, True)]
    assert all(isinstance(c, Critic) for c in bundled)
    assert [c.num_aux_classes for c in bundled] == [0, 3]

    headless = with_critic(HeadlessCritic, IMAGES)
    assert isinstance(headless.critic, Critic) and not headless.has_aux
    headless.train_step(Batch(torch.rand(6, 1, 8, 8)), ctx())  # no labels needed
    assert headless.critic.aux_calls == 0

    headed = with_critic(HeadedCritic, IMAGES)
    assert isinstance(headed.critic, Critic) and headed.has_aux
    with pytest.raises(GentkError, match="needs labelled data"):
        headed.train_step(Batch(torch.rand(6, 1, 8, 8)), ctx())
    before = headed.critic.classifier.weight.detach().clone()
    headed.train_step(image_batch(), ctx())  # one critic step (n_critic = 2): the class loss trains the head
    assert not torch.equal(before, headed.critic.classifier.weight.detach())


def test_the_gan_model_satisfies_the_model_protocol_with_grid_columns_always_set():
    """Catches `grid_columns` set only for conditional generators (the Model protocol requires it)."""
    plain = build(IMAGES, generator={"use": "mlp", "hidden": 8}, critic={"use": "mlp", "hidden": 8})
    conditional = build(IMAGES, generator={"use": "mlp", "hidden": 8, "conditional": True})
    assert isinstance(plain, Model) and isinstance(conditional, Model)
    assert plain.grid_columns is None and conditional.grid_columns == 3


def test_conditional_samples_fill_one_row_per_class():
    """Catches a conditional GAN cycling the classes along each row (one class per column) while the sample
    figures label one row per class: 9 samples of 3 classes are classes 0, 0, 0, 1, 1, 1, 2, 2, 2 in rows of 3."""
    model = build(IMAGES, generator={"use": "mlp", "hidden": 8, "conditional": True})
    assert model.check_labels(9, None).tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2] and model.grid_columns == 3
    assert model.check_labels(8, None).tolist() == [0, 0, 0, 1, 1, 1, 2, 2] and model.grid_columns == 3
