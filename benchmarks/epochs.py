"""Sample quality after every epoch of one or more diffusion runs (trained with
run.keep_checkpoints >= run.epochs, so each epoch's checkpoint is kept); prints JSON lines.

    python benchmarks/epochs.py RUN [RUN ...] [--sampler dpmpp_2m] [--nfe 15] [--n 500] [--threads 1]

Each checkpoint's samples (class-balanced, CFG at the recipe's strength, the same seeds for every
checkpoint and run) are scored by the Frechet distance of benchmarks/samplers.py against the whole
held-out split. Used to compare parameterizations and loss weightings trained on the same budget.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import torch

from samplers import features, frechet, generate, steps_for  # type: ignore[import-not-found]


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="trained ddpm run directories")
    parser.add_argument("--sampler", default="dpmpp_2m")
    parser.add_argument("--nfe", type=int, default=15)
    parser.add_argument("--n", type=int, default=500, help="generated images per distance")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--guidance", type=float, default=None, help="CFG strength w (default: each recipe's)")
    parser.add_argument("--last", action="store_true", help="only each run's newest kept checkpoint")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    from gentk.api import open_run
    from gentk.data import to_float
    from gentk.rundir import RunDir
    from gentk_common.classifier import get_classifier

    rows: list[dict[str, Any]] = []
    reference: dict[str, Any] = {}
    for path in args.runs:
        kept = RunDir.open(path).numbered_checkpoints()
        for step, file in kept[-1:] if args.last else kept:
            run = open_run(path, "cpu", file.name)
            model = run.model
            if not reference:  # every run trains on the same data: one classifier, one reference
                dataset = run.recipe.data.build()
                classifier = get_classifier(dataset.split("train"), dataset.info, device=model.device)
                real = features(classifier, to_float(dataset.split("test").x, dataset.info))
                reference = {"classifier": classifier, "real": real}
            k = getattr(model, "num_classes", 0)
            sample = {"sampler": args.sampler, "steps": steps_for(args.sampler, args.nfe)}
            if k:
                sample["guidance"] = model.cfg.guidance if args.guidance is None else args.guidance  # type: ignore[attr-defined]
            images = generate(run, args.n, k, args.batch, args.seed, sample)
            objective = run.recipe.model.config.objective.config  # type: ignore[attr-defined]
            row = {
                "run": str(run.path),
                "prediction": objective.prediction,
                "weighting": objective.weighting,
                "epoch": next((r["epoch"] for r in run.metrics("epoch") if r["step"] == step), None),
                "step": step,
                "guidance": sample.get("guidance"),
                "frechet": frechet(features(reference["classifier"], images), reference["real"]),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


if __name__ == "__main__":
    main()
