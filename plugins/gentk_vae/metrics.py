"""The `nll` metric: test negative log-likelihood of a VAE by importance sampling, in nats."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch

from gentk.data import batches
from gentk.errors import GentkError
from gentk.interfaces import DataInfo, Split
from gentk.progress import track
from gentk_vae.bounds import importance_log_likelihood
from gentk_vae.likelihoods import Bernoulli


class ImportanceNLL:
    """-log p(x) ~ -log (1/K) sum_k p(x, z_k) / q(z_k|x), z_k ~ q(z|x), averaged over the test
    examples; the standard error is that of the mean over examples (the spread between
    images, which dominates the Monte Carlo error of each estimate for K in the thousands)."""

    def __init__(self, cfg):
        self.cfg = cfg

    def evaluate(self, model, data: Split, info: DataInfo, *, generator: torch.Generator) -> Mapping[str, float | str]:
        encoder, decoder = getattr(model, "encoder", None), getattr(model, "decoder", None)
        if encoder is None or decoder is None:
            raise GentkError(
                "the nll metric needs a model with an encoder and a decoder", hint='use it with model "vae"'
            )
        if len(data) == 0:
            raise GentkError("the held-out split is empty", hint="give the dataset a test split")
        encoder.eval()
        decoder.eval()
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


def _comparability_warning(decoder, info: DataInfo) -> str | None:
    """Why the number may not be comparable with published binarised-MNIST NLLs."""
    likelihood = getattr(decoder, "likelihood", None)
    if isinstance(likelihood, Bernoulli) and not info.binarized:
        return (
            "Bernoulli likelihood on data that is not binarised: not a normalised likelihood of these "
            "pixels; set data.binarize = true to compare with published figures"
        )
    if info.kind == "image" and not isinstance(likelihood, Bernoulli):
        return (
            "continuous density on pixel data: nats are not comparable with binarised-MNIST figures "
            "(use a Bernoulli recipe with binarize = true for that)"
        )
    return None
