"""Properties of the adversarial objectives: values, fixed points, clipping, gradient penalty, label smoothing."""

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gentk.families.gan import AdversarialObjective
from gentk_gan.configs import MinimaxConfig, WassersteinConfig, WassersteinGPConfig
from gentk_gan.objectives import Minimax, Wasserstein, WassersteinGP, gradient_penalty

floats = st.floats(-20, 20, allow_nan=False, width=32)
scores = st.lists(floats, min_size=1, max_size=32).map(torch.tensor)


def test_every_objective_implements_the_adversarial_objective_protocol():
    """Catches an objective that lacks a member the GAN model calls (the shared base once left
    generator_loss to subclasses, so a new objective could omit it and fail only in training)."""
    for obj in (Minimax(MinimaxConfig()), Wasserstein(WassersteinConfig()), WassersteinGP(WassersteinGPConfig())):
        assert isinstance(obj, AdversarialObjective)
        assert isinstance(obj.scores_are_logits, bool)


@given(st.integers(1, 64), st.integers(1, 64))
def test_minimax_value_at_d_half_is_minus_log4(n_real, n_fake):
    # D = sigmoid(0) = 1/2 everywhere
    value = Minimax(MinimaxConfig())(torch.zeros(n_real), torch.zeros(n_fake))
    assert math.isclose(float(value), -math.log(4), rel_tol=1e-6)


@given(scores, scores)
def test_minimax_critic_loss_is_minus_value_and_value_at_most_zero(d_real, d_fake):
    obj = Minimax(MinimaxConfig())
    assert float(obj.value(d_real, d_fake)) <= 0
    assert torch.allclose(obj.critic_loss(d_real, d_fake), -obj.value(d_real, d_fake))


def _generator_grad(non_saturating: bool, mu_g: float, mu0: float, z: torch.Tensor) -> float:
    """d loss / d mu for G(z) = z + mu, data N(0, 1), with D frozen at the optimum for N(mu0, 1):
    logit D*(x) = log N(x; 0, 1) - log N(x; mu0, 1)."""
    mu = torch.tensor(mu_g, dtype=torch.float64, requires_grad=True)
    x = z + mu
    logits = -0.5 * x.pow(2) + 0.5 * (x - mu0).pow(2)
    loss = Minimax(MinimaxConfig(non_saturating=non_saturating)).generator_loss(logits)
    (grad,) = torch.autograd.grad(loss, mu)
    return float(grad)


@settings(max_examples=20)
@given(st.floats(-3, 3).filter(lambda m: abs(m) > 1e-2), st.integers(0, 10_000))
def test_saturating_and_non_saturating_share_their_fixed_point(mu0, seed):
    z = torch.randn(256, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    for ns in (False, True):
        # at p_g = p_data the optimal D is 1/2 everywhere and the generator gradient vanishes ...
        assert _generator_grad(ns, 0.0, 0.0, z) == 0.0
        # ... and away from it both losses push the generator mean towards the data (descent moves mu to 0)
        assert math.copysign(1, _generator_grad(ns, mu0, mu0, z)) == math.copysign(1, mu0)


@given(scores, scores)
def test_wasserstein_value_changes_sign_when_real_and_fake_swap(d_real, d_fake):
    obj = Wasserstein(WassersteinConfig())
    assert torch.allclose(obj.value(d_real, d_fake), -obj.value(d_fake, d_real))
    assert torch.allclose(obj.generator_loss(d_fake), -d_fake.mean())


class LinearCritic(torch.nn.Module):
    def __init__(self, w: torch.Tensor):
        super().__init__()
        self.w = torch.nn.Parameter(w)

    def forward(self, x, y=None):
        return x.flatten(1) @ self.w


@given(
    st.lists(st.floats(-5, 5, allow_nan=False), min_size=2, max_size=8).filter(lambda w: sum(a * a for a in w) > 1e-3),
    st.integers(0, 10_000),
)
def test_gradient_penalty_is_zero_for_unit_gradient_critic(w, seed):
    w = torch.tensor(w, dtype=torch.float64)
    g = torch.Generator().manual_seed(seed)
    real, fake = (
        torch.randn(16, len(w), generator=g, dtype=torch.float64),
        torch.randn(16, len(w), generator=g, dtype=torch.float64),
    )
    unit = LinearCritic(w / w.norm())
    assert float(gradient_penalty(unit, real, fake, generator=g).detach()) < 1e-12
    # a critic with gradient norm 3 pays (3 - 1)^2 = 4
    steep = LinearCritic(3 * w / w.norm())
    assert math.isclose(float(gradient_penalty(steep, real, fake, generator=g).detach()), 4.0, rel_tol=1e-6)


def test_wgan_gp_adds_weighted_penalty_and_does_not_clip():
    critic = LinearCritic(torch.full((4,), 2.0))  # gradient norm 4 everywhere
    obj = WassersteinGP(WassersteinGPConfig(weight=10.0))
    x = torch.randn(8, 4)
    assert math.isclose(float(obj.penalty(critic, x, x + 1).detach()), 10.0 * (4 - 1) ** 2, rel_tol=1e-5)
    obj.after_critic_step(critic)
    assert torch.equal(critic.w.detach(), torch.full((4,), 2.0))


@settings(max_examples=30)
@given(st.floats(0.6, 0.99), floats, floats)
def test_label_smoothing_critic_optimum_on_real_is_the_smoothed_label(a, d_real, d_fake):
    # the smoothed critic loss is cross-entropy to target a on real data: minimised where D(x) = a,
    # it equals the plain loss when a = 1, and it never goes below the plain loss's entropy bound
    obj = Minimax(MinimaxConfig(real_label=a))
    s = torch.tensor([d_real], dtype=torch.float64, requires_grad=True)
    loss = obj.critic_loss(s, torch.tensor([d_fake], dtype=torch.float64))
    (grad,) = torch.autograd.grad(loss, s)
    assert math.isclose(float(grad.detach()), float(torch.sigmoid(s.detach())) - a, abs_tol=1e-9)
    plain = Minimax(MinimaxConfig())
    t = torch.tensor([d_real])
    assert torch.allclose(Minimax(MinimaxConfig(real_label=1.0)).critic_loss(t, t), plain.critic_loss(t, t))
