"""The VAE bounds, likelihoods, IWAE objective and nll metric: the seed fixes every draw, the
noise lives on the data's device and precision, bounded samples are clamped, and the metric's
edge cases (empty, one- and two-example splits, progress, warnings, hints)."""

import math
import re
import warnings

import pytest
import torch

from gentk.errors import GentkError
from gentk.interfaces import BuildContext, DataInfo, Split
from gentk.recipe import resolve_component
from gentk_vae import metrics
from gentk_vae.bounds import iwae_bound, log_weights, reparameterize
from gentk_vae.likelihoods import Bernoulli, Gaussian

from . import linear_gaussian

POINTS4 = DataInfo(shape=(4,), kind="points")
LOG_2PI = math.log(2 * math.pi)


def gaussian(shape, bounded, logvar=0.0):
    return Gaussian(shape, bounded=bounded, init_logvar=logvar, min_logvar=-10.0, max_logvar=10.0)


def seeded(seed):
    return torch.Generator().manual_seed(seed)


class Stub:
    """A latent-variable model made of a given encoder and decoder."""

    def __init__(self, encoder, decoder, device="cpu"):
        self.encoder, self.decoder, self.device = encoder, decoder, torch.device(device)

    def networks(self):
        return {"encoder": self.encoder, "decoder": self.decoder}


def nll_metric(**table):
    return resolve_component("metric", {"use": "nll", **table}).build()


def shifted_model(seed=0):
    """A linear-Gaussian model whose encoder is off the posterior, so importance weights vary."""
    encoder, decoder, log_px = linear_gaussian.build(4, 2, [1.0, 0.5], 0.6, seed=seed, shift=0.5, widen=1.5)
    return encoder, decoder, log_px


# -- bounds -------------------------------------------------------------------------------------
def test_reparameterize_draws_noise_on_the_device_of_the_mean():
    """Catches reparameterisation noise created on the default device instead of the device of
    mu (on a GPU: a device-mismatch error, or z silently left on the CPU)."""
    mu = torch.zeros(2, 3, device="meta")
    logvar = torch.zeros(2, 3, device="meta")
    for k, shape in ((None, (2, 3)), (4, (4, 2, 3))):
        z = reparameterize(mu, logvar, k)
        assert z.device.type == "meta" and z.shape == shape


def test_reparameterize_draws_float64_noise_for_float64_inputs_from_the_generator():
    """Catches reparameterisation noise drawn in the default float32 instead of the dtype of mu
    (float64 evaluation silently limited to float32 noise), and noise not taken from the
    generator passed in."""
    g = seeded(0)
    mu = torch.randn(3, 2, generator=g, dtype=torch.float64)
    logvar = torch.randn(3, 2, generator=g, dtype=torch.float64)
    torch.manual_seed(123)  # the global generator must play no part
    z = reparameterize(mu, logvar, 5, seeded(7))
    eps = torch.randn((5, 3, 2), generator=seeded(7), dtype=torch.float64)
    assert z.dtype == torch.float64
    torch.testing.assert_close(z, mu + (0.5 * logvar).exp() * eps, rtol=0, atol=1e-12)


def test_log_weights_and_iwae_bound_match_a_float64_hand_computation_with_the_same_noise():
    """Catches log-weights or an IWAE bound that ignore the generator passed in (drawing from the
    global one, so a seed no longer fixes the bound), and any slip in log p(x|z) + log p(z) -
    log q(z|x). The reference redraws the same eps from an identically seeded generator and
    evaluates the three Gaussian log-densities by hand in float64."""
    encoder, decoder, _ = shifted_model()
    x = linear_gaussian.sample_x(4, 3, 0)
    k = 6
    with torch.no_grad():
        mu, logvar = encoder(x)
        torch.manual_seed(99)
        weights = log_weights(x, mu, logvar, decoder, k, seeded(11))  # (K, B)
        torch.manual_seed(100)
        bound = iwae_bound(x, encoder, decoder, k, seeded(11))  # (B,)
        linear = decoder.net[0][0]
        w, b = linear.weight.double(), linear.bias.double()  # (D, Z), (D,)
        var_x = decoder.likelihood.clamped_logvar().double().exp()  # (D,)
    eps = torch.randn((k, 3, 2), generator=seeded(11)).double()
    mu, logvar = mu.double(), logvar.double()
    z = mu + (0.5 * logvar).exp() * eps  # (K, B, Z)
    log_px_z = -0.5 * ((x.double() - (z @ w.T + b)) ** 2 / var_x + var_x.log() + LOG_2PI).sum(-1)
    log_pz = -0.5 * (z**2 + LOG_2PI).sum(-1)
    log_qz = -0.5 * (eps**2 + logvar + LOG_2PI).sum(-1)
    expected = log_px_z + log_pz - log_qz
    torch.testing.assert_close(weights.double(), expected, rtol=0, atol=1e-4)
    torch.testing.assert_close(bound.double(), torch.logsumexp(expected, 0) - math.log(k), rtol=0, atol=1e-4)


# -- the IWAE objective -------------------------------------------------------------------------
def test_iwae_objective_is_the_k_sample_bound_drawn_from_the_generator():
    """Catches an IWAE objective that drops its K (None: the log-mean-exp then runs over the batch
    and `iwae` is a scalar), ignores the generator passed in, or logs the bound under another
    name than `iwae`."""
    encoder, decoder, _ = shifted_model(1)
    x = linear_gaussian.sample_x(4, 5, 1)
    objective = resolve_component("objective", {"use": "iwae", "k": 7}).build()
    torch.manual_seed(1)
    out = objective(x, encoder, decoder, generator=seeded(3))
    torch.manual_seed(2)
    expected = iwae_bound(x, encoder, decoder, 7, seeded(3))
    assert set(out) == {"loss", "iwae"}
    assert out["iwae"].shape == (5,)
    torch.testing.assert_close(out["iwae"], expected, rtol=0, atol=0)
    torch.testing.assert_close(out["loss"], -expected.mean(), rtol=0, atol=0)


# -- likelihoods --------------------------------------------------------------------------------
def test_likelihoods_sum_over_every_dimension_of_a_two_dimensional_event():
    """Catches log p(x|z) that, for a data shape of two dimensions such as (H, W), sums only the
    last one (the event dimensions not merged before the sum)."""
    g = seeded(0)
    x = (torch.rand(3, 4, 5, generator=g) > 0.5).float()
    params = torch.randn(2, 3, 4, 5, generator=g)  # (K, B, H, W)
    bern = Bernoulli((4, 5)).log_prob(x, params)
    assert bern.shape == (2, 3)
    torch.testing.assert_close(bern, torch.distributions.Bernoulli(logits=params).log_prob(x).sum((-2, -1)))
    gauss = gaussian((4, 5), bounded=False, logvar=-1.0).log_prob(x, params)
    assert gauss.shape == (2, 3)
    normal = torch.distributions.Normal(params, math.exp(-0.5))
    torch.testing.assert_close(gauss, normal.log_prob(x).sum((-2, -1)))


def test_gaussian_samples_add_the_generators_noise_on_the_means_device():
    """Catches Gaussian sampling whose noise ignores the generator passed in (a seed would not fix
    the samples) or is created on the default device instead of the mean's (on a GPU: a device
    mismatch). The seeded samples are mean + sigma * eps with eps from the same seed."""
    lik = gaussian((3,), bounded=False, logvar=-0.7)
    mean = torch.tensor([[0.1, -2.0, 3.0], [1.0, 0.0, -1.0]])
    torch.manual_seed(5)
    x = lik.sample(mean, seeded(4))
    eps = torch.randn((2, 3), generator=seeded(4))
    torch.testing.assert_close(x, mean + math.exp(-0.35) * eps)
    on_meta = lik.to("meta").sample(mean.to("meta"))
    assert on_meta.device.type == "meta" and on_meta.shape == (2, 3)


def test_bounded_gaussian_samples_are_clamped_to_the_unit_interval_and_points_are_not():
    """Catches image samples not clamped to [0, 1] (or clamped at one end only, to the wrong
    bounds, or collapsed to a constant), and point samples clamped as if they were pixels.
    With mean 1/2 and sigma 1, P(x = 0) = P(x = 1) = Phi(-1/2) = 0.30854; each fraction over
    n = 4000 draws has standard error sqrt(p (1 - p) / n) = 0.0073 and is checked to 5 of them
    (a false alarm about once in 3.5 million seeds; the wrong bounds move it by 0.3 or more)."""
    n = 4000
    mean = torch.full((n,), 0.5)
    x = gaussian((n,), bounded=True).sample(mean, seeded(0))
    assert x.min() == 0 and x.max() == 1
    p, se = 0.308538, math.sqrt(0.308538 * 0.691462 / n)
    assert abs((x == 0).float().mean().item() - p) < 5 * se
    assert abs((x == 1).float().mean().item() - p) < 5 * se
    points = gaussian((n,), bounded=False).sample(mean, seeded(0))
    assert points.min() < -1 and points.max() > 2


# -- the nll metric -----------------------------------------------------------------------------
def test_nll_metric_is_fixed_by_its_generator():
    """Catches a metric that draws its importance samples from torch's global generator instead
    of the one passed (a seeded evaluation would not be reproducible)."""
    encoder, decoder, _ = shifted_model(2)
    x = linear_gaussian.sample_x(4, 6, 2)
    metric = nll_metric(k=8, batch_size=4, chunk=3)
    runs = []
    for global_seed, seed in ((1, 5), (2, 5), (1, 6)):
        torch.manual_seed(global_seed)
        runs.append(metric.evaluate(Stub(encoder, decoder), Split(x), POINTS4, generator=seeded(seed))["nll"])
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]  # the estimate does depend on the draws


def test_nll_metric_on_one_and_two_examples():
    """Catches a standard error over a single example that is computed anyway (torch then warns
    about zero degrees of freedom) or built from a malformed NaN, a one-example split rejected as
    empty, and a two-example split reported without its standard error. With the exact posterior
    every log-weight is log p(x), so nll is -log p(x) and, for two examples, the standard error
    std / sqrt(2) is |log p(x1) - log p(x2)| / 2."""
    encoder, decoder, log_px = linear_gaussian.build(4, 2, [1.2, 0.4], 0.5, seed=2)
    x = linear_gaussian.sample_x(4, 2, 2)
    exact = log_px(x)
    metric = nll_metric(k=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        one = metric.evaluate(Stub(encoder, decoder), Split(x[:1]), POINTS4, generator=seeded(0))
    assert one["n_examples"] == 1 and math.isnan(one["nll_stderr"])
    assert one["nll"] == pytest.approx(-exact[0].item(), abs=1e-3)
    two = metric.evaluate(Stub(encoder, decoder), Split(x), POINTS4, generator=seeded(0))
    assert two["nll_stderr"] == pytest.approx(abs(exact[0] - exact[1]).item() / 2, abs=1e-3)


def test_nll_metric_rejects_an_empty_split_with_a_hint():
    """Catches an empty test split that is not reported as a GentkError saying it is empty with a
    hint (e.g. a check against length 1, so torch.cat fails on no batches, or an error with no
    message or hint)."""
    encoder, decoder, _ = shifted_model()
    with pytest.raises(GentkError) as caught:
        nll_metric(k=2).evaluate(Stub(encoder, decoder), Split(torch.zeros(0, 4)), POINTS4, generator=seeded(0))
    assert "empty" in caught.value.message.lower()
    assert caught.value.hint


def test_nll_metric_hint_names_a_model_that_exists():
    """Catches the hint for a model without an encoder going missing or naming a model that the
    registry does not know (e.g. "VAE" for "vae")."""
    with pytest.raises(GentkError) as caught:
        nll_metric(k=2).evaluate(object(), Split(torch.zeros(3, 4)), POINTS4, generator=seeded(0))
    named = re.search(r'model "([^"]+)"', caught.value.hint or "")
    assert named, caught.value.hint
    assert resolve_component("model", named.group(1)).name == "vae"


def test_nll_metric_feeds_batches_on_the_models_device():
    """Catches test batches left on the CPU instead of moved to the model's device (on a GPU the
    encoder would fail on them)."""
    seen = []

    class Stop(Exception):
        pass

    class Encoder(torch.nn.Module):
        latent_dim = 2

        def forward(self, x):
            seen.append(x.device.type)
            raise Stop

    _, decoder, _ = shifted_model()
    with pytest.raises(Stop):
        nll_metric(k=2).evaluate(
            Stub(Encoder(), decoder, device="meta"), Split(torch.zeros(3, 4)), POINTS4, generator=seeded(0)
        )
    assert seen == ["meta"]


def test_nll_metric_progress_counts_batches(monkeypatch):
    """Catches a progress bar for the metric whose total is not the number of batches (missing,
    or examples times batch size, so the bar and its ETA are wrong) or whose unit is not the
    batch."""
    calls = []
    real = metrics.track

    def spy(iterable, description, total=None, *, unit="it"):
        call = {"total": total, "unit": unit, "items": 0}
        calls.append(call)
        for item in real(iterable, description, total, unit=unit):
            call["items"] += 1
            yield item

    monkeypatch.setattr(metrics, "track", spy)
    encoder, decoder, _ = shifted_model()
    x = linear_gaussian.sample_x(4, 7, 0)
    nll_metric(k=2, batch_size=3).evaluate(Stub(encoder, decoder), Split(x), POINTS4, generator=seeded(0))
    assert calls == [{"total": 3, "unit": "batch", "items": 3}]


def test_nll_metric_warns_about_a_continuous_density_on_pixels():
    """Catches the comparability warning not given for a Gaussian decoder on image data (a density
    in nats per continuous pixel is not comparable with binarised-MNIST likelihoods)."""
    info = DataInfo(shape=(1, 4, 4))
    table = {
        "use": "vae",
        "encoder": {"use": "mlp_gaussian", "latent_dim": 2, "hidden": [8]},
        "decoder": {"use": "mlp_gaussian", "hidden": [8]},
    }
    model = resolve_component("model", table).build(BuildContext(info, torch.device("cpu")))
    images = Split(torch.randint(0, 256, (3, 1, 4, 4), generator=seeded(0), dtype=torch.uint8))
    result = nll_metric(k=2).evaluate(model, images, info, generator=seeded(0))
    assert result.get("warning")


def test_head_keeps_the_labels_with_their_images():
    """Catches the first n examples of a labelled split returned without their labels."""
    x, y = torch.zeros(5, 2), torch.arange(5)
    head = metrics._head(Split(x, y), 3)
    assert len(head) == 3 and head.y is not None and head.y.tolist() == [0, 1, 2]
