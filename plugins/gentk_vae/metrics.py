"""The `nll` metric: test negative log-likelihood of a VAE by importance sampling, in nats."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch

from gentk.data import batches
from gentk.errors import GentkError
from gentk.families.vae import Decoder, LatentVariableModel
from gentk.interfaces import DataInfo, Model, Split
from gentk.progress import track
from gentk_vae.bounds import importance_log_likelihood
from gentk_vae.configs import NLLConfig


class ImportanceNLL:
    """-log p(x) ~ -log (1/K) sum_k p(x, z_k) / q(z_k|x), z_k ~ q(z|x), averaged over the test
    examples; the standard error is that of the mean over examples (the spread between
    images, which dominates the Monte Carlo error of each estimate for K in the thousands)."""

    def __init__(self, cfg: NLLConfig):
        self.cfg = cfg

    def evaluate(
        self, model: Model, data: Split, info: DataInfo, *, generator: torch.Generator
    ) -> Mapping[str, float | str]:
        if not isinstance(model, LatentVariableModel):
            raise GentkError(
                f"the nll metric needs a model with an encoder and a decoder; {type(model).__name__} has none",
                hint='use it with model "vae"',
            )
        if len(data) == 0:
            raise GentkError("the held-out split is empty", hint="give the dataset a test split")
        for net in model.networks().values():
            net.eval()
        encoder, decoder = model.encoder, model.decoder
        cfg = self.cfg
        device = model.device
        held = _head(data, cfg.n_examples)
        logp = torch.cat(
            [
                importance_log_likelihood(batch.x, encoder, decoder, cfg.k, cfg.chunk, generator)
                for batch in track(
                    batches(held, info, cfg.batch_size, device=device),
                    f"nll (K = {cfg.k})",
                    math.ceil(len(held) / cfg.batch_size),
                    unit="batch",
                )
            ]
        )  # (N,)
        out: dict[str, float | str] = {
            "nll": -logp.mean().item(),
            "nll_stderr": logp.std().item() / math.sqrt(len(logp)) if len(logp) > 1 else float("nan"),
            "k": cfg.k,
            "n_examples": len(logp),
        }
        warning = _comparability_warning(decoder, info)
        if warning:
            out["warning"] = warning
        return out


def _head(data: Split, n: int | None) -> Split:
    if n is None or n >= len(data):
        return data
    return Split(data.x[:n], None if data.y is None else data.y[:n])


def _comparability_warning(decoder: Decoder, info: DataInfo) -> str | None:
    """Why the number may not be comparable with published binarised-MNIST NLLs."""
    if decoder.discrete and not info.binarized:
        return (
            "Bernoulli likelihood on data that is not binarised: not a normalised likelihood of these "
            "pixels; set data.binarize = true to compare with published figures"
        )
    if info.kind == "image" and not decoder.discrete:
        return (
            "continuous density on pixel data: nats are not comparable with binarised-MNIST figures "
            "(use a Bernoulli recipe with binarize = true for that)"
        )
    return None
