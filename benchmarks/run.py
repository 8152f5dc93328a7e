"""gentk's benchmark suite: prints one JSON object per figure, then a summary object.

    python benchmarks/run.py                 # everything (about 10-15 minutes on 2 CPU cores)
    python benchmarks/run.py --only vae,iwae # some cases
    python benchmarks/run.py --quick         # fewer steps, for a smoke test

Each case runs in a fresh process (so peak memory is its own) and measures gentk's engine on a
bundled recipe's model against a plain-PyTorch reference loop over the same networks in the same
process (`ratio` = gentk / reference). Both see fresh data every step: batches drawn from an
in-memory uint8 tensor of random images. Timings on a shared machine vary by 10-15 % between
runs; compare ratios measured in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# case name -> (recipe, overrides, reference loop, steps, precision)
TRAIN_CASES = {
    "vae_fp32": ("vae_mnist_bernoulli", ["run.batch_size=128"], "vae", 120, "fp32"),
    "vae_bf16": ("vae_mnist_bernoulli", ["run.batch_size=128"], "vae", 120, "bf16"),
    "iwae_fp32": ("iwae_mnist_bernoulli", ["run.batch_size=128"], "iwae", 30, "fp32"),
    "iwae_bf16": ("iwae_mnist_bernoulli", ["run.batch_size=128"], "iwae", 30, "bf16"),
    "gan_fp32": ("gan_mnist", ["run.batch_size=128"], "gan", 60, "fp32"),
    "unet_fp32": ("ddpm_mnist", ["run.batch_size=128"], "ddpm", 6, "fp32"),
    "unet_bf16": ("ddpm_mnist", ["run.batch_size=128"], "ddpm", 6, "bf16"),
}
OTHER_CASES = ["sample_ddim50_cfg", "sample_ddim50_cfg_small", "sample_ddim50_small", "sample_ddpm1000_small",
               "nll_k5000", "startup", "unet_vs_diffusers", "vae_vs_pythae", "unet_options"]


def machine() -> dict:
    import torch

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    return {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None}


def peak_memory_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated case names")
    parser.add_argument("--quick", action="store_true", help="a quarter of the steps")
    parser.add_argument("--case", help=argparse.SUPPRESS)  # internal: run one case in this process
    args = parser.parse_args()
    if args.case:
        from benchmarks import cases

        result = cases.run_case(args.case, TRAIN_CASES, args.quick)
        print(json.dumps({**result, "peak_memory_mb": round(peak_memory_mb(), 1)}), flush=True)
        return
    names = [n for n in args.only.split(",") if n] or [*TRAIN_CASES, *OTHER_CASES]
    results = []
    for name in names:
        cmd = [sys.executable, "-m", "benchmarks.run", "--case", name] + (["--quick"] if args.quick else [])
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        result = json.loads(lines[-1]) if done.returncode == 0 and lines else {"case": name, "error": done.stderr[-800:]}
        results.append(result)
        print(json.dumps(result), flush=True)
    print(json.dumps({"summary": True, "machine": machine(), "time": time.strftime("%Y-%m-%d %H:%M"),
                      "cases": {r["case"]: {k: v for k, v in r.items() if k != "case"} for r in results}}), flush=True)


if __name__ == "__main__":
    main()
