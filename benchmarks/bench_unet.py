"""Training throughput of the DDPM U-Net on this machine, printed as JSON.

Times `DDPM.train_step` (forward under autocast, backward, Adam, EMA) for the 6.5M-parameter
configuration (channels 64/128/128, two ResNet blocks per level, attention at 7x7) at batch 128,
in fp32 and bf16, for each attention backend and memory layout. Configurations are run
round-robin and the median step time is kept, so a busy shared machine biases them alike.

    python benchmarks/bench_unet.py [--batch 128] [--rounds 3] [--threads N]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import statistics
import time

import torch

from gentk.interfaces import Batch, BuildContext, DataInfo, StepContext
from gentk.recipe import resolve_component


def build(backend: str, channels_last: bool, num_classes: int):
    table = {"use": "ddpm", "conditional": num_classes > 0,
             "denoiser": {"use": "unet", "attention_backend": backend, "channels_last": channels_last}}
    return resolve_component("model", table).build(BuildContext(DataInfo((1, 28, 28), num_classes=num_classes)))


def autocast_factory(precision: str):
    if precision == "bf16":
        return lambda: torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext


def step_seconds(model, batch: Batch, precision: str) -> float:
    ctx = StepContext(step=0, epoch=0, autocast=autocast_factory(precision), device=torch.device("cpu"))
    start = time.perf_counter()
    model.train_step(batch, ctx)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3, help="timed steps per configuration")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--backends", default="math,default")
    parser.add_argument("--layouts", default="contiguous,channels_last")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    batch = Batch(torch.rand(args.batch, 1, 28, 28), torch.randint(0, 10, (args.batch,)))
    configs = list(itertools.product(args.precisions.split(","), args.backends.split(","), args.layouts.split(",")))
    models = {c: build(c[1], c[2] == "channels_last", 10) for c in configs}
    times: dict[tuple, list[float]] = {c: [] for c in configs}
    for c in configs:  # warm-up: oneDNN picks its kernels on the first step
        step_seconds(models[c], batch, c[0])
    for _ in range(args.rounds):
        for c in configs:
            times[c].append(step_seconds(models[c], batch, c[0]))
    results = [{"precision": p, "attention": a, "layout": l, "images_per_s": args.batch / statistics.median(times[(p, a, l)])}
               for p, a, l in configs]
    best = {p: max((r for r in results if r["precision"] == p), key=lambda r: r["images_per_s"])
            for p in args.precisions.split(",")}
    params = sum(p.numel() for p in next(iter(models.values())).denoiser.parameters())
    print(json.dumps({"params": params, "batch": args.batch, "threads": torch.get_num_threads(),
                      "results": results,
                      "best": {p: {k: r[k] for k in ("attention", "layout", "images_per_s")} for p, r in best.items()}},
                     indent=1))


if __name__ == "__main__":
    main()
