"""The benchmark cases: gentk's engine against plain-PyTorch loops over the same networks."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from gentk.config import config, param
from gentk.data import batches, to_float
from gentk.engine import Trainer, build_model
from gentk.hookspecs import hookimpl
from gentk.interfaces import BuildContext, DataInfo, Split, StepContext
from gentk.recipe import apply_overrides, read_toml, resolve, resolve_component
from gentk.registry import get_plugins
from gentk.rundir import RunDir

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
# case -> (recipe, sampler, steps, guidance w)
SAMPLING_CASES = {
    "sample_ddim50_cfg": ("cfg_ddpm", "ddim", 50, 3.0),
    "sample_ddim50_cfg_small": ("cfg_ddpm_small", "ddim", 50, 3.0),
    "sample_ddim50_small": ("cfg_ddpm_small", "ddim", 50, None),
    "sample_ddpm1000_small": ("cfg_ddpm_small", "ddpm", 1000, None),
}
N_IMAGES = 32768  # 256 batches of 128: an epoch long enough to time


# -- data: random digits-shaped images held in memory, like every image dataset ------------------
@config
class RandomImagesConfig:
    """Random 28x28 uint8 images with labels: benchmark data that needs no files."""

    binarize: bool = param(False, "binarise as the recipe asks")


class RandomImages:
    def __init__(self, cfg):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randint(0, 256, (N_IMAGES, 1, 28, 28), dtype=torch.uint8, generator=g)
        self.y = torch.randint(0, 10, (N_IMAGES,), generator=g)
        self.info = DataInfo((1, 28, 28), num_classes=10, binarized=cfg.binarize)

    def split(self, name):
        return Split(self.x, self.y)


class BenchPlugin:
    @hookimpl
    def gentk_register_datasets(self, register):
        register("random_images", RandomImages, RandomImagesConfig)


def load(recipe: str, overrides: list[str]):
    plugins = get_plugins()
    if not plugins.manager.has_plugin("bench"):
        plugins.add(BenchPlugin(), "bench")
    raw = apply_overrides(read_toml(RECIPES / f"{recipe}.toml"), ["data.use=random_images", *overrides])
    raw.pop("metrics", None)
    return resolve(raw, file=recipe)


# -- gentk ---------------------------------------------------------------------------------------
def gentk_rate(recipe: str, overrides: list[str], steps: int, precision: str) -> tuple[float, object]:
    """Images/s of the engine's second epoch (the first warms up), `steps` steps per epoch."""
    spec = load(recipe, [*overrides, "run.epochs=2", f"run.steps_per_epoch={steps}", "run.n_samples=0",
                         f"run.precision='{precision}'", "run.device='cpu'"])
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(spec, RunDir.create(tmp, "bench"))
        trainer.start()
        trainer.fit()
        last = [r for r in trainer.run.metrics() if r.get("kind") == "epoch"][-1]
    return last["images_per_s"], trainer


# -- plain PyTorch reference loops -----------------------------------------------------------------
def fresh_batches(info: DataInfo, batch_size: int):
    """Endless batches sliced from an in-memory uint8 tensor, converted like gentk's pipeline."""
    data = RandomImages(RandomImagesConfig(binarize=info.binarized))
    g = torch.Generator().manual_seed(1)
    while True:
        idx = torch.randint(0, N_IMAGES, (batch_size,), generator=g)
        yield to_float(data.x[idx], info, g), data.y[idx]


def autocast(precision: str):
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")


def vae_step(model, x, y, precision, k=1):
    """A VAE (k = 1) or IWAE step written out in plain PyTorch."""
    enc, dec, opt = model.encoder, model.decoder, model.optimizer
    with autocast(precision):
        mu, logvar = enc(x)
        mu, logvar = mu.float(), logvar.float()
        std = (0.5 * logvar).exp()
        eps = torch.randn((k, *mu.shape))
        z = mu + std * eps  # (k, B, Z)
        logits = dec(z).float().reshape(k, x.shape[0], -1)
    target = x.reshape(1, x.shape[0], -1).expand_as(logits)
    log_px = -F.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(-1)
    if k == 1:
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(-1)
        loss = (kl - log_px[0]).mean()
    else:
        log_pz = -0.5 * (z.pow(2) + torch.log(torch.tensor(2 * torch.pi))).sum(-1)
        log_qz = -0.5 * (eps.pow(2) + logvar + torch.log(torch.tensor(2 * torch.pi))).sum(-1)
        w = log_px + log_pz - log_qz
        loss = -(torch.logsumexp(w, 0) - torch.log(torch.tensor(float(k)))).mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def gan_step(model, x, y, precision, state={"i": 0}):
    """The recipe's schedule written out: k discriminator steps per generator step, on the same
    batch ("same") or one batch each ("new"); saturating minimax loss with logits."""
    G, D, k = model.generator, model.critic, model.cfg.n_critic
    real = x * 2 - 1
    for _ in range(k if model.cfg.critic_batch == "same" else 1):
        z = torch.randn(x.shape[0], G.latent_dim)
        with autocast(precision):
            with torch.no_grad():
                fake = G(z)
            real_logit, fake_logit = D(real).float(), D(fake).float()
        d_loss = F.softplus(-real_logit).mean() + F.softplus(fake_logit).mean()
        model.d_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        model.d_opt.step()
        state["i"] += 1
    if state["i"] % k == 0:
        with autocast(precision):
            g_loss = -F.softplus(D(G(torch.randn(x.shape[0], G.latent_dim))).float()).mean()  # min log(1 - D(G(z)))
        model.g_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        model.g_opt.step()


def ddpm_step(model, x, y, precision):
    """L_simple with gradient clipping and an EMA update, as a plain loop would write it."""
    net, opt = model.denoiser, model.optimizer
    abar = model.schedule.alphas_cumprod
    x0 = x * 2 - 1
    t = torch.randint(0, len(abar), (x.shape[0],))
    noise = torch.randn_like(x0)
    a = abar[t].view(-1, 1, 1, 1)
    xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
    with autocast(precision):
        pred = net(xt, t, y if model.num_classes else None)
    loss = F.mse_loss(pred.float(), noise)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if model.cfg.grad_clip is not None:  # the recipe clips: so does its plain loop
        torch.nn.utils.clip_grad_norm_(net.parameters(), model.cfg.grad_clip)
    opt.step()
    if model.ema is not None:
        with torch.no_grad():
            for e, p in zip(model.ema.shadow.parameters(), net.parameters()):
                e.lerp_(p, 1 - model.cfg.ema_decay)


REFERENCE = {"vae": vae_step, "iwae": lambda m, x, y, p: vae_step(m, x, y, p, k=m.objective.k),
             "gan": gan_step, "ddpm": ddpm_step}


def reference_rate(kind: str, model, info: DataInfo, batch_size: int, steps: int, precision: str) -> float:
    for net in model.networks().values():
        net.train()
    return timed_rate(lambda x, y: REFERENCE[kind](model, x, y, precision), info, batch_size, steps)


def timed_rate(step, info: DataInfo, batch_size: int, steps: int) -> float:
    """Images/s of `step(x, y)` over `steps` fresh batches, after a short warm-up."""
    data = fresh_batches(info, batch_size)
    for _ in range(min(steps, 5)):
        step(*next(data))
    start = time.perf_counter()
    for _ in range(steps):
        step(*next(data))
    return steps * batch_size / (time.perf_counter() - start)


# -- cases ---------------------------------------------------------------------------------------
ROUNDS = 2  # gentk and the reference alternate; the best of each counts (a shared machine drifts)


def alternate(recipe: str, overrides: list[str], steps: int, precision: str, reference) -> tuple[float, float, Trainer]:
    """gentk's rate on the recipe and `reference(trainer)`'s, measured in turn ROUNDS times; the
    best of each and the last trainer."""
    rates, refs = [], []
    for _ in range(ROUNDS):
        rate, trainer = gentk_rate(recipe, overrides, steps, precision)
        rates.append(rate)
        refs.append(reference(trainer))
    return max(rates), max(refs), trainer


def train_case(name: str, recipe: str, overrides: list[str], kind: str, steps: int, precision: str) -> dict:
    rate, ref, trainer = alternate(recipe, overrides, steps, precision, lambda t: reference_rate(
        kind, t.model, t.info, t.cfg.batch_size, steps, precision))
    return {"case": name, "recipe": recipe, "precision": precision, "batch_size": trainer.cfg.batch_size,
            "steps": steps, "gentk_images_per_s": round(rate, 1), "reference_images_per_s": round(ref, 1),
            "ratio": round(rate / ref, 3), **utilisation(trainer, rate, precision, kind)}


# -- FLOP utilisation ----------------------------------------------------------------------------
def step_gflop(trainer: Trainer) -> float:
    """GFLOP of one training step of the trainer's model (forward and backward matmuls and
    convolutions, as torch's FLOP counter counts them)."""
    from torch.utils.flop_counter import FlopCounterMode

    batch = next(batches(trainer.train_split, trainer.info, trainer.cfg.batch_size))
    ctx = StepContext(0, 0, trainer.autocast, trainer.device)
    with FlopCounterMode(display=False) as flops:
        trainer.model.train_step(batch, ctx)
    return flops.get_total_flops() / 1e9


def timed_gflops(fn, gflop: float, seconds: float = 1.0) -> float:
    """GFLOP/s of fn() (gflop each call): the best of repeated timings over about `seconds`."""
    fn()
    best, spent = float("inf"), 0.0
    while spent < seconds:
        start = time.perf_counter()
        fn()
        took = time.perf_counter() - start
        best, spent = min(best, took), spent + took
    return gflop / best


def ceilings(precision: str) -> dict:
    """This machine's measured GFLOP/s for a large matmul (2048^3) and for the best of the U-Net's
    3x3 convolutions (forward + backward, batch 128: 64 channels at 28x28, 128 at 14x14 and 7x7),
    in the given precision, with torch's current thread count."""
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    a, b = torch.randn(2048, 2048, dtype=dtype), torch.randn(2048, 2048, dtype=dtype)
    out = {"matmul_gflops": round(timed_gflops(lambda: a @ b, 2 * 2048**3 / 1e9), 1)}
    conv = 0.0
    for channels, size in ((64, 28), (128, 14), (128, 7)):
        x = torch.randn(128, channels, size, size, dtype=dtype, requires_grad=True)
        w = torch.randn(channels, channels, 3, 3, dtype=dtype, requires_grad=True)

        def fwd_bwd(x=x, w=w):
            F.conv2d(x, w, padding=1).sum().backward()

        forward = 2 * 128 * channels * size * size * channels * 9 / 1e9
        conv = max(conv, timed_gflops(fwd_bwd, 3 * forward))  # backward: twice the forward's FLOPs
    out["conv3x3_gflops"] = round(conv, 1)
    return out


def utilisation(trainer: Trainer, images_per_s: float, precision: str, kind: str) -> dict:
    """Achieved GFLOP/s of the training step over the machine's ceiling for the network's kind of
    work (convolutions for the U-Net, matmuls for the MLPs)."""
    gflop = step_gflop(trainer)
    achieved = gflop / trainer.cfg.batch_size * images_per_s
    ceiling = ceilings(precision)
    bound = ceiling["conv3x3_gflops"] if kind == "ddpm" else ceiling["matmul_gflops"]
    return {"gflop_per_step": round(gflop, 2), "achieved_gflops": round(achieved, 1), **ceiling,
            "flop_utilisation": round(achieved / bound, 3)}


OPTIONS = {  # variant -> overrides on top of the case's
    "baseline": [],
    "channels_last": ["model.denoiser.channels_last=true"],
    "fused_adam": ["model.optimizer.fused=true"],
    "compile": ["run.compile=true"],
}


def options_case(quick: bool) -> dict:
    """The U-Net's bf16 training rate through the engine with each GPU-minded option, the variants
    measured in turn (ROUNDS times, best of each), as ratios to the baseline on this machine."""
    steps = 2 if quick else 4
    rates: dict[str, float] = {}
    for _ in range(ROUNDS):
        for variant, extra in OPTIONS.items():
            rate, _ = gentk_rate("ddpm_mnist", ["run.batch_size=128", *extra], steps, "bf16")
            rates[variant] = max(rates.get(variant, 0.0), rate)
    out: dict = {"case": "unet_options", "precision": "bf16", "batch_size": 128, "steps": steps}
    for variant, rate in rates.items():
        out[f"{variant}_images_per_s"] = round(rate, 1)
        out[f"{variant}_ratio"] = round(rate / rates["baseline"], 3)
    return out


def sampling_case(name: str, recipe: str, sampler: str, steps: int, guidance: float | None, timed_steps: int) -> dict:
    """Seconds for 64 class-conditional samples; a chain longer than `timed_steps` is timed over
    its first `timed_steps` steps and scaled (every step costs the same), and says so."""
    spec = load(recipe, ["run.device='cpu'"])
    model = build_model(spec, RandomImages(RandomImagesConfig()).info, torch.device("cpu"))
    for net in model.networks().values():
        net.eval()
    run_steps = min(steps, timed_steps)
    g = torch.Generator().manual_seed(0)
    options = {"sampler": "ancestral" if sampler == "ddpm" else sampler, "steps": run_steps,
               **({"guidance": guidance} if guidance is not None else {})}
    start = time.perf_counter()
    out = model.sample(64, generator=g, labels=torch.arange(64) % 10, **options)
    seconds = (time.perf_counter() - start) * steps / run_steps
    return {"case": name, "recipe": recipe, "n": len(out), "sampler": f"{sampler}-{steps}", "guidance": guidance,
            "seconds": round(seconds, 2), "extrapolated_from_steps": run_steps if run_steps < steps else None}


def nll_case(quick: bool) -> dict:
    spec = load("iwae_mnist_bernoulli", ["run.device='cpu'"])
    data = RandomImages(RandomImagesConfig(binarize=True))
    model = build_model(spec, data.info, torch.device("cpu"))
    n = 50 if quick else 200
    metric = resolve_component("metric", {"use": "nll", "k": 5000, "n_examples": n}).build()
    start = time.perf_counter()
    metric.evaluate(model, Split(data.x[:n], data.y[:n]), data.info, generator=torch.Generator().manual_seed(0))
    seconds = time.perf_counter() - start
    return {"case": "nll_k5000", "images": n, "k": 5000, "seconds": round(seconds, 2),
            "images_per_s": round(n / seconds, 1)}


def startup_case() -> dict:
    def best(args):
        times = []
        for _ in range(3):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "gentk", *args], capture_output=True, check=True)
            times.append(time.perf_counter() - start)
        return round(min(times), 3)

    return {"case": "startup", "gentk_help_s": best(["--help"]), "gentk_plugins_s": best(["plugins"])}


PYTHAE_NETWORKS = ["model.encoder.hidden=[512]", "model.decoder.hidden=[512]", "run.batch_size=128"]


def pythae_case(quick: bool) -> dict:
    """gentk's engine training `vae_mnist_bernoulli` with pythae's default MNIST networks
    (784-512-20, 20-512-784, Bernoulli likelihood) against pythae's VAE of those networks stepped in
    a plain loop (forward, its loss, backward, Adam), both on fresh batches in this process.
    pythae is not a dependency: without it the case says so."""
    try:
        from pythae.models import VAE, VAEConfig
    except ImportError:
        return {"case": "vae_vs_pythae", "skipped": "pythae is not installed"}
    steps = 20 if quick else 300
    theirs = VAE(VAEConfig(input_dim=(1, 28, 28), latent_dim=20, reconstruction_loss="bce"))
    opt = torch.optim.Adam(theirs.parameters(), lr=3e-4)
    out: dict = {"case": "vae_vs_pythae", "batch_size": 128, "networks": "784-512-20 / 20-512-784"}
    for precision in ("fp32", "bf16"):
        def step(x, y):
            with autocast(precision):
                loss = theirs({"data": x}).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        ours, pythae, _ = alternate("vae_mnist_bernoulli", PYTHAE_NETWORKS, steps, precision,
                                    lambda t: timed_rate(step, t.info, 128, steps))
        out[f"gentk_{precision}_images_per_s"] = round(ours, 1)
        out[f"pythae_{precision}_images_per_s"] = round(pythae, 1)
        out[f"ratio_{precision}"] = round(ours / pythae, 3)
    return out


DIFFUSERS_DROPOUT = 0.0  # diffusers' default; the bundled U-Net's default (0.1) is set to match


def diffusers_case(quick: bool) -> dict:
    """The bundled U-Net against diffusers' UNet2DModel of the same size and FLOPs (64/128/128
    channels, two ResNet blocks per level, attention at 7x7), trained alike in this process.
    diffusers is not a dependency: without it the case says so."""
    try:
        from diffusers import UNet2DModel
    except ImportError:
        return {"case": "unet_vs_diffusers", "skipped": "diffusers is not installed"}
    from torch.utils.flop_counter import FlopCounterMode

    theirs = UNet2DModel(sample_size=28, in_channels=1, out_channels=1, block_out_channels=(64, 128, 128),
                         layers_per_block=2, down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
                         up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"), norm_num_groups=32,
                         dropout=DIFFUSERS_DROPOUT)
    ours = resolve_component("denoiser", {"use": "unet", "dropout": DIFFUSERS_DROPOUT}).build(
        BuildContext(DataInfo((1, 28, 28))))
    x, t = torch.randn(128, 1, 28, 28), torch.randint(0, 1000, (128,))
    nets = {"diffusers": (theirs, lambda: theirs(x, t).sample), "gentk": (ours, lambda: ours(x, t))}
    out: dict = {"case": "unet_vs_diffusers", "batch_size": 128, "dropout": DIFFUSERS_DROPOUT}
    for name, (net, forward) in nets.items():
        with FlopCounterMode(display=False) as flops:
            forward()
        out[f"{name}_gflop_per_image"] = round(flops.get_total_flops() / 128 / 1e9, 3)
        out[f"{name}_params_m"] = round(sum(p.numel() for p in net.parameters()) / 1e6, 3)
    for precision in ("fp32", "bf16"):
        for name, (net, forward) in nets.items():
            opt = torch.optim.Adam(net.parameters(), lr=1e-4)

            def step():
                with autocast(precision):
                    loss = (forward().float() - x).pow(2).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()

            step()
            steps = 1 if quick else 3
            start = time.perf_counter()
            for _ in range(steps):
                step()
            out[f"{name}_{precision}_images_per_s"] = round(steps * 128 / (time.perf_counter() - start), 1)
        out[f"ratio_{precision}"] = round(out[f"gentk_{precision}_images_per_s"] / out[f"diffusers_{precision}_images_per_s"], 3)
    return out


def run_case(name: str, train_cases: dict, quick: bool) -> dict:
    if name in train_cases:
        recipe, overrides, kind, steps, precision = train_cases[name]
        return train_case(name, recipe, overrides, kind, max(2, steps // 4) if quick else steps, precision)
    if name in SAMPLING_CASES:
        recipe, sampler, steps, guidance = SAMPLING_CASES[name]
        return sampling_case(name, recipe, sampler, steps, guidance, 10 if quick else 100)
    if name == "nll_k5000":
        return nll_case(quick)
    if name == "startup":
        return startup_case()
    if name == "unet_vs_diffusers":
        return diffusers_case(quick)
    if name == "vae_vs_pythae":
        return pythae_case(quick)
    if name == "unet_options":
        return options_case(quick)
    raise SystemExit(f"unknown case {name!r}")
