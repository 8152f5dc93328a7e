"""Configs of the diffusion family's components (read by `gentk describe`, checked by recipes)."""

from typing import Literal

from attrs import validators as v

from gentk.config import (
    MAX_LAYERS,
    MAX_STEPS,
    MAX_WIDTH,
    ConfigError,
    config,
    in_range,
    ints_in,
    open_range,
    param,
    probability,
    sub,
)
from gentk.families.diffusion import DiffusionObjective, DiffusionSampler
from gentk.registry import Spec

MAX_T = 100_000
"""Upper bound of the number of diffusion steps T (papers use 1000 to 4000)."""
_unit = v.and_(v.gt(0), v.lt(1))
_sampler_steps = v.optional(in_range(1, MAX_STEPS))


# -- schedules ------------------------------------------------------------------------------------
@config
class LinearScheduleConfig:
    """Linear betas (Ho et al. 2020): T = 1000, beta from 1e-4 to 0.02."""

    num_steps: int = param(1000, "number of diffusion steps T", in_range(2, MAX_T))
    beta_start: float = param(1e-4, "beta_1, in (0, 1)", _unit)
    beta_end: float = param(
        0.02, "beta_T, in (0, 1), at least beta_start (the course report wrote 0.002; the paper's value is 0.02)", _unit
    )

    def __attrs_post_init__(self) -> None:
        if self.beta_end < self.beta_start:
            raise ConfigError(f"beta_end ({self.beta_end}) must be at least beta_start ({self.beta_start})", "beta_end")


@config
class CosineScheduleConfig:
    """Cosine alpha-bar schedule (Nichol & Dhariwal 2021); gentler at both ends than linear."""

    num_steps: int = param(1000, "number of diffusion steps T", in_range(2, MAX_T))
    offset: float = param(0.008, "small offset s that keeps beta_1 away from zero", in_range(0, 1))
    max_beta: float = param(0.999, "betas are clipped to this value near t = T", _unit)


# -- denoiser ---------------------------------------------------------------------------------------
@config
class UNetConfig:
    """U-Net denoiser: ResNet blocks, sinusoidal step embedding, self-attention, class embedding.

    The middle block is ResNet -> attention -> ResNet. With labelled data and a conditional
    model, a class embedding with an extra learned null token is added to the step embedding.
    """

    channels: int = param(64, "base channel width", in_range(1, 4096))
    channel_mult: tuple[int, ...] = param(
        (1, 2, 2), "width multiplier per resolution level (1 to 8 levels)", ints_in(1, 64, min_len=1, max_len=8)
    )
    num_res_blocks: int = param(
        2, "ResNet blocks per level on the way down (one more on the way up)", in_range(1, MAX_LAYERS)
    )
    attention_resolutions: tuple[int, ...] = param(
        (7,), "feature-map sides that get self-attention (28 -> 14 -> 7)", ints_in(1, MAX_WIDTH, max_len=16)
    )
    num_heads: int = param(4, "attention heads", in_range(1, 1024))
    dropout: float = param(0.1, "dropout inside the ResNet blocks", probability)
    norm_groups: int = param(32, "GroupNorm groups (must divide every width)", in_range(1, 1024))
    attention_backend: Literal["default", "math"] = param(
        "math",
        "scaled_dot_product_attention kernel: torch's default choice, or the plain math one "
        "(as fast or faster on CPU for the 49-token sequences at 7x7; see benchmarks/bench_unet.py)",
    )
    channels_last: bool = param(
        False,
        "run convolutions in channels-last memory layout (measured slower "
        "under bf16 autocast on CPU; see benchmarks/bench_unet.py)",
    )

    def __attrs_post_init__(self) -> None:
        for m in self.channel_mult:
            width = self.channels * m
            if width > MAX_WIDTH:
                raise ConfigError(f"width channels x channel_mult = {width} is above {MAX_WIDTH}", "channel_mult")
            if width % self.norm_groups or width % self.num_heads:
                raise ValueError(
                    f"width {width} must be divisible by norm_groups ({self.norm_groups}) "
                    f"and num_heads ({self.num_heads})"
                )


# -- objective --------------------------------------------------------------------------------------
@config
class DDPMObjectiveConfig:
    """L_simple: mean squared error of the noise prediction (Ho et al. 2020, eq. 14 / 22).

    `prediction` chooses what the denoiser predicts, the one place the model's parameterization is
    set: the noise (epsilon), the clean image (x0) or the velocity v = sqrt(abar) eps -
    sqrt(1 - abar) x0 (Salimans & Ho 2022); samplers and the `vlb` metric convert from it.
    `weighting` weights the squared error per step: uniform (L_simple), min_snr (Hang et al.
    2023: min(SNR, gamma) in x0 units) or vlb (the variational bound's own weights, Ho et al.
    eq. 5). With p_uncond > 0 each label is replaced by the null token with that probability, so
    one network learns the conditional and the unconditional model (classifier-free guidance).
    """

    p_uncond: float = param(0.0, "probability of dropping a label to the null token (paper: 0.1-0.2)", probability)
    prediction: Literal["epsilon", "x0", "v"] = param(
        "epsilon", "what the denoiser predicts: the noise eps, the clean image x0, or the velocity v"
    )
    weighting: Literal["uniform", "min_snr", "vlb"] = param(
        "uniform",
        "per-step weight of the squared error: uniform (L_simple), min_snr (Hang et al. 2023), "
        "vlb (the variational bound's weights, in nats per dimension)",
    )
    snr_gamma: float = param(5.0, "gamma of min_snr weighting (paper: 5)", open_range(0, 1e6))


# -- samplers ---------------------------------------------------------------------------------------
Spacing = Literal["linspace", "leading", "trailing"]


def _spacing(default: str = "linspace") -> Spacing:
    return param(
        default,
        "where the steps sit among the T training steps, as diffusers' `timestep_spacing`: linspace "
        "(evenly from T-1 to 0), leading (0, T//N, 2 T//N, ... reversed), trailing (from T-1 down by T/N) "
        "(Lin et al. 2024, table 2)",
    )


def _threshold() -> float | None:
    return param(
        None,
        "dynamic thresholding (Saharia et al. 2022): per image s = max(1, the p-quantile of |x0_hat|), "
        "x0_hat <- clamp(x0_hat, -s, s) / s; replaces clip_denoised; none: off (diffusers: thresholding "
        "with dynamic_thresholding_ratio = p and no sample_max_value cap)",
        v.optional(_unit),
    )


def _clip() -> bool:
    return param(
        True,
        "clip each predicted x_0 to the data range [-1, 1] (diffusers' clip_sample); with guidance this keeps "
        "extrapolated predictions from leaving speckle noise in the images",
    )


def _karras() -> bool:
    return param(
        False,
        "Karras et al. (2022) noise levels, rho = 7, between the spaced steps' first and last sigma "
        "(diffusers' use_karras_sigmas)",
    )


@config
class AncestralConfig:
    """Ancestral DDPM sampling, x_{t-1} ~ N(mu_theta(x_t, t), sigma_t^2 I), t = T ... 1.

    With `steps` < T it runs on a subsequence with the respaced betas 1 - abar_t / abar_s
    (Nichol & Dhariwal 2021). As diffusers' DDPMScheduler (variance_type fixed_large = beta,
    fixed_small = beta_tilde; clip_sample = clip_denoised).
    """

    variance: Literal["beta", "beta_tilde"] = param("beta", "sigma_t^2: beta_t or the posterior's beta~_t")
    steps: int | None = param(None, "number of denoising steps, at most T; none: all T", _sampler_steps)
    spacing: Spacing = _spacing()
    clip_denoised: bool = _clip()
    dynamic_threshold: float | None = _threshold()


@config
class DDIMConfig:
    """DDIM (Song, Meng & Ermon 2021): fewer steps; eta = 0 is deterministic, eta = 1 ancestral-like.

    As diffusers' DDIMScheduler with set_alpha_to_one (the last step lands on the clean sample);
    with spacing linspace diffusers steps to t - T//N instead of the next step, gentk to the next.
    """

    steps: int | None = param(
        50, "number of denoising steps on an evenly spaced subsequence, at most T; none: all T", _sampler_steps
    )
    eta: float = param(0.0, "scale of the noise added at each step, in [0, 10]", in_range(0, 10))
    spacing: Spacing = _spacing()
    clip_denoised: bool = _clip()
    dynamic_threshold: float | None = _threshold()


@config
class PredictorCorrectorConfig:
    """Predictor-corrector sampling with the learned score -eps/sqrt(1 - abar_t).

    Each of `steps` levels takes a deterministic DDIM step, then `corrector_steps` Langevin
    updates x += a s(x) + sqrt(2a) z with a set by the signal-to-noise ratio (Song et al. 2021).
    """

    steps: int | None = param(100, "noise levels visited, at most T; none: all T", _sampler_steps)
    corrector_steps: int = param(1, "Langevin updates per level", in_range(0, 1000))
    snr: float = param(0.1, "target ratio of the Langevin step's noise to its score term", open_range(0, 100))
    spacing: Spacing = _spacing()
    clip_denoised: bool = _clip()
    dynamic_threshold: float | None = _threshold()


@config
class EulerConfig:
    """Euler steps of the probability-flow ODE in sigma space (Karras et al. 2022, alg. 1 without churn).

    sigma = sqrt((1 - abar)/abar) and x = x_t / sqrt(abar), as diffusers' EulerDiscreteScheduler:
    x_s = x + (sigma_s - sigma_t)(x - x0_hat)/sigma_t, one network evaluation per step; the last
    step lands on sigma = 0. Steps at fractional t interpolate sigma linearly (diffusers' default).
    """

    steps: int = param(25, "number of steps (network evaluations), at most T", in_range(1, MAX_STEPS))
    spacing: Spacing = _spacing()
    karras: bool = _karras()
    clip_denoised: bool = _clip()
    dynamic_threshold: float | None = _threshold()


@config
class EulerAncestralConfig:
    """Euler-ancestral in sigma space, as diffusers' EulerAncestralDiscreteScheduler (k-diffusion).

    Each step goes down to sigma_down = sqrt(sigma_s^2 - sigma_up^2) by an Euler step and adds
    noise of standard deviation sigma_up = sigma_s sqrt(1 - sigma_s^2/sigma_t^2) (eta = 1).
    """

    steps: int = param(25, "number of steps (network evaluations), at most T", in_range(1, MAX_STEPS))
    spacing: Spacing = _spacing()
    karras: bool = _karras()
    clip_denoised: bool = _clip()
    dynamic_threshold: float | None = _threshold()


@config
class HeunConfig:
    """Heun's 2nd-order method on the probability-flow ODE (Karras et al. 2022, alg. 1).

    As diffusers' HeunDiscreteScheduler: an Euler step to sigma_s, a second evaluation there, and
    the average slope; the last step (to sigma = 0) is Euler. N steps cost 2N - 1 evaluations.
    """

    steps: int = param(
        13,
        "number of noise levels (2 steps - 1 network evaluations, one less from above 80), at most T",
        in_range(1, MAX_STEPS),
    )
    spacing: Spacing = _spacing()
    karras: bool = _karras()
    clip_denoised: bool = _clip()
    dynamic_threshold: float | None = _threshold()
    second_order_max_sigma: float | None = param(
        80.0,
        "steps that start above this noise level are Euler steps (EDM's sigma_max = 80): from pure noise "
        "the Euler step is nearly exact, and a trapezoid over a step from sigma ~ 2e4 (cosine schedule) "
        "multiplies the network's error by sigma/2; none: every step but the last is second order (diffusers)",
        v.optional(open_range(0, 1e12)),
    )


@config
class DPMSolverConfig:
    """DPM-Solver++ 2M, multistep 2nd order in x0 (Lu et al. 2022, alg. 2, midpoint form).

    As diffusers' DPMSolverMultistepScheduler(algorithm_type = "dpmsolver++", solver_order = 2):
    the first and last steps are first order (the last lands on sigma = 0), one evaluation per
    step. Its spacings are diffusers' for this scheduler: linspace and leading place N + 1 points
    and drop t = 0; Karras levels span the whole schedule. Fractional Karras steps are not rounded.
    """

    steps: int = param(20, "number of steps (network evaluations), at most T - 1", in_range(1, MAX_STEPS))
    spacing: Spacing = _spacing()
    karras: bool = _karras()
    clip_denoised: bool = _clip()
    dynamic_threshold: float | None = _threshold()


SAMPLER_CONFIGS = (
    AncestralConfig,
    DDIMConfig,
    PredictorCorrectorConfig,
    EulerConfig,
    EulerAncestralConfig,
    HeunConfig,
    DPMSolverConfig,
)


def max_sampler_steps(sampler: object, num_steps: int) -> int:
    """The most steps a bundled sampler config can take on a schedule of T = num_steps steps."""
    return num_steps - 1 if isinstance(sampler, DPMSolverConfig) and sampler.spacing != "trailing" else num_steps


# -- model and metric -------------------------------------------------------------------------------
@config
class DDPMConfig:
    """Denoising diffusion model (DDPM), optionally class-conditional with classifier-free guidance.

    Training images in [0, 1] are mapped to [-1, 1]; samples come back in [0, 1]. A conditional
    model asked for samples without labels draws a grid with one row per class: n is rounded to
    the nearest multiple of the number of classes (at least one per class), rows in class order.
    """

    denoiser: Spec = sub("denoiser", "unet", "the noise-prediction network eps_theta")
    schedule: Spec = sub("schedule", "linear", "the noise schedule")
    objective: Spec = sub("objective", "ddpm", "the training loss", accepts=DiffusionObjective)
    optimizer: Spec = sub("optimizer", "adam", "optimizer of the denoiser")
    sampler: Spec = sub(
        "sampler",
        "ancestral",
        "default sampler for `sample` (the CLI's --sampler overrides it)",
        accepts=DiffusionSampler,
    )
    conditional: bool = param(False, "condition on class labels (needs a labelled dataset)")
    guidance: float = param(
        0.0,
        "default guidance strength w in [0, 100]: eps = (1 + w) eps(x, c) - w eps(x), which is "
        "diffusers' guidance_scale w + 1; above 0 needs conditional = true and an objective with p_uncond > 0",
        in_range(0, 100),
    )
    ema_decay: float = param(0.9999, "decay of the exponential moving average of the weights; 0: no EMA", probability)
    ema_warmup: bool = param(
        True,
        "use decay min(ema_decay, (1 + n)/(10 + n)) after n updates, so short runs "
        "are not dominated by the initial weights",
    )
    sample_with_ema: bool = param(True, "sample and evaluate with the EMA weights")
    grad_clip: float | None = param(
        1.0, "clip the gradient norm to this value; none: no clipping", v.optional(open_range(0, 1e6))
    )
    trajectory_steps: tuple[int, ...] = param(
        (999, 350, 0),
        "steps t shown in the trajectory figure (the state x_t of the same samples; 0 is the final sample, "
        "T and above the starting noise)",
        ints_in(0, MAX_STEPS, min_len=1, max_len=32),
    )
    trajectory_samples: int = param(
        8, "samples in the trajectory figure (one row each); 0: no figure", in_range(0, 1024)
    )

    def __attrs_post_init__(self) -> None:
        """Checks across the parts, where they are the bundled configs (a plugin's schedule or
        sampler may mean something else by its fields)."""
        schedule, sampler, objective = (
            getattr(s, "config", None) for s in (self.schedule, self.sampler, self.objective)
        )
        if isinstance(schedule, (LinearScheduleConfig, CosineScheduleConfig)):
            self._check_steps(schedule.num_steps, sampler)
        if self.guidance > 0:
            if not self.conditional:
                raise ConfigError(
                    "guidance needs a model trained with label dropout: set conditional = true",
                    "guidance",
                    hint="set conditional = true and objective.p_uncond > 0 (e.g. 0.1), or guidance = 0",
                )
            if isinstance(objective, DDPMObjectiveConfig) and objective.p_uncond == 0:
                raise ConfigError(
                    "guidance needs a model trained with label dropout: objective.p_uncond is 0",
                    "guidance",
                    hint="set objective.p_uncond > 0 (e.g. 0.1), or guidance = 0",
                )

    def _check_steps(self, num_steps: int, sampler: object) -> None:
        """The trajectory figure's steps and the sampler's steps must fit the schedule's T."""
        if self.trajectory_samples and max(self.trajectory_steps) > num_steps:
            raise ConfigError(
                f"trajectory step {max(self.trajectory_steps)} is past the schedule's T = {num_steps}",
                "trajectory_steps",
                hint=f"give steps t between 0 (the sample) and {num_steps} (pure noise)",
            )
        if isinstance(sampler, SAMPLER_CONFIGS):
            most = max_sampler_steps(sampler, num_steps)
            if sampler.steps is not None and sampler.steps > most:
                raise ConfigError(
                    f"{sampler.steps} sampler steps exceed the {most} the schedule's T = {num_steps} allows",
                    "sampler",
                    "steps",
                    hint=f"use at most {most} steps" + (", or none for all T" if most == num_steps else ""),
                )


@config
class VLBConfig:
    """Variational bound L_T + sum L_{t-1} + L_0 in bits/dim on held-out images (Ho et al. eq. 5).

    L_0 is a discretised Gaussian decoder over 256 pixel levels. With `timesteps` = K < T - 1
    the sum over t = 2..T is estimated without bias by stratified sampling: one step drawn
    uniformly from each of K equal strata, weighted by the stratum's size, independently per
    image. The standard error is taken across images (it includes the subsampling noise).
    """

    n_examples: int = param(16, "held-out images scored (the first n)", in_range(1, 10**7))
    timesteps: int | None = param(
        None, "steps per image for the sum over t; none: all T - 1 (exact)", v.optional(in_range(1, MAX_STEPS))
    )
    batch_size: int = param(64, "images per forward pass", in_range(1, 2**16))
    variance: Literal["beta", "beta_tilde"] = param("beta", "the reverse variance sigma_t^2")
    conditional: bool = param(
        False, "for a conditional model, score log p(x|y) with the true labels instead of the unconditional log p(x)"
    )
