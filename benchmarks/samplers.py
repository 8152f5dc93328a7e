"""Quality against network evaluations for every diffusion sampler of a trained run, and the wall
time of class-conditional CFG sampling; prints JSON.

    python benchmarks/samplers.py runs/cfg_ddpm_small-<time> [--n 2000] [--nfe 5 10 15 20 50 100]
        [--samplers ddim euler heun dpmpp_2m ...] [--guidance W] [--timing-n 64] [--threads 2]

Quality is a Frechet distance between generated images and the whole held-out test split in the features of
the coverage classifier (plugins/gentk_common/classifier.py: the 64-d penultimate layer of the
small CNN the `coverage` metric trains on the run's training split and caches), with class-
balanced labels for a conditional model, at each number of network evaluations (NFE; a CFG
evaluation batches both branches and counts once). Heun spends 2 N - 2 evaluations on N levels
here (its first step, from sigma ~ 2e4, is an Euler step), so it runs at N = (NFE + 2) / 2; the predictor-corrector spends 2 per level. The wall time is the
median over alternating rounds of `--timing-n` CFG samples with DDIM-50 and with DPM-Solver++
2M-15 (with --point-timing, every point is also timed once).

The targets of the sampler issue: DPM-Solver++ 2M at NFE 15 within 5 % of DDIM-50's distance,
and its wall time for 64 CFG samples at most a third of DDIM-50's.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time
from typing import Any

import torch
from torch import Tensor

DEFAULT_SAMPLERS = ("ancestral", "ddim", "euler", "euler_ancestral", "heun", "dpmpp_2m")
DEFAULT_NFE = (5, 10, 15, 20, 50, 100)
EVALS_PER_STEP = {"heun": 2, "ddpm_langevin": 2}


def steps_for(sampler: str, nfe: int) -> int:
    """Sampler steps that spend about `nfe` network evaluations."""
    if sampler == "heun":  # N levels: Euler from above sigma 80, then N - 2 two-evaluation steps, Euler to 0
        return max(1, (nfe + 2) // 2)
    return max(1, nfe // EVALS_PER_STEP.get(sampler, 1))


@torch.no_grad()
def features(classifier: torch.nn.Module, images: Tensor, batch: int = 500) -> Tensor:
    """The classifier's penultimate activations (N, 64) of images in [0, 1], float64."""
    body = classifier.net[:-2]  # drop the dropout and the logits layer  # type: ignore[index]
    device = next(classifier.parameters()).device
    return torch.cat([body(chunk.to(device).float()).double().cpu() for chunk in images.split(batch)])


def frechet(a: Tensor, b: Tensor) -> float:
    """||mu_a - mu_b||^2 + tr(C_a + C_b - 2 (C_a^1/2 C_b C_a^1/2)^1/2) of feature sets (N, D)."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    ca, cb = torch.cov(a.T), torch.cov(b.T)
    vals, vecs = torch.linalg.eigh(ca)
    root_a = vecs @ torch.diag(vals.clamp(min=0).sqrt()) @ vecs.T
    middle = torch.linalg.eigvalsh(root_a @ cb @ root_a).clamp(min=0).sqrt().sum()
    return float((mu_a - mu_b).pow(2).sum() + ca.trace() + cb.trace() - 2 * middle)


def balanced_labels(n: int, k: int) -> Tensor | None:
    return torch.arange(n) % k if k else None


def generate(run: Any, n: int, k: int, batch: int, seed: int, sample: dict[str, Any]) -> Tensor:
    """n samples with class-balanced labels (k classes; none when k = 0), drawn `batch` at a time,
    each chunk seeded by its offset, so the result does not depend on the batch size's history."""
    labels = balanced_labels(n, k)
    chunks = []
    for start in range(0, n, batch):
        count = min(batch, n - start)
        chunk = labels[start : start + count] if labels is not None else None
        chunks.append(run.sample(count, seed=seed + start, labels=chunk, **sample))
    return torch.cat(chunks)


def seconds(run: Any, n: int, k: int, seed: int, sample: dict[str, Any]) -> float:
    begin = time.perf_counter()
    run.sample(n, seed=seed, labels=balanced_labels(n, k), **sample)
    return time.perf_counter() - begin


def alternating_times(run: Any, n: int, k: int, seed: int, options: dict[str, Any], rounds: int) -> dict[str, Any]:
    """Median wall times of DDIM-50 and DPM-Solver++ 2M-15 for n samples, timed alternately so that
    other work on the machine slows both alike."""
    if not n or not rounds:
        return {}
    pair = {"ddim": {"sampler": "ddim", "steps": 50, **options}, "dpmpp_2m": {"sampler": "dpmpp_2m", "steps": 15, **options}}
    times: dict[str, list[float]] = {name: [] for name in pair}
    for _ in range(rounds):
        for name, sample in pair.items():
            times[name].append(seconds(run, n, k, seed, sample))
    ddim, dpm = statistics.median(times["ddim"]), statistics.median(times["dpmpp_2m"])
    return {"ddim_50_seconds": ddim, "dpmpp_2m_15_seconds": dpm, "time_ratio": dpm / ddim, "timing_rounds": rounds}


def plot_curves(rows: list[dict[str, Any]], out: str, title: str) -> None:
    """Frechet distance against network evaluations, one line per sampler, to a PNG."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.6, 4.2), dpi=120)
    for name in dict.fromkeys(r["sampler"] for r in rows):
        points = sorted((r["nfe"], r["frechet"]) for r in rows if r["sampler"] == name)
        ax.plot(*zip(*points, strict=True), marker="o", label=name)
    ax.set_xscale("log")
    ax.set_xticks(sorted({r["nfe"] for r in rows}))
    ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("network evaluations (NFE; a CFG evaluation counts once)")
    ax.set_ylabel("Frechet distance, classifier features (lower is better)")
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="a trained ddpm run directory")
    parser.add_argument("--n", type=int, default=2000, help="generated images per distance")
    parser.add_argument("--nfe", type=int, nargs="+", default=list(DEFAULT_NFE))
    parser.add_argument("--samplers", nargs="+", default=list(DEFAULT_SAMPLERS))
    parser.add_argument("--guidance", type=float, default=None, help="CFG strength w (default: the recipe's)")
    parser.add_argument("--timing-n", type=int, default=64, help="CFG samples timed; 0: no timing")
    parser.add_argument("--point-timing", action="store_true", help="also time every (sampler, NFE) point once")
    parser.add_argument("--timing-rounds", type=int, default=5, help="alternating rounds of the DDIM-50 / DPM++2M-15 timing")
    parser.add_argument("--checkpoint", help="a checkpoint of the run (default: the newest)")
    parser.add_argument("--timing-only", action="store_true", help="only the DDIM-50 / DPM++2M-15 timing")
    parser.add_argument("--batch", type=int, default=500, help="images generated per call")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", help="also draw the curves to this PNG")
    parser.add_argument("--replot", help="only draw --plot from the JSON lines this script printed before")
    args = parser.parse_args(argv)
    if args.replot:
        lines = [json.loads(line) for line in open(args.replot) if line.startswith('{"sampler"')]
        plot_curves(lines, args.plot, f"{args.run}: n = {args.n}")
        return {"plotted": len(lines)}
    if args.threads:
        torch.set_num_threads(args.threads)

    from gentk.api import open_run
    from gentk.data import to_float
    from gentk_common.classifier import get_classifier

    run = open_run(args.run, "cpu", args.checkpoint)
    model = run.model
    dataset = run.recipe.data.build()
    info = dataset.info
    classifier = get_classifier(dataset.split("train"), info, device=model.device)
    test = dataset.split("test")
    real = features(classifier, to_float(test.x, info))  # the whole held-out split
    k = getattr(model, "num_classes", 0)
    guidance = args.guidance if args.guidance is not None else getattr(getattr(model, "cfg", None), "guidance", 0.0)
    options: dict[str, Any] = {"guidance": guidance} if k else {}
    schedule_steps = model.schedule.num_steps  # type: ignore[attr-defined]

    results: list[dict[str, Any]] = []
    if args.timing_only:
        times = alternating_times(run, args.timing_n, k, args.seed, options, args.timing_rounds)
        print(json.dumps({"run": str(run.path), "guidance": guidance, **times}))
        return times
    for name in args.samplers:
        for nfe in args.nfe:
            steps = min(steps_for(name, nfe), schedule_steps - (1 if name == "dpmpp_2m" else 0))
            sample = {"sampler": name, "steps": steps, **options}
            fd = frechet(features(classifier, generate(run, args.n, k, args.batch, args.seed, sample)), real)
            row: dict[str, Any] = {"sampler": name, "nfe": nfe, "steps": steps, "frechet": fd}
            if args.point_timing:
                row["seconds"] = seconds(run, args.timing_n, k, args.seed, sample)
            results.append(row)
            print(json.dumps(row), flush=True)

    report = {
        "run": str(run.path),
        "n": args.n,
        "guidance": guidance,
        "classifier_accuracy": classifier.accuracy,
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },
        "results": results,
    }
    by = {(r["sampler"], r["nfe"]): r for r in results}
    ddim, dpm = by.get(("ddim", 50)), by.get(("dpmpp_2m", 15))
    if ddim and dpm:
        report["dpmpp_2m_15_vs_ddim_50"] = {
            "frechet_ratio": dpm["frechet"] / ddim["frechet"] if ddim["frechet"] > 0 else math.nan,
            **alternating_times(run, args.timing_n, k, args.seed, options, args.timing_rounds),
        }
    if args.plot:
        plot_curves(results, args.plot, f"{run.path.name}: n = {args.n}, guidance w = {guidance}")
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
