"""The VAE networks, the `vae` model, the `nll` metric and the recipes, on tiny data."""

from contextlib import nullcontext
from pathlib import Path

import pytest
import torch

from gentk import api
from gentk.errors import GentkError, RecipeError
from gentk.families.vae import Decoder, Encoder, LatentVariableModel
from gentk.interfaces import Batch, BuildContext, DataInfo, HasFigures, Model, Split, StepContext
from gentk.recipe import load_recipe, resolve_component
from tests.stubs import BareModel

from . import linear_gaussian

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
IMAGES = DataInfo(shape=(1, 8, 8), binarized=True)
POINTS = DataInfo(shape=(2,), kind="points")
FP32 = StepContext(0, 0, nullcontext, torch.device("cpu"))
BF16 = StepContext(0, 0, lambda: torch.autocast("cpu", dtype=torch.bfloat16), torch.device("cpu"))


def vae(info=IMAGES, **table):
    small = {
        "encoder": {"use": "mlp_gaussian", "latent_dim": 3, "hidden": [16]},
        "decoder": {"use": "mlp_bernoulli", "hidden": [16]},
    }
    return resolve_component("model", {"use": "vae", **small, **table}).build(BuildContext(info, torch.device("cpu")))


def decoder(table, info=IMAGES, latent_dim=3):
    return resolve_component("decoder", table).build(BuildContext(info), latent_dim=latent_dim)


def binary_images(n=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 1, 8, 8, generator=g) > 0.5).float()


# -- networks -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "table",
    [
        "mlp_bernoulli",
        "mlp_gaussian",
        {"use": "conv_bernoulli", "channels": [4, 8], "hidden": 16, "upsample": "transposed"},
        {"use": "conv_gaussian", "channels": [4, 8], "hidden": 16, "upsample": "resize", "resize_mode": "bilinear"},
    ],
)
def test_decoders_take_any_leading_dims_and_score_per_example(table):
    dec = decoder(table)
    params = dec(torch.randn(5, 4, 3))  # (K, B, Z)
    assert params.shape == (5, 4, 1, 8, 8)
    x = binary_images(4)
    assert dec.log_prob(x, params).shape == (5, 4)
    mean = dec.mean(params)
    assert mean.min() >= 0 and mean.max() <= 1


def test_resize_and_transposed_upsampling_build_different_layers():
    kinds = {}
    for how in ("transposed", "resize"):
        dec = decoder({"use": "conv_bernoulli", "channels": [4, 8], "hidden": 16, "upsample": how})
        kinds[how] = {type(m).__name__ for m in dec.modules()}
    assert "ConvTranspose2d" in kinds["transposed"] and "Upsample" not in kinds["transposed"]
    assert "Upsample" in kinds["resize"] and "ConvTranspose2d" not in kinds["resize"]


def test_conv_encoder_gives_mean_and_log_variance():
    enc = resolve_component("encoder", {"use": "conv_gaussian", "latent_dim": 5, "channels": [4, 8], "hidden": 16})
    mu, logvar = enc.build(BuildContext(IMAGES))(binary_images(3))
    assert mu.shape == logvar.shape == (3, 5)


def test_bernoulli_log_prob_matches_torch_distributions():
    dec = decoder("mlp_bernoulli")
    logits, x = dec(torch.randn(2, 3)), binary_images(2)
    expected = torch.distributions.Bernoulli(logits=logits).log_prob(x).sum((1, 2, 3))
    torch.testing.assert_close(dec.log_prob(x, logits), expected)


def test_gaussian_variance_is_a_clamped_parameter():
    dec = decoder({"use": "mlp_gaussian", "min_logvar": -4.0, "max_logvar": 1.0})
    with torch.no_grad():
        dec.likelihood.logvar.fill_(-50.0)
    mean, x = dec(torch.randn(2, 3)), torch.rand(2, 1, 8, 8)
    expected = torch.distributions.Normal(mean, torch.tensor(-4.0 / 2).exp()).log_prob(x).sum((1, 2, 3))
    torch.testing.assert_close(dec.log_prob(x, mean), expected)
    assert "likelihood.logvar" in dict(dec.named_parameters())


def test_wrong_data_or_settings_are_user_errors():
    with pytest.raises(GentkError, match="points"):
        decoder("mlp_bernoulli", info=POINTS)
    with pytest.raises(GentkError, match="images"):
        decoder("conv_gaussian", info=POINTS)
    with pytest.raises(GentkError, match="divisible"):
        decoder({"use": "conv_bernoulli", "channels": [4, 8, 8, 8]})
    with pytest.raises(RecipeError):
        resolve_component("decoder", {"use": "mlp_gaussian", "min_logvar": 1.0, "max_logvar": 0.0})
    with pytest.raises(RecipeError):
        resolve_component("objective", {"use": "iwae", "k": 0})


# -- the model ----------------------------------------------------------------------------------
@pytest.mark.parametrize("objective", ["elbo", {"use": "beta_elbo", "beta": 2.0}, {"use": "iwae", "k": 4}])
def test_training_lowers_the_loss(objective):
    torch.manual_seed(0)
    model = vae(objective=objective, optimizer={"use": "adam", "lr": 1e-2})
    assert isinstance(model, Model) and isinstance(model, HasFigures)
    x = binary_images(32)
    x[:, :, :4] = 1.0  # structure to learn: the top half is always on
    first = float(model.train_step(Batch(x), FP32)["loss"])
    for _ in range(20):
        last = float(model.train_step(Batch(x), FP32)["loss"])
    assert last < first - 5


def test_bf16_autocast_keeps_the_loss_in_fp32():
    model = vae(objective={"use": "iwae", "k": 3}, decoder={"use": "mlp_gaussian", "hidden": [16]})
    out = model.train_step(Batch(binary_images()), BF16)
    assert out["loss"].dtype == torch.float32 and torch.isfinite(out["loss"])


def test_samples_reconstructions_and_options():
    model = vae()
    g = torch.Generator().manual_seed(0)
    images = model.sample(6, generator=g)
    assert images.shape == (6, 1, 8, 8) and images.min() >= 0 and images.max() <= 1
    torch.testing.assert_close(model.sample(6, generator=torch.Generator().manual_seed(0)), images)
    x = binary_images(40)
    pairs = model.figures(Batch(x), generator=g)["reconstructions"]
    assert pairs.shape == (64, 1, 8, 8)
    torch.testing.assert_close(pairs[0::2], x[:32])
    torch.testing.assert_close(pairs[1::2], model.reconstruct(x[:32]))
    with pytest.raises(GentkError, match="unconditional"):
        model.sample(2, generator=g, labels=torch.zeros(2, dtype=torch.long))
    with pytest.raises(GentkError, match="steps"):
        model.sample(2, generator=g, steps=10)


def test_points_model_draws_from_the_decoder():
    model = vae(POINTS, decoder={"use": "mlp_gaussian", "hidden": [16]})
    points = model.sample(50, generator=torch.Generator().manual_seed(0))
    assert points.shape == (50, 2) and torch.isfinite(points).all()
    assert model.figures(Batch(points), generator=torch.Generator()) == {}


# -- the nll metric -----------------------------------------------------------------------------
class _Exact:
    def __init__(self, encoder, decoder):
        self.encoder, self.decoder, self.device = encoder, decoder, torch.device("cpu")

    def networks(self):
        return {"encoder": self.encoder, "decoder": self.decoder}


def nll_metric(**table):
    return resolve_component("metric", {"use": "nll", **table}).build()


def test_nll_metric_equals_exact_likelihood_with_the_true_posterior():
    enc, dec, log_px = linear_gaussian.build(4, 2, [1.2, 0.4], 0.5, seed=2)
    x = linear_gaussian.sample_x(4, 30, 2)
    info = DataInfo(shape=(4,), kind="points")
    result = nll_metric(k=20, batch_size=7, chunk=6).evaluate(
        _Exact(enc, dec), Split(x), info, generator=torch.Generator()
    )
    exact = log_px(x)
    assert result["nll"] == pytest.approx(-exact.mean().item(), abs=1e-3)
    assert result["nll_stderr"] == pytest.approx(exact.std().item() / 30**0.5, rel=1e-2)
    assert result["k"] == 20 and result["n_examples"] == 30 and "warning" not in result
    limited = nll_metric(k=5, n_examples=10).evaluate(_Exact(enc, dec), Split(x), info, generator=torch.Generator())
    assert limited["n_examples"] == 10


def test_nll_metric_warns_when_numbers_are_not_comparable_and_rejects_other_models():
    model = vae()
    split = Split((torch.rand(5, 1, 8, 8) * 255).to(torch.uint8))
    plain = DataInfo(shape=(1, 8, 8), binarized=False)
    assert "binarised" in nll_metric(k=3).evaluate(model, split, plain, generator=torch.Generator())["warning"]
    assert "warning" not in nll_metric(k=3).evaluate(model, split, IMAGES, generator=torch.Generator())
    with pytest.raises(GentkError, match="encoder"):
        nll_metric().evaluate(object(), split, IMAGES, generator=torch.Generator())


def test_default_vae_satisfies_its_protocols_and_nll_rejects_models_without_latents():
    """Catches a `vae` model that drifts from the protocols the engine and the nll metric rely on
    (a missing `device` or `grid_columns`, an encoder or decoder kept under another name or
    missing a member such as the decoder's `discrete`), and an nll metric that probes models
    with getattr again, so that a model without latents fails with an AttributeError deep in
    the metric instead of a GentkError that names what the model lacks."""
    model = resolve_component("model", {"use": "vae"}).build(BuildContext(IMAGES, torch.device("cpu")))
    assert isinstance(model, Model) and isinstance(model, LatentVariableModel)
    assert isinstance(model.encoder, Encoder) and isinstance(model.decoder, Decoder)
    assert model.grid_columns is None and model.decoder.discrete
    other = BareModel((1, 8, 8))
    assert isinstance(other, Model) and not isinstance(other, LatentVariableModel)
    split = Split(binary_images(4).to(torch.uint8))
    with pytest.raises(GentkError, match="encoder and a decoder") as caught:
        nll_metric(k=2).evaluate(other, split, IMAGES, generator=torch.Generator())
    assert "BareModel" in str(caught.value)


# -- recipes ------------------------------------------------------------------------------------
VAE_RECIPES = sorted(p for pattern in ("vae_*.toml", "beta_vae_*.toml", "iwae_*.toml") for p in RECIPES.glob(pattern))


@pytest.mark.parametrize("path", VAE_RECIPES, ids=lambda p: p.stem)
def test_recipes_resolve_and_can_switch_to_an_image_folder(path, tmp_path):
    recipe = load_recipe(path)
    assert recipe.description and recipe.model.name == "vae"
    if recipe.data.name != "toy2d":
        # switching `use` drops the old dataset's keys, so the binarisation is set again
        binarize = str(recipe.data.config.binarize).lower()
        switched = load_recipe(path, ["data.use=image_folder", f"data.path={tmp_path}", f"data.binarize={binarize}"])
        assert switched.data.name == "image_folder"
        assert switched.data.config.binarize == recipe.data.config.binarize


def test_toy_recipe_trains_evaluates_and_samples(tmp_path):
    """Catches a test NLL that is not the trained model's -log p(x) on the test split (a mean of the
    importance log-weights, an ELBO, instead of their log-mean-exp; a dropped prior or proposal
    term; the wrong split or sign), a misreported standard error, and sampling that does not draw
    z ~ N(0, I) and then x ~ p(x|z) (e.g. the decoder mean without its noise, or z of another
    scale). The references do not use the encoder's importance sampling: with a 2-d latent,
    p(x) = integral of p(x|z) N(z; 0, I) dz, and the moments of the model's marginal, are sums over
    a grid of z."""
    overrides = [
        "run.epochs=1",
        "run.steps_per_epoch=5",
        "run.n_samples=16",
        "metrics.0.k=4",
        "data.n_train=400",
        "data.n_test=50",
    ]
    run = api.train(RECIPES / "vae_toy.toml", overrides=overrides, out=tmp_path)
    assert (run.path / "figures" / "samples_epoch001.png").exists()
    model = run.model
    x = run.recipe.data.build().split("test").x.float()  # (N, 2)
    n = len(x)
    log_2pi = torch.log(torch.tensor(2 * torch.pi, dtype=torch.float64))

    def grid(points):
        """Nodes z (G, 2), the log of their cell area, decoder parameters (G, 2) and
        log p(x_i, z) (G, N)."""
        axis = torch.linspace(-8.0, 8.0, points, dtype=torch.float64)  # prior mass outside: e^-32
        z = torch.cartesian_prod(axis, axis)
        with torch.no_grad():
            params = model.decoder(z.float())
            log_lik = model.decoder.log_prob(x, params[:, None]).double()
        log_prior = -0.5 * z.pow(2).sum(1) - log_2pi
        return z, 2 * torch.log(axis[1] - axis[0]), params, log_lik + log_prior[:, None]

    z, log_cell, params, log_joint = grid(201)
    log_px = torch.logsumexp(log_joint, 0) + log_cell  # (N,)
    _, coarse_cell, _, coarse_joint = grid(161)
    assert torch.allclose(torch.logsumexp(coarse_joint, 0) + coarse_cell, log_px, atol=1e-4)  # converged

    # importance sampling with K draws from q(z|x) is off by delta_i ~ N(-chi2_i / 2K, chi2_i / K) per
    # example, chi2_i = E_q[w^2] / p(x_i)^2 - 1 (computed on the grid): the mean over examples is
    # compared with 4 of its standard errors around that bias, and its spread (std(log p + delta) is
    # within |delta| / sqrt(N - 1) of std(log p)) with 4 of those
    k = 5000
    with torch.no_grad():
        mu, logvar = (t.double() for t in model.encoder(x))  # (N, 2) each
    log_q = -0.5 * ((z[:, None] - mu).pow(2) / logvar.exp() + logvar + log_2pi).sum(-1)  # (G, N)
    chi2 = (torch.logsumexp(2 * log_joint - log_q, 0) + log_cell - 2 * log_px).exp() - 1  # (N,)
    result = run.evaluate("nll", k=k)
    bias, sd = float(chi2.mean()) / (2 * k), float(chi2.sum() / k) ** 0.5 / n
    assert result["nll"] - (-float(log_px.mean()) + bias) == pytest.approx(0, abs=4 * sd + 1e-4)
    assert result["nll_stderr"] == pytest.approx(float(log_px.std()) / n**0.5, abs=4 * sd / (1 - 1 / n) ** 0.5)
    assert result["n_examples"] == n and result["k"] == k

    # the samples against the moments of the marginal: per dimension, the decoder variance s2 (read
    # off log p(x|z) one unit away from the mean, -1 / (2 s2)) plus the spread of the mean over z
    with torch.no_grad():
        at = model.decoder.mean(params[:1])  # (1, 2)
        s2 = torch.stack(
            [
                -0.5 / (model.decoder.log_prob(at + e, params[:1]) - model.decoder.log_prob(at, params[:1]))
                for e in torch.eye(2)
            ]
        ).double()[:, 0]  # (2,)
    w = (-0.5 * z.pow(2).sum(1)).softmax(0)[:, None]  # (G, 1) prior mass of each node
    means = model.decoder.mean(params).detach().double()  # (G, 2)
    mean = (w * means).sum(0)
    dev = means - mean
    var = (w * dev.pow(2)).sum(0) + s2
    fourth = (w * (dev.pow(4) + 6 * dev.pow(2) * s2 + 3 * s2.pow(2))).sum(0)  # E (x - mean)^4
    m = 100_000
    samples = run.sample(m).double()
    assert samples.shape == (m, 2)
    # standard errors sqrt(var / m) of the sample mean and sqrt((fourth - var^2) / m) of the sample
    # variance; 4 of them: a false alarm once in 16000 seeds, while the noise of p(x|z) is over 5 of them
    assert torch.all((samples.mean(0) - mean).abs() < 4 * (var / m).sqrt()), (samples.mean(0), mean)
    assert torch.all((samples.var(0) - var).abs() < 4 * ((fourth - var**2) / m).sqrt()), (samples.var(0), var)
