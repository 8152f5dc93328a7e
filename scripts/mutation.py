"""Mutation score of gentk's mathematics (run by hand; not part of the test suite).

    pip install mutmut==3.8.1        # into the venv, for this script only
    python scripts/mutation.py [--only GROUP ...] [--workdir DIR] [--jobs 2]

mutmut changes one operator, constant or call at a time in the modules below and runs the tests
that reach the changed function; a mutant the tests do not fail on "survives". mutmut names
modules by their path from the project root, so the script lays out a copy of the repository in
`--workdir` with each plugin package at the top level (plugins/gentk_gan -> gentk_gan), as the
installed packages import them, and runs mutmut there, one group of modules at a time with the
tests that cover them. It prints one JSON line per group (killed, survived, timeouts, no tests,
score = killed / (killed + survived)) and a summary line; the survivors are listed with
`mutmut results` / `mutmut show NAME` inside `WORKDIR/GROUP`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# group -> (modules, as the copy lays them out; the tests that check them)
GROUPS: dict[str, tuple[list[str], list[str]]] = {
    "prob": (["gentk/prob.py"], ["tests/prob"]),
    "vae": (
        ["gentk_vae/bounds.py", "gentk_vae/likelihoods.py", "gentk_vae/objectives.py", "gentk_vae/metrics.py"],
        ["tests/vae"],
    ),
    "gan": (["gentk_gan/objectives.py"], ["tests/gan"]),
    "diffusion": (
        [
            "gentk_diffusion/schedules.py",
            "gentk_diffusion/samplers.py",
            "gentk_diffusion/objective.py",
            "gentk_diffusion/vlb.py",
            "gentk_diffusion/parameterization.py",
        ],
        ["tests/diffusion"],
    ),
    "metrics": (["gentk_prob/metrics.py", "gentk_prob/sampler.py", "gentk_common/coverage.py"], ["tests/prob", "tests/gan"]),
}


def lay_out(dest: Path) -> None:
    """A copy of the repository with the plugin packages at the top level."""
    if dest.exists():
        shutil.rmtree(dest)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis")
    shutil.copytree(ROOT / "gentk", dest / "gentk", ignore=ignore)
    for package in sorted((ROOT / "plugins").iterdir()):
        if package.is_dir() and package.name.startswith("gentk_"):
            shutil.copytree(package, dest / package.name, ignore=ignore)
    shutil.copytree(ROOT / "tests", dest / "tests", ignore=ignore)
    shutil.copytree(ROOT / "gentk" / "recipes", dest / "recipes")
    shutil.copytree(ROOT / "scripts", dest / "scripts", ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", dest / "pyproject.toml")


def configure(dest: Path, modules: list[str], tests: list[str]) -> None:
    text = (dest / "pyproject.toml").read_text()
    text += (
        "\n[tool.mutmut]\n"
        f"source_paths = {json.dumps(sorted({m.split('/')[0] for m in modules}))}\n"
        f"only_mutate = {json.dumps(modules)}\n"
        f"pytest_add_cli_args_test_selection = {json.dumps(tests)}\n"
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-q"]\n'
        'also_copy = ["recipes", "scripts"]\n'
    )
    (dest / "pyproject.toml").write_text(text)


def score(dest: Path) -> dict:
    subprocess.run([sys.executable, "-m", "mutmut", "export-cicd-stats"], cwd=dest, capture_output=True)
    stats = json.loads((dest / "mutants" / "mutmut-cicd-stats.json").read_text())
    killed, survived = stats.get("killed", 0), stats.get("survived", 0)
    return {**stats, "score": round(killed / max(killed + survived, 1), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=sorted(GROUPS), default=sorted(GROUPS))
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/gentk-mutation"))
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    totals = {"killed": 0, "survived": 0}
    for group in args.only:
        modules, tests = GROUPS[group]
        dest = args.workdir / group
        lay_out(dest)
        configure(dest, modules, tests)
        with open(dest / "mutmut-run.log", "w") as log:  # its progress display, kept out of the JSON
            run = [sys.executable, "-m", "mutmut", "run", "--max-children", str(args.jobs)]
            done = subprocess.run(run, cwd=dest, stdout=log, stderr=subprocess.STDOUT)
        if done.returncode not in (0, 1):
            error = f"mutmut exited with {done.returncode}; see {dest / 'mutmut-run.log'}"
            print(json.dumps({"group": group, "error": error}), flush=True)
            continue
        result = {"group": group, "modules": modules, **score(dest)}
        totals = {k: totals[k] + result.get(k, 0) for k in totals}
        print(json.dumps(result), flush=True)
    total = totals["killed"] + totals["survived"]
    print(json.dumps({"summary": True, **totals, "score": round(totals["killed"] / max(total, 1), 4)}))


if __name__ == "__main__":
    main()
