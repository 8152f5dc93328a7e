"""Configs of the diffusion family's components (read by `gentk describe`, checked by recipes)."""

from typing import Literal

from attrs import validators as v

from gentk.config import config, param, positive_ints, probability, sub
from gentk.families.diffusion import DiffusionObjective, DiffusionSampler
from gentk.registry import Spec


# -- schedules ------------------------------------------------------------------------------------
@config
class LinearScheduleConfig:
    """Linear betas (Ho et al. 2020): T = 1000, beta from 1e-4 to 0.02."""

    num_steps: int = param(1000, "number of diffusion steps T", v.gt(1))
    beta_start: float = param(1e-4, "beta_1", v.and_(v.gt(0), v.lt(1)))
    beta_end: float = param(
        0.02, "beta_T (the course report wrote 0.002; the paper's value is 0.02)", v.and_(v.gt(0), v.lt(1))
    )

    def __attrs_post_init__(self) -> None:
        if self.beta_end < self.beta_start:
            raise ValueError("beta_end must be at least beta_start")


@config
class CosineScheduleConfig:
    """Cosine alpha-bar schedule (Nichol & Dhariwal 2021); gentler at both ends than linear."""

    num_steps: int = param(1000, "number of diffusion steps T", v.gt(1))
    offset: float = param(0.008, "small offset s that keeps beta_1 away from zero", v.ge(0))
    max_beta: float = param(0.999, "betas are clipped to this value near t = T", v.and_(v.gt(0), v.lt(1)))


# -- denoiser ---------------------------------------------------------------------------------------
@config
class UNetConfig:
    """U-Net denoiser: ResNet blocks, sinusoidal step embedding, self-attention, class embedding.

    The middle block is ResNet -> attention -> ResNet. With labelled data and a conditional
    model, a class embedding with an extra learned null token is added to the step embedding.
    """

    channels: int = param(64, "base channel width", v.gt(0))
    channel_mult: tuple[int, ...] = param(
        (1, 2, 2), "width multiplier per resolution level", v.and_(v.min_len(1), positive_ints)
    )
    num_res_blocks: int = param(2, "ResNet blocks per level on the way down (one more on the way up)", v.gt(0))
    attention_resolutions: tuple[int, ...] = param((7,), "feature-map sides that get self-attention (28 -> 14 -> 7)")
    num_heads: int = param(4, "attention heads", v.gt(0))
    dropout: float = param(0.1, "dropout inside the ResNet blocks", probability)
    norm_groups: int = param(32, "GroupNorm groups (must divide every width)", v.gt(0))
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
            if width % self.norm_groups or width % self.num_heads:
                raise ValueError(
                    f"width {width} must be divisible by norm_groups ({self.norm_groups}) "
                    f"and num_heads ({self.num_heads})"
                )


# -- objective --------------------------------------------------------------------------------------
@config
class DDPMObjectiveConfig:
    """L_simple: mean squared error of the noise prediction (Ho et al. 2020, eq. 14 / 22).

    With p_uncond > 0 each label is replaced by the null token with that probability, so one
    network learns the conditional and the unconditional model (classifier-free guidance).
    """

    p_uncond: float = param(0.0, "probability of dropping a label to the null token (paper: 0.1-0.2)", probability)


# -- samplers ---------------------------------------------------------------------------------------
@config
class AncestralConfig:
    """Ancestral DDPM sampling, x_{t-1} ~ N(mu_theta(x_t, t), sigma_t^2 I), t = T ... 1.

    With `steps` < T it runs on an evenly spaced subsequence with the respaced betas
    1 - abar_t / abar_s (Nichol & Dhariwal 2021).
    """

    variance: Literal["beta", "beta_tilde"] = param("beta", "sigma_t^2: beta_t or the posterior's beta~_t")
    steps: int | None = param(None, "number of denoising steps; none: all T", v.optional(v.gt(0)))
    clip_denoised: bool = param(True, "clip the predicted x_0 to [-1, 1] before each step")


@config
class DDIMConfig:
    """DDIM (Song, Meng & Ermon 2021): fewer steps; eta = 0 is deterministic, eta = 1 ancestral-like."""

    steps: int | None = param(
        50, "number of denoising steps on an evenly spaced subsequence; none: all T", v.optional(v.gt(0))
    )
    eta: float = param(0.0, "scale of the noise added at each step", v.ge(0))
    clip_denoised: bool = param(True, "clip the predicted x_0 to [-1, 1] before each step")


@config
class PredictorCorrectorConfig:
    """Predictor-corrector sampling with the learned score -eps/sqrt(1 - abar_t).

    Each of `steps` levels takes a deterministic DDIM step, then `corrector_steps` Langevin
    updates x += a s(x) + sqrt(2a) z with a set by the signal-to-noise ratio (Song et al. 2021).
    """

    steps: int | None = param(100, "noise levels visited; none: all T", v.optional(v.gt(0)))
    corrector_steps: int = param(1, "Langevin updates per level", v.ge(0))
    snr: float = param(0.1, "target ratio of the Langevin step's noise to its score term", v.gt(0))
    clip_denoised: bool = param(True, "clip the predicted x_0 to [-1, 1] in the predictor")


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
    guidance: float = param(0.0, "default guidance strength w: eps = (1 + w) eps(x, c) - w eps(x)", v.ge(0))
    ema_decay: float = param(0.9999, "decay of the exponential moving average of the weights; 0: no EMA", probability)
    ema_warmup: bool = param(
        True,
        "use decay min(ema_decay, (1 + n)/(10 + n)) after n updates, so short runs "
        "are not dominated by the initial weights",
    )
    sample_with_ema: bool = param(True, "sample and evaluate with the EMA weights")
    grad_clip: float | None = param(1.0, "clip the gradient norm to this value; none: no clipping", v.optional(v.gt(0)))
    trajectory_steps: tuple[int, ...] = param(
        (999, 350, 0),
        "steps t shown in the trajectory figure (the state x_t of the same samples; 0 is the final sample)",
    )
    trajectory_samples: int = param(8, "samples in the trajectory figure (one row each); 0: no figure", v.ge(0))


@config
class VLBConfig:
    """Variational bound L_T + sum L_{t-1} + L_0 in bits/dim on held-out images (Ho et al. eq. 5).

    L_0 is a discretised Gaussian decoder over 256 pixel levels. With `timesteps` = K < T - 1
    the sum over t = 2..T is estimated without bias by stratified sampling: one step drawn
    uniformly from each of K equal strata, weighted by the stratum's size, independently per
    image. The standard error is taken across images (it includes the subsampling noise).
    """

    n_examples: int = param(16, "held-out images scored (the first n)", v.gt(0))
    timesteps: int | None = param(
        None, "steps per image for the sum over t; none: all T - 1 (exact)", v.optional(v.gt(0))
    )
    batch_size: int = param(64, "images per forward pass", v.gt(0))
    variance: Literal["beta", "beta_tilde"] = param("beta", "the reverse variance sigma_t^2")
    conditional: bool = param(
        False, "for a conditional model, score log p(x|y) with the true labels instead of the unconditional log p(x)"
    )
