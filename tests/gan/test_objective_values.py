"""The adversarial objectives pinned to exact values and gradients from their formulas, on hand-chosen scores."""

import math

import pytest
import torch
from torch import nn

from gentk_gan.configs import MinimaxConfig, WassersteinConfig, WassersteinGPConfig
from gentk_gan.objectives import Minimax, Wasserstein, WassersteinGP, gradient_penalty

# asymmetric scores: E[D(real)] = 2, E[D(fake)] = 0.5, so every sign and every swap shows
REAL = [3.0, -1.0, 4.0]
FAKE = [-1.5, 0.5, 2.5]
# logits on both sides of 0, one of them large
L_REAL = [2.0, -1.0, 0.5, 6.0]
L_FAKE = [-3.0, 1.5, 0.25]


def f64(values, grad=False):
    return torch.tensor(values, dtype=torch.float64, requires_grad=grad)


def softplus(x: float) -> float:
    """log(1 + e^x), computed in float64 by hand."""
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def mean(values) -> float:
    return sum(values) / len(values)


def value(t: torch.Tensor) -> float:
    return float(t.detach())


def grad_of(loss: torch.Tensor, t: torch.Tensor) -> list[float]:
    (g,) = torch.autograd.grad(loss, t)
    return g.tolist()


@pytest.mark.parametrize("objective", [Wasserstein(WassersteinConfig()), WassersteinGP(WassersteinGPConfig())])
def test_wasserstein_value_and_losses_have_the_papers_signs(objective):
    """Catches a Wasserstein value written E[D(fake)] - E[D(real)] (the old swap test holds for it
    too), a critic loss that maximises the value instead of its negation, and a generator loss of
    +E[D(fake)] (the generator then runs away from the data)."""
    d_real, d_fake = f64(REAL), f64(FAKE)
    assert float(objective.value(d_real, d_fake)) == pytest.approx(2.0 - 0.5, abs=1e-12)
    assert float(objective(d_real, d_fake)) == pytest.approx(1.5, abs=1e-12)
    assert float(objective.critic_loss(d_real, d_fake)) == pytest.approx(-1.5, abs=1e-12)
    assert float(objective.generator_loss(d_fake)) == pytest.approx(-0.5, abs=1e-12)
    # the critic's gradient raises real scores and lowers fake ones, 1/B each
    d_real, d_fake = f64(REAL, grad=True), f64(FAKE, grad=True)
    grads = torch.autograd.grad(objective.critic_loss(d_real, d_fake), (d_real, d_fake))
    assert grads[0].tolist() == pytest.approx([-1 / 3] * 3)
    assert grads[1].tolist() == pytest.approx([1 / 3] * 3)


def test_minimax_critic_loss_and_value_equal_the_softplus_formulas():
    """Catches a minimax value or critic loss with a sign slip inside a log-sigmoid (log D(fake)
    instead of log(1 - D(fake)), or the real and fake terms swapped), a sum instead of a mean, and
    gradients other than d/dl softplus(-l) = -sigmoid(-l) on real and d/dl softplus(l) = sigmoid(l)
    on fake logits."""
    obj = Minimax(MinimaxConfig())
    l_real, l_fake = f64(L_REAL, grad=True), f64(L_FAKE, grad=True)
    expected = mean([softplus(-a) for a in L_REAL]) + mean([softplus(b) for b in L_FAKE])
    loss = obj.critic_loss(l_real, l_fake)
    assert value(loss) == pytest.approx(expected, rel=1e-12)
    assert value(obj.value(l_real, l_fake)) == pytest.approx(-expected, rel=1e-12)
    g_real, g_fake = torch.autograd.grad(loss, (l_real, l_fake))
    assert g_real.tolist() == pytest.approx([-sigmoid(-a) / len(L_REAL) for a in L_REAL], rel=1e-12)
    assert g_fake.tolist() == pytest.approx([sigmoid(b) / len(L_FAKE) for b in L_FAKE], rel=1e-12)


def test_generator_losses_equal_the_saturating_and_non_saturating_formulas():
    """Catches the two generator losses swapped or their config flag ignored, the non-saturating
    loss written log(1 - D(fake)) with a flipped sign (its gradient then vanishes where D rejects
    fakes, which the shared-fixed-point test cannot see), and gradients other than
    -sigmoid(-l) (non-saturating) and -sigmoid(l) (saturating)."""
    saturating = Minimax(MinimaxConfig(non_saturating=False))
    non_saturating = Minimax(MinimaxConfig(non_saturating=True))
    n = len(L_FAKE)
    l_fake = f64(L_FAKE, grad=True)
    # non-saturating: mean softplus(-l) = -mean log sigmoid(l)
    loss = non_saturating.generator_loss(l_fake)
    assert value(loss) == pytest.approx(mean([softplus(-b) for b in L_FAKE]), rel=1e-12)
    assert value(loss) == pytest.approx(-mean([math.log(sigmoid(b)) for b in L_FAKE]), rel=1e-12)
    assert grad_of(loss, l_fake) == pytest.approx([-sigmoid(-b) / n for b in L_FAKE], rel=1e-12)
    # saturating: mean -softplus(l) = mean log(1 - sigmoid(l))
    loss = saturating.generator_loss(l_fake)
    assert value(loss) == pytest.approx(-mean([softplus(b) for b in L_FAKE]), rel=1e-12)
    assert value(loss) == pytest.approx(mean([math.log(1 - sigmoid(b)) for b in L_FAKE]), rel=1e-12)
    assert grad_of(loss, l_fake) == pytest.approx([-sigmoid(b) / n for b in L_FAKE], rel=1e-12)
    # where the critic rejects a fake (l = -8) the saturating gradient is e^-8 times weaker
    rejected = f64([-8.0], grad=True)
    weak = grad_of(saturating.generator_loss(rejected), rejected)[0]
    strong = grad_of(non_saturating.generator_loss(rejected), rejected)[0]
    assert weak / strong == pytest.approx(math.exp(-8.0), rel=1e-9)


def test_label_smoothed_critic_loss_equals_cross_entropy_to_the_smoothed_label():
    """Catches label smoothing applied to the fake term as well (two-sided instead of one-sided),
    or the real term mixing with weights a and 1 - a swapped."""
    a = 0.9
    obj = Minimax(MinimaxConfig(real_label=a))
    expected = mean([a * softplus(-r) + (1 - a) * softplus(r) for r in L_REAL]) + mean([softplus(b) for b in L_FAKE])
    assert float(obj.critic_loss(f64(L_REAL), f64(L_FAKE))) == pytest.approx(expected, rel=1e-12)


def test_minimax_losses_are_exact_for_float32_logits_of_magnitude_200():
    """Catches the losses computed as log(sigmoid(l)) or log(1 - sigmoid(l)), which give -inf or
    NaN once the sigmoid rounds to 0 or 1 in float32 (a confident critic early in training)."""
    big = torch.tensor([200.0, -200.0])
    obj, ns = Minimax(MinimaxConfig()), Minimax(MinimaxConfig(non_saturating=True))
    # softplus(200) = 200 and softplus(-200) = e^-200, which rounds to 0 next to anything of order 1
    assert float(obj.critic_loss(big, big)) == pytest.approx((0 + 200) / 2 + (200 + 0) / 2, rel=1e-6)
    assert float(ns.generator_loss(big)) == pytest.approx(200 / 2, rel=1e-6)
    assert float(obj.generator_loss(big)) == pytest.approx(-200 / 2, rel=1e-6)


class LinearCritic(nn.Module):
    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w, dtype=torch.float64))

    def forward(self, x, y=None):
        return x.flatten(1) @ self.w


class QuadraticCritic(nn.Module):
    """D(x) = |x|^2 / 2, whose gradient at x is x itself: the penalty then depends on where x_hat lies."""

    def forward(self, x, y=None):
        return 0.5 * x.flatten(1).pow(2).sum(1)


def test_wgan_gp_penalty_of_a_linear_critic_is_weight_times_norm_minus_one_squared_and_trains_the_critic():
    """Catches the penalty weight ignored or squared, a penalty on the squared norm (|w|^2 - 1)^2,
    and a gradient taken without create_graph, so that the penalty does not reach the critic's
    weights (d/dw of weight (|w| - 1)^2 is 2 weight (|w| - 1) w / |w|)."""
    weight = 7.0
    critic = LinearCritic([3.0, 0.0, -4.0])  # |w| = 5 everywhere
    g = torch.Generator().manual_seed(3)
    real = torch.randn(6, 3, generator=g, dtype=torch.float64)
    fake = torch.randn(6, 3, generator=g, dtype=torch.float64)
    penalty = WassersteinGP(WassersteinGPConfig(weight=weight)).penalty(critic, real, fake)
    assert value(penalty) == pytest.approx(weight * (5 - 1) ** 2, rel=1e-9)
    (grad_w,) = torch.autograd.grad(penalty, critic.w)
    assert grad_w.tolist() == pytest.approx([2 * weight * 4 * c / 5 for c in (3.0, 0.0, -4.0)], rel=1e-9)


class ClassLinearCritic(nn.Module):
    """D(x, y) = w_y . x: the gradient's norm is |w_y|, so the penalty depends on the labels."""

    def __init__(self, rows):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(rows, dtype=torch.float64))

    def forward(self, x, y=None):
        w = self.w[y] if y is not None else self.w.mean(0).expand(len(x), -1)
        return (x.flatten(1) * w).sum(1)


def test_the_penalty_of_a_conditional_critic_is_taken_with_the_labels():
    """Catches the gradient penalty computed with the labels dropped (the critic scored as
    unconditional), in WassersteinGP.penalty or in gradient_penalty: per class |w_0| = 5 and
    |w_1| = 2, so the labels (0, 1, 1) give weight * mean(16, 1, 1) = 6 weight."""
    critic = ClassLinearCritic([[3.0, 4.0], [0.0, 2.0]])
    x = torch.randn(3, 2, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    labels = torch.tensor([0, 1, 1])
    penalty = WassersteinGP(WassersteinGPConfig(weight=2.0)).penalty(critic, x, x.flip(0), labels)
    assert value(penalty) == pytest.approx(2.0 * 6.0, rel=1e-9)


def test_a_flat_critic_has_a_finite_penalty_of_one_weight():
    """Catches the small constant that keeps the norm's square root differentiable subtracted
    instead of added (sqrt of -1e-12 is NaN where the critic's gradient vanishes)."""
    flat = LinearCritic([0.0, 0.0])
    x = torch.randn(4, 2, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    penalty = WassersteinGP(WassersteinGPConfig(weight=3.0)).penalty(flat, x, -x)
    assert value(penalty) == pytest.approx(3.0, rel=1e-5)


def test_gradient_penalty_is_taken_at_per_sample_interpolates_between_real_and_fake():
    """Catches the interpolate x_hat = e real + (1 - e) fake drawn with one e for the whole batch
    or with e and 1 - e swapped, a norm over the whole batch instead of per sample, and a penalty
    (|grad|^2 - 1)^2 or |grad|^2 - 1: with D = |x|^2 / 2 the gradient at x_hat is x_hat, so the
    exact value is the mean of (|x_hat| - 1)^2 with the e the same generator draws."""
    real = torch.tensor([[3.0, 0.0], [0.0, 2.0], [1.0, 1.0], [-2.0, 0.5]], dtype=torch.float64)
    fake = torch.tensor([[0.0, 0.0], [0.0, -1.0], [4.0, -3.0], [0.5, 0.5]], dtype=torch.float64)
    e = torch.rand(4, 1, generator=torch.Generator().manual_seed(11), dtype=torch.float64)
    assert float(e.max() - e.min()) > 0.2  # the draws differ enough to tell per-sample e from one e
    x_hat = e * real + (1 - e) * fake
    expected = ((x_hat.pow(2).sum(1).sqrt() - 1) ** 2).mean()
    penalty = gradient_penalty(QuadraticCritic(), real, fake, generator=torch.Generator().manual_seed(11))
    assert value(penalty) == pytest.approx(float(expected), rel=1e-9)


def test_weight_clipping_clamps_to_plus_minus_c_and_spares_norm_layers_when_asked():
    """Catches clipping to [0, c] or [-c, 0], rescaling instead of clamping (which also moves
    weights already inside the box), clipping not applied in place, and `clip_norm_layers`
    inverted (normalisation scales clipped when they should be spared, or the other way round)."""
    c = 0.05
    values = torch.tensor([[-1.0, -0.05, -0.01], [0.0, 0.03, 2.0]])
    expected = torch.tensor([[-c, -0.05, -0.01], [0.0, 0.03, c]])

    def critic():
        net = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
        with torch.no_grad():
            net[0].weight.copy_(values)
            net[0].bias.copy_(torch.tensor([0.5, -0.02]))
            net[1].weight.copy_(torch.tensor([1.0, -0.3]))
        return net

    everything = critic()
    Wasserstein(WassersteinConfig(clip=c, clip_norm_layers=True)).after_critic_step(everything)
    assert torch.equal(everything[0].weight.detach(), expected)
    assert torch.equal(everything[0].bias.detach(), torch.tensor([c, -0.02]))
    assert torch.equal(everything[1].weight.detach(), torch.tensor([c, -c]))

    weights_only = critic()
    Wasserstein(WassersteinConfig(clip=c, clip_norm_layers=False)).after_critic_step(weights_only)
    assert torch.equal(weights_only[0].weight.detach(), expected)
    assert torch.equal(weights_only[0].bias.detach(), torch.tensor([c, -0.02]))
    assert torch.equal(weights_only[1].weight.detach(), torch.tensor([1.0, -0.3]))
