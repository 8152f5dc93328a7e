"""A fault campaign: gentk run from outside as users and operators would stop it, fill its disk, take
away its write access, feed it broken data and hostile recipes. Prints one JSON object per scenario,
then a summary object (the figures before the resilience work, and now), on stdout; progress goes
to stderr.

    python benchmarks/faults.py                       # everything (about 20 minutes on 2 CPU cores)
    python benchmarks/faults.py --quick               # a few trials of each scenario (about 7 minutes)
    python benchmarks/faults.py --only sigkill,sigint --kills 20 --jobs 1
    python benchmarks/faults.py --details trials.jsonl   # also every trial, one JSON object a line

Not part of the test suite (tests/ covers each fault deterministically); this is the campaign that
was first run against the code before the resilience work, run against the current one. Every random choice (the
moment of a signal, the mutations) comes from --seed; where a signal lands still depends on the
machine's speed, so counts can move by a trial or two between runs. Signals go to the gentk process
alone (its own session), as a terminal's Ctrl-C reaches a single-process run. The work folder (runs,
logs) is a temporary folder, removed at the end unless --keep.

Scenarios (--only takes these names):
  reference       uninterrupted runs of vae_toy, gan_ring and iwae_toy, twice each (same records?)
  sigkill         SIGKILL at random moments of training, `gentk run --resume`, records compared exactly
  sigint          Ctrl-C (SIGINT): exit 130, the resume command printed and run, records compared
  double_sigint   a second SIGINT 0-50 ms after the first (during the checkpoint save)
  sigterm         SIGTERM: exit 143, as sigint
  startup         SIGKILL, SIGINT and SIGTERM between the run directory's creation and the first step
  late_signals    SIGINT and SIGTERM after the last step (last evaluation, figures, loss curve)
  concurrent      two `gentk run --resume` of one run at once: one is refused, no duplicated records
  disk_full       a small tmpfs filled while a run writes to it (root; else the unit tests' simulation)
  read_only       read-only bind mounts and immutable (chattr +i) folders and files (root)
  image_folders   broken image folders: `gentk check` and a one-step `gentk run`
  mutations       mutated bundled recipes through `gentk check` (in process), then 2 training steps of
                  a sample of the accepted toy2d ones

The records compared are every `step` and `epoch` record of metrics.jsonl, every figure in them
exactly (losses, gradient norms, evaluation figures) except the timings (seconds, images_per_s).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import errno
import io
import json
import math
import os
import platform
import random
import re
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import zlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

# -- what is run -------------------------------------------------------------------------------
COMMON_SETS = ["run.threads=1", "run.seed=7"]
SIGNAL_RECIPES: dict[str, list[str]] = {
    "vae_toy": ["run.steps_per_epoch=100", "run.epochs=4"],  # checkpoints at epoch ends only
    "gan_ring": ["run.steps_per_epoch=100", "run.epochs=4", 'run.checkpoint_every="30"', "run.keep_checkpoints=2"],
    "iwae_toy": ["run.steps_per_epoch=100", "run.epochs=4", 'run.checkpoint_every="50"', 'run.best_metric="nll/nll"'],
}
TIMING_KEYS = {"seconds", "images_per_s"}
GAPS_MS = [0, 5, 20, 50]  # between the two SIGINTs of double_sigint
SCENARIOS = [
    "reference",
    "sigkill",
    "sigint",
    "double_sigint",
    "sigterm",
    "startup",
    "late_signals",
    "concurrent",
    "disk_full",
    "read_only",
    "image_folders",
    "mutations",
]

# The figures the same campaign measured on the code before the resilience work (checkpoints at step
# boundaries, signals, the run lock, torn-line recovery, input ranges).
BEFORE = {
    "sigkill": "49/49 SIGKILLs during training resumed to exactly the same losses (60 SIGKILLs in all)",
    "sigint": "7 of 10 resumed runs after Ctrl-C diverged",
    "double_sigint": "13 double Ctrl-Cs: progress lost silently (exit 130, nothing printed) or a raw "
    "KeyboardInterrupt traceback",
    "sigterm": "SIGTERM saved nothing and said nothing",
    "startup": "a SIGKILL before the first checkpoint, then --resume, duplicated records",
    "late_signals": "not reported separately in the issue",
    "concurrent": "two concurrent --resume of one run both succeeded and interleaved the history (42 duplicated "
    "records)",
    "disk_full": "a half line left in metrics.jsonl (--resume and eval then failed with JSONDecodeError); a full disk "
    "during a checkpoint write reported an internal inline_container.cc error; at start a 0-byte recipe.toml; "
    "temporary checkpoint files never cleaned up",
    "read_only": "tried; no figure reported",
    "image_folders": "19 broken image folders: corrupt images named, but a symlink to the root became an extra class, "
    "a class folder linked to / walked the whole filesystem, a decompression-bomb PNG failed at run time",
    "mutations": "27 of 1,199 mutated recipes gave `unexpected error` in check; 29 of 117 accepted ones failed at run "
    "time with an unexpected error or a traceback",
}


def _gentk_command() -> list[str]:
    script = Path(sys.executable).with_name("gentk")
    return [str(script)] if script.exists() else [sys.executable, "-m", "gentk"]


GENTK = _gentk_command()
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "COLUMNS": "200"}


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def emit(obj: dict[str, Any]) -> None:
    print(json.dumps(obj, default=str), flush=True)


# -- processes ---------------------------------------------------------------------------------
class Proc:
    """A gentk process in its own session (signals go to it alone), its output in files under `log`."""

    def __init__(self, args: list[str], log: Path, cwd: Path | None = None):
        log.parent.mkdir(parents=True, exist_ok=True)
        self.out_file, self.err_file = log.with_name(log.name + ".out"), log.with_name(log.name + ".err")
        self._out, self._err = open(self.out_file, "wb"), open(self.err_file, "wb")  # noqa: SIM115
        self.args = args
        self.timed_out = False
        self.started = time.monotonic()
        self.p = subprocess.Popen(
            [*GENTK, *args],
            stdout=self._out,
            stderr=self._err,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=ENV,
            cwd=cwd,
        )

    def alive(self) -> bool:
        return self.p.poll() is None

    def send(self, sig: int) -> bool:
        """Send a signal; False when the process had already ended."""
        if self.p.poll() is not None:
            return False
        try:
            os.kill(self.p.pid, sig)
        except ProcessLookupError:
            return False
        return True

    def wait(self, timeout: float) -> int:
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.timed_out = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.p.pid, signal.SIGKILL)
            rc = self.p.wait()
        self.seconds = time.monotonic() - self.started
        self._out.close()
        self._err.close()
        return rc

    @property
    def out(self) -> str:
        return self.out_file.read_text(errors="replace")

    @property
    def err(self) -> str:
        return self.err_file.read_text(errors="replace")


def run_gentk(args: list[str], log: Path, timeout: float = 180, cwd: Path | None = None) -> dict[str, Any]:
    proc = Proc(args, log, cwd)
    rc = proc.wait(timeout)
    return {"rc": rc, "out": proc.out, "err": proc.err, "timed_out": proc.timed_out, "seconds": proc.seconds}


def wait_until(predicate: Callable[[], bool], proc: Proc | None, timeout: float, poll: float = 0.003) -> float | None:
    """The time at which `predicate` first holds; None when the process ends first or time runs out."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return time.monotonic()
        if proc is not None and not proc.alive():
            return time.monotonic() if predicate() else None
        time.sleep(poll)
    return None


def tail(text: str, n: int = 600) -> str:
    text = text.strip()
    return text if len(text) <= n else "..." + text[-n:]


def first_error(text: str) -> str:
    """The `error: ...` line (and its hint) of a gentk error, or the text's last lines."""
    m = re.search(r"^error: .*(?:\n\s+hint: .*)?", text, re.M)
    return (m.group(0) if m else tail(text, 300)).strip()[:500]


def clean_error(res: dict[str, Any]) -> bool:
    """A user-facing gentk error: exit 2, `error:` printed, no traceback, no `unexpected error`."""
    text = res["out"] + res["err"]
    return res["rc"] == 2 and "error:" in res["err"] and "Traceback" not in text and "unexpected error" not in text


COMPONENT_ERROR = re.compile(r"\(plugin '[^']*', distribution [^)]*\) failed")


# -- run directories ---------------------------------------------------------------------------
def run_dir_in(out: Path) -> Path | None:
    """The one run directory that `gentk run --out OUT` made in OUT."""
    try:
        dirs = [p for p in out.iterdir() if p.is_dir()]
    except OSError:
        return None
    return dirs[0] if len(dirs) == 1 else None


def has_started(out: Path) -> bool:
    """The run's start record is written (training begins next)."""
    run = run_dir_in(out)
    try:
        return run is not None and (run / "metrics.jsonl").stat().st_size > 0
    except OSError:
        return False


def has_checkpoint(out: Path) -> bool:
    run = run_dir_in(out)
    return run is not None and (run / "checkpoint.pt").is_file()


def planned_steps(recipe: str) -> int:
    values = dict(s.split("=", 1) for s in SIGNAL_RECIPES[recipe])
    return int(values["run.steps_per_epoch"]) * int(values["run.epochs"])


def last_step_logged(out: Path, recipe: str) -> bool:
    """The record of the run's last step is in metrics.jsonl (one is logged every 20 steps)."""
    run = run_dir_in(out)
    if run is None:
        return False
    records, _ = read_history(run)
    return any(r.get("kind") == "step" and r.get("step") == planned_steps(recipe) for r in records)


def temporary_files(run: Path) -> list[str]:
    found = list(run.glob(".*.tmp")) + list((run / "figures").glob(".*.tmp"))
    return sorted(p.name for p in found)


def read_history(run: Path) -> tuple[list[dict[str, Any]], int]:
    """The step and epoch records of metrics.jsonl, and how many lines are torn or unreadable."""
    try:
        data = (run / "metrics.jsonl").read_bytes()
    except FileNotFoundError:
        return [], 0
    lines = data.split(b"\n")
    bad = 0
    if data and not data.endswith(b"\n"):
        bad, lines = 1, lines[:-1]
    records = []
    for line in lines:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            bad += 1
            continue
        if isinstance(record, dict) and record.get("kind") in ("step", "epoch"):
            records.append(record)
    return records, bad


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def compare(ref: list[dict[str, Any]], got: list[dict[str, Any]]) -> str | None:
    """None when the records agree exactly (timings aside); else where they first differ."""
    for i, (a, b) in enumerate(zip(ref, got, strict=False)):
        if (a.get("kind"), a.get("step")) != (b.get("kind"), b.get("step")):
            return (
                f"record {i}: {b.get('kind')} at step {b.get('step')}, uninterrupted {a.get('kind')} at {a.get('step')}"
            )
        for key in sorted((set(a) | set(b)) - TIMING_KEYS):
            if not _same(a.get(key), b.get(key)):
                return f"{a['kind']} record at step {a['step']}: {key} = {b.get(key)!r}, uninterrupted {a.get(key)!r}"
    if len(ref) != len(got):
        return f"{len(got)} records, uninterrupted {len(ref)}"
    return None


def duplicates(records: list[dict[str, Any]]) -> int:
    counts = Counter((r.get("kind"), r.get("step")) for r in records)
    return sum(n - 1 for n in counts.values() if n > 1)


def read_status(run: Path | None) -> dict[str, Any]:
    if run is None:
        return {}
    try:
        status = json.loads((run / "status.json").read_text())
        return status if isinstance(status, dict) else {}
    except (OSError, ValueError):
        return {}


def checkpoint_ok(file: Path) -> str | None:
    """None when `file` loads as a gentk checkpoint (weights_only) with finite weights; else why not."""
    import torch

    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001  (any failure to load is the finding)
        return f"{type(exc).__name__}: {str(exc)[:200]}"
    if not isinstance(state, dict) or "networks" not in state or "position" not in state:
        return "not a gentk checkpoint"
    for name, net in state["networks"].items():
        for key, t in net.items():
            if isinstance(t, torch.Tensor) and t.is_floating_point() and not bool(torch.isfinite(t).all()):
                return f"non-finite weights in {name}.{key}"
    return None


def nonfinite_figures(run: Path) -> list[str]:
    """Non-finite numbers in any record of metrics.jsonl."""
    found = []
    try:
        lines = (run / "metrics.jsonl").read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        for key, value in record.items() if isinstance(record, dict) else ():
            if isinstance(value, float) and not math.isfinite(value):
                found.append(f"{record.get('kind')}@{record.get('step')}: {key} = {value}")
    return found


# -- the campaign ------------------------------------------------------------------------------
class Campaign:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.work = Path(tempfile.mkdtemp(prefix="gentk-faults-"))
        self.refs: dict[str, dict[str, Any]] = {}
        self.results: dict[str, dict[str, Any]] = {}
        self.details = open(args.details, "w") if args.details else None  # noqa: SIM115
        self._lock = threading.Lock()

    def detail(self, record: dict[str, Any]) -> None:
        if self.details is not None:
            with self._lock:
                self.details.write(json.dumps(record, default=str) + "\n")
                self.details.flush()

    def pool_map(self, fn: Callable[..., dict[str, Any]], items: list[tuple], label: str) -> list[dict[str, Any]]:
        """Run `fn(*item)` for every item on --jobs threads (each drives its own processes)."""
        results: list[dict[str, Any] | None] = [None] * len(items)
        done = 0
        with concurrent.futures.ThreadPoolExecutor(max_workers=self.args.jobs) as pool:
            futures = {pool.submit(fn, *item): i for i, item in enumerate(items)}
            for future in concurrent.futures.as_completed(futures):
                i = futures[future]
                try:
                    results[i] = future.result()
                except Exception as exc:  # noqa: BLE001  (a bug of this script: keep going, report it)
                    results[i] = {"outcome": "campaign_error", "error": traceback.format_exc()[-800:]}
                    say(f"[{label}] campaign error: {exc}")
                done += 1
                record = results[i] or {}
                self.detail({"scenario": label, **record})
                say(f"[{label}] {done}/{len(items)} {record.get('recipe', '')} {record.get('outcome')}")
        return [r or {} for r in results]

    # -- reference runs -------------------------------------------------------------------------
    def sets(self, recipe: str) -> list[str]:
        return [a for s in COMMON_SETS + SIGNAL_RECIPES[recipe] for a in ("--set", s)]

    def reference(self) -> dict[str, Any]:
        out: dict[str, Any] = {"scenario": "reference", "recipes": {}}
        for recipe in SIGNAL_RECIPES:
            timings, histories = [], []
            for k in range(2):
                folder = self.work / "reference" / f"{recipe}-{k}"
                proc = Proc(["run", recipe, "--out", str(folder), *self.sets(recipe)], self.work / "logs" / folder.name)
                t_dir = wait_until(lambda f=folder: run_dir_in(f) is not None, proc, 120)
                t_start = wait_until(lambda f=folder: has_started(f), proc, 120)
                # the last step's record: after it come only the last evaluation, figures and loss curve
                t_last = wait_until(lambda f=folder, r=recipe: last_step_logged(f, r), proc, 300, poll=0.005)
                rc = proc.wait(300)
                if rc != 0 or t_dir is None or t_start is None or t_last is None:
                    raise SystemExit(f"reference run of {recipe} failed (exit {rc}): {tail(proc.err)}")
                run = run_dir_in(folder)
                assert run is not None
                histories.append(read_history(run)[0])
                timings.append(
                    {
                        "startup_s": t_dir - proc.started,
                        "setup_s": t_start - t_dir,
                        "train_s": t_last - t_start,
                        "finish_s": proc.seconds - (t_last - proc.started),
                    }
                )
            repeat = compare(histories[0], histories[1])
            self.refs[recipe] = {
                "history": histories[0],
                "setup_s": min(t["setup_s"] for t in timings),
                "train_s": min(t["train_s"] for t in timings),
                "finish_s": min(t["finish_s"] for t in timings),
            }
            out["recipes"][recipe] = {
                "overrides": COMMON_SETS + SIGNAL_RECIPES[recipe],
                "records": len(histories[0]),
                "steps": histories[0][-1]["step"] if histories[0] else 0,
                "same_seed_same_records": repeat is None,
                **({"difference": repeat} if repeat else {}),
                "seconds_to_run_dir": round(timings[0]["startup_s"], 2),
                "seconds_dir_to_first_step": round(self.refs[recipe]["setup_s"], 2),
                "seconds_of_training": round(self.refs[recipe]["train_s"], 2),
                "seconds_after_the_last_step": round(min(t["finish_s"] for t in timings), 2),
            }
            say(f"[reference] {recipe}: {out['recipes'][recipe]}")
        out["repeatable"] = all(r["same_seed_same_records"] for r in out["recipes"].values())
        return out

    # -- signals during training ----------------------------------------------------------------
    def signal_trial(
        self, scenario: str, index: int, recipe: str, sig: int, delay: float, gap: float | None, anchor: str
    ) -> dict[str, Any]:
        """Start a run, send `sig` `delay` s after the anchor (the start record, or the run directory),
        a second SIGINT `gap` s later if given; then resume it as the message says and compare."""
        folder = self.work / scenario / f"{index:03d}-{recipe}"
        logs = self.work / "logs" / scenario
        name = signal.Signals(sig).name
        trial: dict[str, Any] = {"trial": index, "recipe": recipe, "signal": name, "delay_s": round(delay, 3)}
        if gap is not None:
            trial["gap_ms"] = round(gap * 1000)
        proc = Proc(["run", recipe, "--out", str(folder), *self.sets(recipe)], logs / f"{index:03d}-run")
        if anchor == "dir":
            anchored = wait_until(lambda: run_dir_in(folder) is not None, proc, 120, poll=0.001)
        elif anchor == "last_step":
            anchored = wait_until(lambda: last_step_logged(folder, recipe), proc, 300, poll=0.005)
        else:
            anchored = wait_until(lambda: has_started(folder), proc, 120)
        if anchored is None:
            rc = proc.wait(120)
            return {**trial, "outcome": "no_anchor", "rc": rc, "stderr": tail(proc.err)}
        time.sleep(delay)
        sent = proc.send(sig)
        second = None
        if gap is not None and sent:
            time.sleep(gap)
            second = proc.send(signal.SIGINT)
        rc = proc.wait(120)
        err = proc.err
        run = run_dir_in(folder)
        status = read_status(run)
        trial.update(
            rc=rc,
            sent=sent,
            hung=proc.timed_out,
            run_dir_left=run is not None,
            status_after_signal=status.get("status"),
            step_at_signal=status.get("step"),
            status_checkpoint_step=status.get("checkpoint_step"),
            had_checkpoint=run is not None and (run / "checkpoint.pt").is_file(),
            tmp_files_left=len(temporary_files(run)) if run is not None else 0,
            traceback="Traceback" in err,
            unexpected_error="unexpected error" in err,
            done_printed="done:" in proc.out,
        )
        if gap is not None:
            trial["second_sent"] = bool(second)
            trial["please_wait_printed"] = "please wait" in err
        if not sent or rc == 0:
            trial["outcome"] = "ended_before_signal" if not sent else "completed_despite_signal"
            trial["stderr"] = tail(err, 300)
            return trial
        expected_rc = -9 if sig == signal.SIGKILL else 128 + sig
        trial["exit_code_ok"] = rc == expected_rc
        command: list[str] | None = None
        if sig == signal.SIGKILL:
            command = ["run", "--resume", str(run)] if run is not None else None
        else:
            m = re.search(r"Resume with: (gentk run --resume .+?)\s*$", err, re.M)
            trial["message"] = first_error(err) if not m else m.group(0)
            trial["resume_command_printed"] = m is not None
            trial["nothing_kept_message"] = "before training started; nothing was kept" in err
            if m:
                command = shlex.split(m.group(1))[1:]
            elif run is not None:
                command = ["run", "--resume", str(run)]
        if trial["traceback"] or trial["unexpected_error"]:
            trial["stderr"] = tail(err)
        if command is None:
            trial["outcome"] = "stopped_before_training" if not trial["run_dir_left"] else "no_resume_command"
            return trial
        res = run_gentk(command, logs / f"{index:03d}-resume")
        trial["resume_rc"] = res["rc"]
        if res["rc"] != 0:
            trial["resume_error"] = first_error(res["err"])
            trial["resume_traceback"] = "Traceback" in res["err"]
            trial["outcome"] = "refused_clearly" if clean_error(res) else "failed_to_resume"
            return trial
        assert run is not None
        history, torn = read_history(run)
        difference = compare(self.refs[recipe]["history"], history)
        trial.update(
            duplicated_records=duplicates(history),
            torn_lines=torn,
            tmp_files_after_resume=len(temporary_files(run)),
            status_after_resume=read_status(run).get("status"),
            resume_traceback="Traceback" in res["err"],
        )
        if difference:
            trial["difference"] = difference
        trial["outcome"] = "exact" if difference is None else "diverged"
        return trial

    def signal_campaign(
        self, scenario: str, sig: int, count: int, *, gaps: list[float] | None = None, anchor: str = "start"
    ) -> list[dict[str, Any]]:
        """`count` trials that hit training (more are run when a signal comes too late), spread over the
        recipes; the delays come from the seeded RNG."""
        rng = random.Random(f"{self.args.seed}-{scenario}")
        recipes = list(SIGNAL_RECIPES)
        trials: list[dict[str, Any]] = []
        index, scale = 0, 0.95
        for _round in range(3):
            missing = count - sum(
                1
                for t in trials
                if t.get("outcome") not in ("ended_before_signal", "completed_despite_signal", "no_anchor")
            )
            if missing <= 0:
                break
            items = []
            for _ in range(missing):
                recipe = recipes[index % len(recipes)]
                ref = self.refs[recipe]
                window = ref["setup_s"] if anchor == "dir" else ref["train_s"]  # up to the last step
                gap = gaps[index % len(gaps)] if gaps else None
                items.append((scenario, index, recipe, sig, rng.uniform(0, scale * window), gap, anchor))
                index += 1
            trials += self.pool_map(self.signal_trial, items, scenario)
            scale /= 2  # signals that came after the end: aim earlier
        return trials

    @staticmethod
    def counted(trials: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            t
            for t in trials
            if t.get("outcome") not in ("ended_before_signal", "completed_despite_signal", "no_anchor")
        ]

    def summarize_signals(self, scenario: str, sig: int, trials: list[dict[str, Any]]) -> dict[str, Any]:
        hit = self.counted(trials)
        outcomes = Counter(t.get("outcome") for t in trials)
        obj: dict[str, Any] = {
            "scenario": scenario,
            "signal": signal.Signals(sig).name,
            "trials": len(trials),
            "during_training": len(hit),
            "exact": outcomes["exact"],
            "diverged": outcomes["diverged"],
            "failed_to_resume": outcomes["failed_to_resume"] + outcomes["no_resume_command"],
            "ended_before_signal": outcomes["ended_before_signal"] + outcomes["completed_despite_signal"],
            "before_first_checkpoint": sum(1 for t in hit if not t.get("had_checkpoint")),
            "tmp_files_left_by_the_stop": sum(1 for t in hit if t.get("tmp_files_left")),
            "tmp_files_after_resume": sum(1 for t in hit if t.get("tmp_files_after_resume")),
            "duplicated_records": sum(t.get("duplicated_records", 0) for t in hit),
            "torn_lines_after_resume": sum(t.get("torn_lines", 0) for t in hit),
            "hung": sum(1 for t in trials if t.get("hung")),
            "tracebacks": sum(1 for t in trials if t.get("traceback") or t.get("resume_traceback")),
            "unexpected_errors": sum(1 for t in trials if t.get("unexpected_error")),
            "per_recipe": {
                r: f"{sum(1 for t in hit if t['recipe'] == r and t.get('outcome') == 'exact')}/"
                f"{sum(1 for t in hit if t['recipe'] == r)} exact"
                for r in SIGNAL_RECIPES
            },
        }
        if sig != signal.SIGKILL:
            obj["exit_code_ok"] = sum(1 for t in hit if t.get("exit_code_ok"))
            obj["resume_command_printed"] = sum(1 for t in hit if t.get("resume_command_printed"))
            obj["status_interrupted"] = sum(1 for t in hit if t.get("status_after_signal") == "interrupted")
        if scenario == "double_sigint":
            obj["second_signal_sent"] = sum(1 for t in hit if t.get("second_sent"))
            obj["please_wait_printed"] = sum(1 for t in hit if t.get("please_wait_printed"))
            obj["by_gap_ms"] = {
                str(
                    round(g * 1000)
                ): f"{sum(1 for t in hit if t.get('gap_ms') == round(g * 1000) and t.get('outcome') == 'exact')}"
                f"/{sum(1 for t in hit if t.get('gap_ms') == round(g * 1000))} exact"
                for g in (x / 1000 for x in GAPS_MS)
            }
        problems = [
            t
            for t in trials
            if t.get("outcome") not in ("exact", "ended_before_signal", "completed_despite_signal")
            or t.get("traceback")
            or t.get("unexpected_error")
            or t.get("resume_traceback")
            or (sig != signal.SIGKILL and t in hit and not (t.get("exit_code_ok") and t.get("resume_command_printed")))
            or t.get("duplicated_records")
            or t.get("tmp_files_after_resume")
        ]
        obj["problems"] = problems[:10]
        return obj

    def scenario_signals(self, scenario: str) -> dict[str, Any]:
        a = self.args
        if scenario == "sigkill":
            trials = self.signal_campaign(scenario, signal.SIGKILL, a.kills)
            return self.summarize_signals(scenario, signal.SIGKILL, trials)
        if scenario == "sigint":
            trials = self.signal_campaign(scenario, signal.SIGINT, a.ints)
            return self.summarize_signals(scenario, signal.SIGINT, trials)
        if scenario == "sigterm":
            trials = self.signal_campaign(scenario, signal.SIGTERM, a.terms)
            return self.summarize_signals(scenario, signal.SIGTERM, trials)
        trials = self.signal_campaign(scenario, signal.SIGINT, a.double_ints, gaps=[g / 1000 for g in GAPS_MS])
        return self.summarize_signals(scenario, signal.SIGINT, trials)

    def scenario_startup(self) -> dict[str, Any]:
        """Signals between the run directory's creation and the first step (nothing trained yet)."""
        rng = random.Random(f"{self.args.seed}-startup")
        sigs = [signal.SIGKILL, signal.SIGINT, signal.SIGTERM]
        items = []
        for i in range(self.args.startup):
            recipe = list(SIGNAL_RECIPES)[i % len(SIGNAL_RECIPES)]
            sig = sigs[(i // len(SIGNAL_RECIPES)) % len(sigs)] if self.args.startup >= 9 else sigs[i % len(sigs)]
            items.append(("startup", i, recipe, sig, rng.uniform(0, self.refs[recipe]["setup_s"]), None, "dir"))
        trials = self.pool_map(self.signal_trial, items, "startup")
        clean = []
        for t in trials:
            if t.get("outcome") in ("ended_before_signal", "completed_despite_signal"):
                ok = False
            elif t["signal"] == "SIGKILL":  # resume restarts cleanly, or refuses a directory without a recipe
                ok = t.get("outcome") in ("exact", "refused_clearly") and not t.get("resume_traceback")
            else:
                stopped = t.get("outcome") == "stopped_before_training" and t.get("nothing_kept_message")
                ok = bool(t.get("exit_code_ok") and (stopped or t.get("outcome") == "exact"))
                ok = ok and not t.get("traceback") and not t.get("unexpected_error")
            t["clean"] = ok
            clean.append(ok)
        outcomes = Counter(f"{t['signal']}:{t.get('outcome')}" for t in trials)
        return {
            "scenario": "startup",
            "trials": len(trials),
            "clean": sum(clean),
            "outcomes": dict(outcomes),
            "duplicated_records": sum(t.get("duplicated_records", 0) for t in trials),
            "run_dirs_left_by_sigint_sigterm": sum(
                1 for t in trials if t["signal"] != "SIGKILL" and t.get("run_dir_left")
            ),
            "problems": [t for t in trials if not t["clean"]][:10],
        }

    def scenario_late_signals(self) -> dict[str, Any]:
        """SIGINT and SIGTERM after the last step: during the last evaluation, figures and loss curve."""
        rng = random.Random(f"{self.args.seed}-late")
        sigs = [signal.SIGINT, signal.SIGTERM]
        items = []
        for i in range(self.args.late):
            recipe = list(SIGNAL_RECIPES)[i % len(SIGNAL_RECIPES)]
            delay = rng.uniform(0, self.refs[recipe]["finish_s"])
            items.append(("late_signals", i, recipe, sigs[i % len(sigs)], delay, None, "last_step"))
        trials = self.pool_map(self.signal_trial, items, "late_signals")
        for t in trials:
            completed = t.get("outcome") == "completed_despite_signal" and t.get("rc") == 0
            stopped = t.get("exit_code_ok") and t.get("resume_command_printed") and t.get("outcome") == "exact"
            t["clean"] = bool((completed or stopped) and not t.get("traceback") and not t.get("unexpected_error"))
            # killed by the signal after `done:` was printed: while the interpreter shuts down (the run is
            # complete, but the exit status says the process was killed)
            t["killed_after_done"] = isinstance(t.get("rc"), int) and t["rc"] < 0 and bool(t.get("done_printed"))
        return {
            "scenario": "late_signals",
            "trials": len(trials),
            "clean": sum(1 for t in trials if t["clean"]),
            "completed_exit_0": sum(1 for t in trials if t.get("outcome") == "completed_despite_signal"),
            "stopped_resumable": sum(1 for t in trials if t.get("exit_code_ok") and t.get("resume_command_printed")),
            "killed_by_the_signal": sum(1 for t in trials if isinstance(t.get("rc"), int) and t["rc"] < 0),
            "killed_after_done_printed": sum(1 for t in trials if t["killed_after_done"]),
            "interrupted_without_resume_command": sum(
                1 for t in trials if t.get("rc") in (130, 143) and not t.get("resume_command_printed")
            ),
            "status_done_after_signal": sum(1 for t in trials if t.get("status_after_signal") == "done"),
            "tracebacks": sum(1 for t in trials if t.get("traceback")),
            "outcomes": dict(Counter(f"{t['signal']}:rc={t.get('rc')}:{t.get('outcome')}" for t in trials)),
            "problems": [t for t in trials if not t["clean"]][:10],
        }

    # -- concurrent resume ----------------------------------------------------------------------
    def concurrent_trial(self, index: int, recipe: str) -> dict[str, Any]:
        folder = self.work / "concurrent" / f"{index:03d}-{recipe}"
        logs = self.work / "logs" / "concurrent"
        trial: dict[str, Any] = {"trial": index, "recipe": recipe}
        proc = Proc(["run", recipe, "--out", str(folder), *self.sets(recipe)], logs / f"{index:03d}-run")
        wait_until(lambda: has_checkpoint(folder), proc, 120)
        proc.send(signal.SIGINT)
        trial["first_rc"] = proc.wait(120)
        run = run_dir_in(folder)
        if run is None or trial["first_rc"] != 130:
            return {**trial, "outcome": "setup_failed", "stderr": tail(proc.err)}
        a = Proc(["run", "--resume", str(run)], logs / f"{index:03d}-a")
        b = Proc(["run", "--resume", str(run)], logs / f"{index:03d}-b")
        rcs = [a.wait(180), b.wait(180)]
        errs = [a.err, b.err]
        refused = [i for i in (0, 1) if rcs[i] == 2 and "in use by another gentk process" in errs[i]]
        ran = [i for i in (0, 1) if rcs[i] == 0]
        history, torn = read_history(run)
        difference = compare(self.refs[recipe]["history"], history)
        trial.update(
            rcs=rcs,
            refused_message=first_error(errs[refused[0]]) if refused else None,
            holder_named=bool(refused) and bool(re.search(r"pid \d+ on host", errs[refused[0]])),
            duplicated_records=duplicates(history),
            torn_lines=torn,
            exact=difference is None,
            tracebacks=sum("Traceback" in e for e in errs),
        )
        if difference:
            trial["difference"] = difference
        if len(refused) == 1 and len(ran) == 1:
            trial["outcome"] = "one_refused"
        elif len(ran) == 2:
            trial["outcome"] = "both_ran"
        else:
            trial["outcome"] = "other"
            trial["stderr"] = [tail(e, 400) for e in errs]
        return trial

    def scenario_concurrent(self) -> dict[str, Any]:
        items = [(i, list(SIGNAL_RECIPES)[i % len(SIGNAL_RECIPES)]) for i in range(self.args.concurrent)]
        # one pair at a time: each pair is the concurrency under test
        jobs, self.args.jobs = self.args.jobs, 1
        try:
            trials = self.pool_map(self.concurrent_trial, items, "concurrent")
        finally:
            self.args.jobs = jobs
        outcomes = Counter(t.get("outcome") for t in trials)
        return {
            "scenario": "concurrent",
            "trials": len(trials),
            "one_refused": outcomes["one_refused"],
            "both_ran": outcomes["both_ran"],
            "other": outcomes["other"] + outcomes["setup_failed"] + outcomes["campaign_error"],
            "holder_named": sum(1 for t in trials if t.get("holder_named")),
            "exact_history": sum(1 for t in trials if t.get("exact")),
            "duplicated_records": sum(t.get("duplicated_records", 0) for t in trials),
            "tracebacks": sum(t.get("tracebacks", 0) for t in trials),
            "message": next((t["refused_message"] for t in trials if t.get("refused_message")), None),
            "problems": [
                t
                for t in trials
                if t.get("outcome") != "one_refused" or not t.get("exact") or t.get("duplicated_records")
            ][:10],
        }

    # -- disk full --------------------------------------------------------------------------------
    @staticmethod
    def fill(folder: Path, leave: int) -> int:
        """Fill the file system of `folder` with a file, then give back `leave` bytes; the free bytes left."""
        filler = folder / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            for chunk in (1 << 20, 1 << 16, 4096, 512, 1):
                block = b"\0" * chunk
                while True:
                    try:
                        os.write(fd, block)
                    except OSError as exc:
                        if exc.errno != errno.ENOSPC:
                            raise
                        break
        finally:
            os.close(fd)
        if leave:
            os.truncate(filler, max(0, filler.stat().st_size - leave))
        st = os.statvfs(folder)
        return st.f_bavail * st.f_frsize

    def scenario_disk_full(self) -> dict[str, Any]:
        mnt = self.work / "diskfull"
        mnt.mkdir()
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mnt)], capture_output=True, text=True
        )
        if mounted.returncode != 0:
            return self.disk_full_fallback(mounted.stderr.strip())
        try:
            # (name, fill after the checkpoint at this step, bytes left free); vae_toy checkpoints at steps
            # 100, 200, 300, 400 (440 KB each) and logs a ~230-byte metrics line every 20 steps
            variants: list[tuple[str, int, int | None]] = [
                ("full_at_start", 0, None),
                ("checkpoint_write_0_free", 100, 0),
                ("metrics_write_0_free", 300, 0),  # metrics.jsonl crosses its second 4 KB page at step ~320
                ("checkpoint_write_200k_free", 100, 200_000),
                ("figures_write_16k_free", 300, 16_384),  # the epoch-4 figures come before its checkpoint
                ("checkpoint_write_460k_free", 100, 460_000),
            ]
            if self.args.quick:
                variants = variants[:3]
            trials = [self.disk_full_trial(mnt, i, *variant) for i, variant in enumerate(variants)]
        finally:
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
        for t in trials:
            self.detail({"scenario": "disk_full", **t})
        ok = [t for t in trials if t.get("ok")]
        return {
            "scenario": "disk_full",
            "method": "a tmpfs of 8 MB filled by a file while the run is stopped (SIGSTOP) after a chosen checkpoint",
            "trials": len(trials),
            "all_checks_passed": len(ok),
            "says_disk_full": sum(1 for t in trials if t.get("says_disk_full")),
            "previous_checkpoint_loads": f"{sum(1 for t in trials if t.get('checkpoint_loads'))}/"
            f"{sum(1 for t in trials if 'checkpoint_loads' in t)}",
            "torn_metrics_lines": sum(t.get("torn_lines", 0) for t in trials),
            "tmp_files_after_resume": sum(t.get("tmp_files_after_resume", 0) for t in trials),
            "resumed": sum(1 for t in trials if t.get("resume_rc") == 0),
            "resumed_exact": sum(1 for t in trials if t.get("exact")),
            "tracebacks": sum(1 for t in trials if t.get("traceback")),
            "failed_writes": {t["variant"]: t.get("failed_write") for t in trials},
            "problems": [t for t in trials if not t.get("ok")],
        }

    def disk_full_trial(self, mnt: Path, index: int, variant: str, after: int, leave: int | None) -> dict[str, Any]:
        say(f"[disk_full] {variant}")
        for p in mnt.iterdir():
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink()
        recipe = "vae_toy"
        out = mnt / "runs"
        logs = self.work / "logs" / "disk_full"
        trial: dict[str, Any] = {"variant": variant}
        if leave is None:
            trial["free_bytes"] = self.fill(mnt, 0)
            res = run_gentk(["run", recipe, "--out", str(out), *self.sets(recipe)], logs / f"{index}-run")
            left = sorted(str(p.relative_to(mnt)) for p in out.rglob("*")) if out.exists() else []
            trial.update(
                rc=res["rc"],
                message=first_error(res["err"]),
                says_disk_full="disk full" in res["err"].lower(),
                clean_error=clean_error(res),
                traceback="Traceback" in res["err"],
                left_behind=left,
                zero_byte_files=[p for p in left if (mnt / p).is_file() and (mnt / p).stat().st_size == 0],
            )
            (mnt / "filler").unlink()
            trial["ok"] = bool(trial["clean_error"] and trial["says_disk_full"] and not trial["left_behind"])
            return trial
        proc = Proc(["run", recipe, "--out", str(out), *self.sets(recipe)], logs / f"{index}-run")
        # status.json is rewritten after every checkpoint: its `step` is then the checkpoint's
        wait_until(lambda: has_checkpoint(out) and read_status(run_dir_in(out)).get("step", -1) >= after, proc, 120)
        proc.send(signal.SIGSTOP)
        trial["filled_after_step"] = read_status(run_dir_in(out)).get("step")
        try:
            trial["free_bytes"] = self.fill(mnt, leave)
        finally:
            proc.send(signal.SIGCONT)
        rc = proc.wait(180)
        err = proc.err
        run = run_dir_in(out)
        m = re.search(r"while writing (\S+)", err)
        trial.update(
            rc=rc,
            message=first_error(err),
            says_disk_full="disk full" in err.lower(),
            clean_error=rc == 2 and "Traceback" not in err and "unexpected error" not in err,
            traceback="Traceback" in err,
            failed_write=Path(m.group(1)).name if m else None,
        )
        if run is None:
            trial["ok"] = False
            return trial
        trial["status"] = read_status(run).get("status")
        trial["tmp_files_after_failure"] = temporary_files(run)
        problem = checkpoint_ok(run / "checkpoint.pt")
        trial["checkpoint_loads"] = problem is None
        if problem:
            trial["checkpoint_problem"] = problem
        _, trial["torn_lines"] = read_history(run)
        (mnt / "filler").unlink()
        res = run_gentk(["run", "--resume", str(run)], logs / f"{index}-resume")
        trial["resume_rc"] = res["rc"]
        if res["rc"] != 0:
            trial["resume_error"] = first_error(res["err"])
        history, torn = read_history(run)
        difference = compare(self.refs[recipe]["history"], history)
        trial.update(
            tmp_files_after_resume=len(temporary_files(run)),
            exact=res["rc"] == 0 and difference is None,
            duplicated_records=duplicates(history),
        )
        if difference:
            trial["difference"] = difference
        if rc == 0:  # nothing failed: the run fit in the space left
            trial["ok"] = trial["exact"]
            trial["note"] = "the run fit in the space left; no write failed"
            return trial
        trial["ok"] = bool(
            trial["clean_error"]
            and trial["says_disk_full"]
            and trial["checkpoint_loads"]
            and not trial["torn_lines"]
            and trial["resume_rc"] == 0
            and not trial["tmp_files_after_resume"]
            and trial["exact"]
        )
        return trial

    def disk_full_fallback(self, why: str) -> dict[str, Any]:
        """No tmpfs: the project's own ENOSPC simulation (tests/core/test_rundir.py) as the evidence."""
        say(f"[disk_full] cannot mount a tmpfs ({why}); running the ENOSPC tests instead")
        res = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-rA", "tests/core/test_rundir.py", "-k", "disk_full"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env=ENV,
        )
        passed = re.findall(r"^PASSED (\S+)", res.stdout, re.M)
        failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", res.stdout, re.M)
        return {
            "scenario": "disk_full",
            "method": f"mounting a tmpfs is not permitted ({why}); the ENOSPC simulation of tests/core/test_rundir.py",
            "tests_passed": len(passed),
            "tests_failed": len(failed),
            "tests": passed + failed,
        }

    # -- read-only outputs ------------------------------------------------------------------------
    def scenario_read_only(self) -> dict[str, Any]:
        base = self.work / "readonly"
        base.mkdir()
        logs = self.work / "logs" / "read_only"
        recipe = "vae_toy"
        trials: list[dict[str, Any]] = []

        def sh(*cmd: str) -> subprocess.CompletedProcess:
            return subprocess.run(list(cmd), capture_output=True, text=True)

        def interrupted_run(folder: Path, name: str) -> Path | None:
            proc = Proc(["run", recipe, "--out", str(folder), *self.sets(recipe)], logs / f"{name}-prepare")
            wait_until(lambda: has_checkpoint(folder), proc, 120)
            proc.send(signal.SIGINT)
            proc.wait(120)
            return run_dir_in(folder)

        def finish(trial: dict[str, Any], res: dict[str, Any], run: Path | None) -> None:
            trial.update(
                rc=res["rc"],
                message=first_error(res["err"]),
                clean_error=clean_error(res),
                traceback="Traceback" in res["err"],
            )
            trial["ok"] = trial["clean_error"]
            if run is not None and trial.get("restored"):
                again = run_gentk(["run", "--resume", str(run)], logs / f"{trial['variant']}-resume")
                history, torn = read_history(run)
                trial["resume_rc"] = again["rc"]
                trial["exact_after_restore"] = (
                    again["rc"] == 0 and compare(self.refs[recipe]["history"], history) is None
                )
                trial["duplicated_records"] = duplicates(history)
                trial["ok"] = trial["ok"] and trial["exact_after_restore"] and not trial["duplicated_records"]

        probe = base / "probe"
        probe.mkdir()
        can_mount = sh("mount", "--bind", str(probe), str(probe)).returncode == 0
        if can_mount:
            can_mount = sh("mount", "-o", "remount,ro,bind", str(probe)).returncode == 0
            sh("umount", str(probe))
        chattr_file = base / "chattr-probe"
        chattr_file.touch()
        can_chattr = shutil.which("chattr") is not None and sh("chattr", "+i", str(chattr_file)).returncode == 0
        if can_chattr:
            sh("chattr", "-i", str(chattr_file))
        obj: dict[str, Any] = {
            "scenario": "read_only",
            "bind_mount_permitted": can_mount,
            "chattr_permitted": can_chattr,
        }

        if can_mount:
            # 1. a new run into a read-only folder
            folder = base / "ro-out"
            folder.mkdir()
            sh("mount", "--bind", str(folder), str(folder))
            sh("mount", "-o", "remount,ro,bind", str(folder))
            say("[read_only] new run into a read-only mount")
            try:
                res = run_gentk(["run", recipe, "--out", str(folder / "runs"), *self.sets(recipe)], logs / "ro-new")
            finally:
                sh("umount", str(folder))
            trial = {"variant": "new_run_into_read_only_mount"}
            finish(trial, res, None)
            trials.append(trial)
            # 2. resume a run whose folder is read-only, then again once it is writable
            folder = base / "ro-resume"
            run = interrupted_run(folder, "ro-resume")
            if run is not None:
                say("[read_only] resume in a read-only mount")
                sh("mount", "--bind", str(folder), str(folder))
                sh("mount", "-o", "remount,ro,bind", str(folder))
                try:
                    res = run_gentk(["run", "--resume", str(run)], logs / "ro-resume")
                finally:
                    sh("umount", str(folder))
                trial = {"variant": "resume_in_read_only_mount", "restored": True}
                finish(trial, res, run)
                trials.append(trial)
            # 3. the output folder becomes read-only in the middle of training: a read-only bind mount laid over
            # it while the run is stopped (remounting the folder's own mount read-only is refused while the
            # run holds files open for writing on it; the new mount has no writers)
            folder = base / "ro-mid"
            folder.mkdir()
            say("[read_only] output made read-only mid-run")
            proc = Proc(["run", recipe, "--out", str(folder), *self.sets(recipe)], logs / "ro-mid")
            wait_until(lambda: has_checkpoint(folder), proc, 120, poll=0.001)
            proc.send(signal.SIGSTOP)
            laid = sh("mount", "--bind", str(folder), str(folder)).returncode == 0
            laid = laid and sh("mount", "-o", "remount,ro,bind", str(folder)).returncode == 0
            proc.send(signal.SIGCONT)
            proc.wait(180)
            res = {"rc": proc.p.returncode, "out": proc.out, "err": proc.err}
            sh("umount", str(folder))
            run = run_dir_in(folder)
            trial = {"variant": "read_only_mid_run", "restored": True, "read_only_mount_laid": laid}
            finish(trial, res, run)
            trials.append(trial)
        if can_chattr:
            # 4. a new run into an immutable folder
            folder = base / "immutable-out"
            folder.mkdir()
            sh("chattr", "+i", str(folder))
            say("[read_only] new run into an immutable folder")
            try:
                res = run_gentk(["run", recipe, "--out", str(folder), *self.sets(recipe)], logs / "imm-new")
            finally:
                sh("chattr", "-i", str(folder))
            trial = {"variant": "new_run_into_immutable_folder"}
            finish(trial, res, None)
            trials.append(trial)
            # 5. resume a run whose directory is immutable
            folder = base / "immutable-resume"
            run = interrupted_run(folder, "imm-resume")
            if run is not None:
                say("[read_only] resume an immutable run directory")
                sh("chattr", "+i", str(run))
                try:
                    res = run_gentk(["run", "--resume", str(run)], logs / "imm-resume")
                finally:
                    sh("chattr", "-i", str(run))
                trial = {"variant": "resume_immutable_run_directory", "restored": True}
                finish(trial, res, run)
                trials.append(trial)
            # 6. metrics.jsonl made immutable in the middle of training
            folder = base / "immutable-metrics"
            say("[read_only] metrics.jsonl made immutable mid-run")
            proc = Proc(["run", recipe, "--out", str(folder), *self.sets(recipe)], logs / "imm-metrics")
            wait_until(lambda: has_checkpoint(folder), proc, 120, poll=0.001)
            run = run_dir_in(folder)
            proc.send(signal.SIGSTOP)
            if run is not None:
                sh("chattr", "+i", str(run / "metrics.jsonl"))
            proc.send(signal.SIGCONT)
            proc.wait(180)
            res = {"rc": proc.p.returncode, "out": proc.out, "err": proc.err}
            if run is not None:
                sh("chattr", "-i", str(run / "metrics.jsonl"))
            trial = {"variant": "metrics_immutable_mid_run", "restored": True}
            finish(trial, res, run)
            trials.append(trial)
        for t in trials:
            self.detail({"scenario": "read_only", **t})
        obj.update(
            trials=len(trials),
            clear_error=sum(1 for t in trials if t.get("clean_error")),
            tracebacks=sum(1 for t in trials if t.get("traceback")),
            resumed_exactly_once_writable=sum(1 for t in trials if t.get("exact_after_restore")),
            restorable=sum(1 for t in trials if t.get("restored")),
            messages={t["variant"]: t.get("message") for t in trials},
            problems=[t for t in trials if not t.get("ok")],
        )
        if not trials:
            obj["note"] = "neither a read-only bind mount nor chattr +i is permitted here"
        return obj

    # -- image folders ----------------------------------------------------------------------------
    def image_variants(self, base: Path) -> list[dict[str, Any]]:
        """Broken (and some valid but unusual) image folders: name, path, what should happen."""
        import numpy as np
        from PIL import Image

        rs = np.random.RandomState(0)

        def png(path: Path, size: int = 8, mode: str = "L") -> Path:
            path.parent.mkdir(parents=True, exist_ok=True)
            pixels = rs.randint(0, 256, (size, size, 3), dtype=np.uint8)
            if mode == "I;16":
                Image.fromarray(pixels[..., 0].astype(np.uint16) * 257).save(path)
            else:
                Image.fromarray(pixels, "RGB").convert(mode).save(path)
            return path

        def classes(root: Path, names=("a", "b"), n: int = 6, size: int = 8) -> Path:
            for c in names:
                for i in range(n):
                    png(root / c / f"{i}.png", size)
            return root

        def forged(path: Path, width: int, height: int) -> None:
            """A valid PNG whose header claims width×height (the CRC fixed, so only the size is wrong)."""
            buffer = io.BytesIO()
            Image.fromarray(rs.randint(0, 256, (8, 8), dtype=np.uint8), "L").save(buffer, "PNG")
            data = bytearray(buffer.getvalue())
            ihdr = data[12:29]  # b"IHDR" + 13 bytes
            ihdr[4:12] = struct.pack(">II", width, height)
            data[12:29] = ihdr
            data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)) & 0xFFFFFFFF)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(bytes(data))

        outside = base / "outside"
        png(outside / "elsewhere.png")
        v: list[dict[str, Any]] = []

        def add(name: str, root: Path, expect: str, **extra: Any) -> None:
            v.append({"variant": name, "path": root, "expect": expect, **extra})

        d = base / "empty"
        d.mkdir(parents=True)
        add("empty_folder", d, "error")
        d = base / "no_class_folders"
        for i in range(6):
            png(d / f"{i}.png")
        add("no_class_folders", d, "error")
        d = base / "class_folder_without_images"
        (d / "a").mkdir(parents=True)
        (d / "b").mkdir()
        (d / "b" / "readme.txt").write_text("no images here")
        add("class_folders_without_images", d, "error")
        d = classes(base / "corrupt_png")
        (d / "a" / "bad.png").write_bytes(rs.bytes(300))
        add("corrupt_png", d, "error")
        d = classes(base / "truncated_png")
        good = png(base / "scratch" / "big.png", 64).read_bytes()
        (d / "a" / "truncated.png").write_bytes(good[: len(good) // 2])
        add("truncated_png", d, "error")
        d = classes(base / "zero_byte_png")
        (d / "a" / "empty.png").write_bytes(b"")
        add("zero_byte_png", d, "error")
        d = classes(base / "text_as_png")
        (d / "b" / "notes.png").write_text("this is not an image\n" * 20)
        add("non_image_with_png_suffix", d, "error")
        d = base / "mixed_sizes"
        classes(d, ("a",), size=8)
        classes(d, ("b",), size=12)
        add("mixed_sizes_without_size", d, "error")
        add("mixed_sizes_with_size", d, "runs", sets=["data.size=8"])
        d = base / "mixed_modes"
        for i, mode in enumerate(["L", "RGB", "RGBA", "P", "1", "I;16", "LA", "CMYK"]):
            png(d / ("a" if i % 2 else "b") / f"{i}.{'jpg' if mode == 'CMYK' else 'png'}", mode=mode)
        classes(d, ("a", "b"), n=2)
        add("mixed_modes", d, "runs")
        d = classes(base / "forged_header_100000")
        forged(d / "a" / "bomb.png", 100_000, 100_000)
        add("forged_header_100000x100000", d, "error")
        d = classes(base / "forged_header_9000")
        forged(d / "b" / "bomb.png", 9000, 9000)
        add("forged_header_9000x9000", d, "error")
        d = classes(base / "symlink_to_root")
        (d / "loop").symlink_to(d)
        add("symlink_to_root", d, "runs", classes=2)
        d = classes(base / "symlink_class_to_slash")
        (d / "c").symlink_to("/")
        add("symlink_class_folder_to_slash", d, "error")
        d = classes(base / "symlinked_image_from_outside")
        (d / "a" / "outside.png").symlink_to(outside / "elsewhere.png")
        add("symlinked_image_from_outside", d, "error")
        d = classes(base / "symlink_to_sibling")
        (d / "c").symlink_to(d / "a")
        add("symlink_class_folder_to_sibling", d, "runs", classes=2)
        d = classes(base / "dangling_symlink")
        (d / "a" / "gone.png").symlink_to(d / "a" / "missing.png")
        add("dangling_symlinked_image", d, "either")
        d = classes(base / "symlink_loop")
        (d / "a" / "l1.png").symlink_to(d / "a" / "l2.png")
        (d / "a" / "l2.png").symlink_to(d / "a" / "l1.png")
        add("symlink_loop_image", d, "either")
        d = classes(base / "unreadable")
        bad = d / "a" / "secret.png"
        png(bad)
        bad.chmod(0)
        add(
            "unreadable_file",
            d,
            "error",
            skip="running as root: permissions do not stop reads" if os.geteuid() == 0 else None,
        )
        d = classes(base / "directory_named_png")
        (d / "a" / "x.png").mkdir()
        png(d / "a" / "x.png" / "inner.png")
        add("directory_named_x_png", d, "runs")
        d = classes(base / "fifo_named_png")
        os.mkfifo(d / "a" / "pipe.png")
        add("fifo_named_png", d, "either")
        d = base / "many_classes"
        for i in range(self.args.image_classes):
            png(d / f"class{i:05d}" / "0.png")
        add(f"{self.args.image_classes}_classes", d, "runs", classes=self.args.image_classes)
        d = classes(base / "unicode_names", ("κατηγορία", "猫", "emoji 🐱"))
        png(d / "猫" / "ünïcödé.png")
        add("unicode_names", d, "runs", classes=3)
        d = classes(base / "with spaces" / "my data", ("class one", "class two"))
        png(d / "class one" / "an image.png")
        add("spaces_in_names", d, "runs", classes=2)
        d = base / "nested"
        for c in ("a", "b"):
            for i in range(4):
                png(d / c / "x" / "y" / f"{i}.png")
            png(d / c / "top.png")
        add("nested_subfolders", d, "runs", classes=2)
        d = classes(base / "uppercase_suffix")
        png(d / "a" / "UPPER.PNG")
        add("uppercase_suffix", d, "runs")
        d = classes(base / "truncated_jpeg")
        buffer = io.BytesIO()
        Image.fromarray(rs.randint(0, 256, (64, 64), dtype=np.uint8), "L").save(buffer, "JPEG")
        (d / "a" / "cut.jpg").write_bytes(buffer.getvalue()[:300])
        add("truncated_jpeg", d, "error")
        d = base / "single_image"
        png(d / "a" / "0.png")
        add("single_image", d, "error")
        d = base / "hidden_only"
        classes(d, (".hidden",))
        add("hidden_class_folder_only", d, "error")
        add("path_is_a_file", outside / "elsewhere.png", "error")
        add("path_missing", base / "does-not-exist", "error")
        link = base / "link_to_folder"
        link.symlink_to(classes(base / "link_target"))
        add("data_path_is_a_symlink", link, "runs", classes=2)
        return v

    def image_sets(self, variant: dict[str, Any]) -> list[str]:
        sets = [
            "data.use=image_folder",
            f"data.path={json.dumps(str(variant['path']))}",
            "data.binarize=true",
            "run.steps_per_epoch=1",
            "run.epochs=1",
            "run.batch_size=4",
            "metrics=[]",
            "run.n_samples=0",
            "run.threads=1",
            *variant.get("sets", []),
        ]
        return [a for s in sets for a in ("--set", s)]

    def image_trial(self, index: int, variant: dict[str, Any]) -> dict[str, Any]:
        name = variant["variant"]
        trial: dict[str, Any] = {"variant": name, "expect": variant["expect"]}
        if variant.get("skip"):
            return {**trial, "outcome": "skipped", "why": variant["skip"]}
        folder = self.work / "image_runs" / f"{index:02d}"
        res = run_gentk(
            ["run", "vae_mnist_bernoulli", "--out", str(folder), "--quiet", *self.image_sets(variant)],
            self.work / "logs" / "image_folders" / f"{index:02d}",
            timeout=self.args.image_timeout,
        )
        trial.update(rc=res["rc"], hung=res["timed_out"], seconds=round(res["seconds"], 1))
        if res["rc"] == 0:
            trial["outcome"] = "ran"
            run = run_dir_in(folder)
            if run is not None:
                info = json.loads((run / "data.json").read_text())
                trial["classes"] = info.get("num_classes")
                trial["shape"] = info.get("shape")
        elif clean_error(res):
            trial["outcome"] = "component_error" if COMPONENT_ERROR.search(res["err"]) else "clear_error"
            trial["message"] = first_error(res["err"])
        else:
            trial["outcome"] = "hung" if res["timed_out"] else "unexpected"
            trial["stderr"] = tail(res["err"])
        return trial

    def scenario_image_folders(self) -> dict[str, Any]:
        base = self.work / "images"
        variants = self.image_variants(base)
        checks = {}
        for variant in variants:  # `gentk check` in process: the path's existence is all it can see
            rc, text, seconds, crash = check_in_process(["check", "vae_mnist_bernoulli", *self.image_sets(variant)])
            checks[variant["variant"]] = {"rc": rc, "crash": crash, "text": text}
        trials = self.pool_map(self.image_trial, list(enumerate(variants)), "image_folders")
        for trial in trials:
            check = checks[trial["variant"]]
            trial["check"] = "ok" if check["rc"] == 0 else "refused" if check["rc"] == 2 else "unexpected"
            if trial["check"] == "refused":
                trial["check_message"] = first_error(check["text"])
            if check["crash"] or "unexpected error" in check["text"] or "Traceback" in check["text"]:
                trial["check"] = "unexpected"
            expect = trial["expect"]
            outcome = trial["outcome"]
            fine = outcome in ("ran", "clear_error", "skipped") and trial["check"] != "unexpected"
            if expect == "error":
                fine = fine and outcome in ("clear_error", "skipped")
            elif expect == "runs":
                fine = fine and outcome == "ran"
                wanted = next(v.get("classes") for v in variants if v["variant"] == trial["variant"])
                if wanted is not None and trial.get("classes") != wanted:
                    fine = False
                    trial["note"] = f"{trial.get('classes')} classes, expected {wanted}"
            trial["as_expected"] = fine
        outcomes = Counter(t["outcome"] for t in trials)
        return {
            "scenario": "image_folders",
            "variants": len(trials),
            "clear_error": outcomes["clear_error"],
            "ran": outcomes["ran"],
            "unexpected": outcomes["unexpected"] + outcomes["hung"] + outcomes["component_error"],
            "component_errors": outcomes["component_error"],
            "skipped": outcomes["skipped"],
            "check_refused": sum(1 for t in trials if t["check"] == "refused"),
            "check_unexpected": sum(1 for t in trials if t["check"] == "unexpected"),
            "as_expected": sum(1 for t in trials if t["as_expected"]),
            "results": {
                t["variant"]: (t["outcome"] + (f" ({t['classes']} classes)" if "classes" in t else ""))
                + ("" if t["as_expected"] else " [NOT AS EXPECTED]")
                for t in trials
            },
            "messages": {
                t["variant"]: t.get("message") or t.get("check_message") for t in trials if t["outcome"] != "ran"
            },
            "problems": [t for t in trials if not t["as_expected"]],
        }

    # -- mutated recipes --------------------------------------------------------------------------
    def scenario_mutations(self) -> dict[str, Any]:
        from gentk.catalog import recipes
        from gentk.fuzz import leaves, mutate, names_by_kind
        from gentk.recipe import load_recipe, to_data

        rng = random.Random(f"{self.args.seed}-mutations")
        components = names_by_kind()
        bundled = [(e.name, e.path()) for e in recipes() if e.plugin == "gentk"]
        folder = self.work / "mutations"
        folder.mkdir()
        per_recipe = max(1, math.ceil(self.args.mutations / len(bundled)))
        n_sets = max(1, per_recipe // 10)  # of each recipe's mutations, this many are --set values
        rows: list[dict[str, Any]] = []
        accepted_toy: list[dict[str, Any]] = []
        unserializable = 0
        started = time.monotonic()

        def check(name: str, file: Path, sets: list[str], what: str, toy: bool) -> dict[str, Any]:
            args = ["check", str(file)] + [a for s in sets for a in ("--set", s)]
            rc, text, seconds, crash = check_in_process(args, timeout=self.args.check_timeout)
            if crash:
                verdict = "hang" if crash == "timeout" else "traceback"
            elif "Traceback" in text:
                verdict = "traceback"
            elif "unexpected error" in text or rc not in (0, 2):
                verdict = "unexpected"
            elif rc == 0:
                verdict = "accepted"
            else:
                verdict = "refused" if "error:" in text else "unexpected"
            row = {"recipe": name, "what": what, "verdict": verdict, "seconds": round(seconds, 2), "toy": toy}
            if verdict not in ("accepted", "refused"):
                row["output"] = tail(text if not crash or crash == "timeout" else crash, 500)
            if seconds > self.args.slow_check:
                row["slow"] = True
            return row

        def mutate_one(name: str, full: dict[str, Any], i: int, toy: bool) -> None:
            nonlocal unserializable
            import tomli_w

            data, what = mutate(full, rng, components)
            file = folder / f"{name}-{i:03d}.toml"
            try:
                file.write_text(tomli_w.dumps(data))
            except (TypeError, ValueError, RecursionError):
                unserializable += 1
                return
            row = check(name, file, [], what, toy)
            rows.append(row)
            if row["verdict"] == "accepted" and toy:
                accepted_toy.append({"recipe": name, "file": file, "what": what})

        fulls = {}
        for name, path in bundled:
            full = to_data(load_recipe(path))
            fulls[name] = full
            toy = isinstance(full.get("data"), dict) and full["data"].get("use") == "toy2d"
            keys = [".".join(map(str, p)) for p, _ in leaves(full)]
            for i in range(per_recipe - n_sets):
                mutate_one(name, full, i, toy)
            for _ in range(n_sets):  # hostile --set values on the bundled recipe
                item = f"{rng.choice(keys)}={rng.choice(SET_TEXTS)}"
                rows.append({**check(name, path, [item], f"--set {item[:80]}", False), "kind": "set"})
            say(f"[mutations] {name}: {len(rows)} checked, {time.monotonic() - started:.0f}s")
        checked = len(rows)
        # top up the toy2d sample with further mutations of toy2d recipes until it is large enough
        toys = [n for n, f in fulls.items() if isinstance(f.get("data"), dict) and f["data"].get("use") == "toy2d"]
        topped_up = 0
        while len(accepted_toy) < self.args.run_sample and topped_up < 20 * self.args.run_sample:
            name = toys[topped_up % len(toys)]
            mutate_one(name, fulls[name], 1000 + topped_up, True)
            topped_up += 1
        main_rows, extra_rows = rows[:checked], rows[checked:]
        # the sample: round-robin over the toy2d recipes, so that each of them is trained
        by_recipe: dict[str, list[dict[str, Any]]] = {}
        for item in accepted_toy:
            by_recipe.setdefault(item["recipe"], []).append(item)
        sample: list[dict[str, Any]] = []
        while len(sample) < min(self.args.run_sample, len(accepted_toy)):
            for items in by_recipe.values():
                if items and len(sample) < self.args.run_sample:
                    sample.append(items.pop(0))
        say(f"[mutations] checks done in {time.monotonic() - started:.0f}s; running {len(sample)} accepted toy2d ones")
        runs = self.pool_map(self.mutation_run, list(enumerate(sample)), "mutation_runs")
        verdicts = Counter(r["verdict"] for r in main_rows)
        run_outcomes = Counter(r["outcome"] for r in runs)
        refused_at_run = Counter(r.get("message", "")[:160] for r in runs if r["outcome"] == "clear_error")
        for row in rows:
            if row["verdict"] not in ("accepted", "refused") or row.get("slow"):
                self.detail({"scenario": "mutations", **row})
        return {
            "scenario": "mutations",
            "mutated_recipes": sum(1 for r in main_rows if r.get("kind") != "set"),
            "hostile_set_values": sum(1 for r in main_rows if r.get("kind") == "set"),
            "checked": len(main_rows),
            "refused": verdicts["refused"],
            "accepted": verdicts["accepted"],
            "unexpected_error": verdicts["unexpected"],
            "traceback": verdicts["traceback"],
            "hang": verdicts["hang"],
            "slow_checks": sum(1 for r in rows if r.get("slow")),
            "unserializable_skipped": unserializable,
            "toy2d_top_up": {
                "checked": len(extra_rows),
                "accepted": sum(1 for r in extra_rows if r["verdict"] == "accepted"),
                "unexpected": sum(1 for r in extra_rows if r["verdict"] not in ("accepted", "refused")),
            },
            "runs": len(runs),
            "runs_by_recipe": dict(Counter(r["recipe"] for r in sample)),
            "run_ok": run_outcomes["ok"],
            "run_clear_error": run_outcomes["clear_error"],
            "run_component_error": run_outcomes["component_error"],
            "run_unexpected_or_traceback": run_outcomes["unexpected"],
            "run_nonfinite_exit_0": run_outcomes["nonfinite"],
            "run_hung": run_outcomes["hung"],
            "refused_only_at_run_time": dict(refused_at_run.most_common(12)),
            "problems": [r for r in rows if r["verdict"] not in ("accepted", "refused")][:15]
            + [r for r in runs if r["outcome"] not in ("ok", "clear_error")][:15],
        }

    def mutation_run(self, index: int, item: dict[str, Any]) -> dict[str, Any]:
        folder = self.work / "mutation_runs" / f"{index:03d}"
        sets = ["run.steps_per_epoch=2", "run.epochs=1"]
        res = run_gentk(
            ["run", str(item["file"]), "--out", str(folder), "--quiet", *[a for s in sets for a in ("--set", s)]],
            self.work / "logs" / "mutation_runs" / f"{index:03d}",
            timeout=self.args.run_timeout,
        )
        row: dict[str, Any] = {
            "recipe": item["recipe"],
            "what": item["what"],
            "rc": res["rc"],
            "seconds": round(res["seconds"], 1),
        }
        text = res["out"] + res["err"]
        if res["timed_out"]:
            row["outcome"] = "hung"
        elif res["rc"] == 0:
            run = run_dir_in(folder)
            bad = nonfinite_figures(run) if run is not None else ["no run directory"]
            problem = checkpoint_ok(run / "checkpoint.pt") if run is not None else "no run directory"
            if problem and problem.startswith("non-finite"):
                bad.append(problem)
            row["outcome"] = "nonfinite" if bad else "ok"
            if bad:
                row["nonfinite"] = bad[:5]
        elif clean_error(res):
            row["outcome"] = "component_error" if COMPONENT_ERROR.search(res["err"]) else "clear_error"
            row["message"] = first_error(res["err"])
        else:
            row["outcome"] = "unexpected"
            row["stderr"] = tail(text)
        return row


# -- recipe mutations (gentk.fuzz) ----------------------------------------------------------------
# fmt: off
SET_TEXTS = ["1e999", "-1", "[", "{use=3}", '""', "nan", "inf", "-inf", "{", "a=b", "0x10", "1_000", "2024-01-01",
             "[1, [2]]", "{a={b=1}}", "true", "10000000000000000000000000", "0.5", "[0.9]", "x" * 500, "[]", "{}",
             "0", "1e-300", "-0.0", "'meta'", "{use='sgd'}", "[" * 200 + "]" * 200]
# fmt: on


class _CheckTimeout(BaseException):  # not an Exception: main's `except Exception` must not catch it
    pass


def check_in_process(args: list[str], timeout: float = 60.0) -> tuple[int | None, str, float, str | None]:
    """`gentk <args>` through gentk.cli.main in this process: (exit code, output, seconds, crash), where
    crash is the traceback of an exception that escaped main, or "timeout"."""
    from gentk.cli import main

    out = io.StringIO()
    crash = None
    rc: int | None = None

    def alarm(signum: int, frame: Any) -> None:
        raise _CheckTimeout

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    started = time.perf_counter()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            try:
                main(list(args))
                rc = 0
            except SystemExit as exc:
                rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except _CheckTimeout:
                crash = "timeout"
            except Exception:  # noqa: BLE001  (what the campaign looks for)
                crash = traceback.format_exc()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return rc, out.getvalue(), time.perf_counter() - started, crash


# -- summary ------------------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "gentk", "plugins"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    try:
        import torch

        torch_version = torch.__version__
    except ImportError:
        torch_version = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load_average_at_start": os.getloadavg()[0],
        "python": platform.python_version(),
        "torch": torch_version,
        "commit": commit + (" (gentk or plugins modified)" if dirty else ""),
        "root": os.geteuid() == 0,
    }


def after_figures(results: dict[str, dict[str, Any]]) -> dict[str, str]:
    """The campaign's figures, worded as the earlier figures in BEFORE."""
    out: dict[str, str] = {}
    r = results.get("sigkill")
    if r:
        out["sigkill"] = (
            f"{r['exact']}/{r['during_training']} SIGKILLs during training resumed to exactly the same losses "
            f"({r['diverged']} diverged, {r['failed_to_resume']} failed to resume; {r['trials']} SIGKILLs in all)"
        )
    for name, code in (("sigint", 130), ("sigterm", 143)):
        r = results.get(name)
        if r:
            out[name] = (
                f"{r['exact']}/{r['during_training']} resumed runs after {r['signal']} matched the uninterrupted run "
                f"exactly ({r['diverged']} diverged, {r['failed_to_resume']} failed to resume); exit {code} in "
                f"{r['exit_code_ok']}/{r['during_training']}, resume command printed in "
                f"{r['resume_command_printed']}/{r['during_training']}, {r['tracebacks']} tracebacks"
            )
    r = results.get("double_sigint")
    if r:
        out["double_sigint"] = (
            f"{r['exact']}/{r['during_training']} double Ctrl-Cs saved their progress and resumed exactly; resume "
            f"command printed in {r['resume_command_printed']}/{r['during_training']}, 'please wait' in "
            f"{r['please_wait_printed']}, {r['tracebacks']} raw tracebacks"
        )
    r = results.get("startup")
    if r:
        out["startup"] = (
            f"{r['clean']}/{r['trials']} signals before the first step handled cleanly; "
            f"{r['duplicated_records']} duplicated records"
        )
    r = results.get("late_signals")
    if r:
        out["late_signals"] = (
            f"{r['clean']}/{r['trials']} signals after the last step handled cleanly "
            f"({r['completed_exit_0']} completed with exit 0, {r['stopped_resumable']} stopped resumably, "
            f"{r['killed_by_the_signal']} killed by the signal ({r['killed_after_done_printed']} of them after "
            f"`done:` was printed), {r['interrupted_without_resume_command']} "
            "'interrupted' without a resume command)"
        )
    r = results.get("concurrent")
    if r:
        out["concurrent"] = (
            f"{r['one_refused']}/{r['trials']} concurrent --resume pairs: exactly one refused "
            f"({r['holder_named']} naming the holder); {r['duplicated_records']} duplicated records, "
            f"{r['exact_history']}/{r['trials']} histories exact"
        )
    r = results.get("disk_full")
    if r and "trials" in r:
        out["disk_full"] = (
            f"{r['all_checks_passed']}/{r['trials']} disk-full runs passed every check: 'disk full' said in "
            f"{r['says_disk_full']}, previous checkpoint loads in {r['previous_checkpoint_loads']}, "
            f"{r['torn_metrics_lines']} torn metrics lines, {r['tmp_files_after_resume']} temporary files after "
            f"resume, {r['resumed_exact']} resumed exactly once space was freed"
        )
    elif r:
        out["disk_full"] = f"not mounted; {r['tests_passed']} ENOSPC tests passed, {r['tests_failed']} failed"
    r = results.get("read_only")
    if r:
        out["read_only"] = (
            f"{r['clear_error']}/{r['trials']} read-only outputs gave a clear error, {r['tracebacks']} tracebacks; "
            f"{r['resumed_exactly_once_writable']}/{r['restorable']} resumed exactly once writable"
        )
    r = results.get("image_folders")
    if r:
        out["image_folders"] = (
            f"{r['variants']} broken or unusual image folders: {r['clear_error']} clear errors, {r['ran']} ran, "
            f"{r['unexpected']} unexpected, {r['skipped']} skipped; {r['as_expected']}/{r['variants']} as expected"
        )
    r = results.get("mutations")
    if r:
        out["mutations"] = (
            f"{r['unexpected_error'] + r['traceback'] + r['hang']} of {r['checked']} mutated recipes gave an "
            f"unexpected error, traceback or hang in check ({r['refused']} refused, {r['accepted']} accepted); "
            f"{r['run_unexpected_or_traceback'] + r['run_nonfinite_exit_0'] + r['run_hung']} of {r['runs']} accepted "
            f"toy2d ones failed at run time with an unexpected error, a traceback, a hang or non-finite output "
            f"({r['run_component_error']} component errors, {r['run_clear_error']} refused at run time)"
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a few trials of each scenario (a smoke run)")
    parser.add_argument("--only", help="comma-separated scenarios: " + ", ".join(SCENARIOS))
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--jobs", type=int, default=2, help="trials run side by side")
    counts = {  # flag: (full campaign, --quick)
        "kills": (60, 6, "SIGKILLs during training"),
        "ints": (10, 3, "Ctrl-Cs during training"),
        "double_ints": (13, 4, "double Ctrl-Cs"),
        "terms": (10, 3, "SIGTERMs during training"),
        "startup": (9, 3, "signals before the first step"),
        "late": (6, 2, "signals after the last step"),
        "concurrent": (6, 2, "pairs of concurrent resumes"),
        "mutations": (1232, 150, "mutated recipes through check (a tenth of them hostile --set values)"),
        "run_sample": (110, 10, "accepted toy2d mutations trained 2 steps"),
        "image_classes": (3000, 300, "classes of the many-classes image folder"),
    }
    for name, (full, quick, doc) in counts.items():
        flag = "--" + name.replace("_", "-")
        parser.add_argument(flag, type=int, default=None, help=f"{doc} (default {full}; --quick: {quick})")
    parser.add_argument("--check-timeout", type=float, default=60.0)
    parser.add_argument("--slow-check", type=float, default=5.0, help="a check slower than this is reported")
    parser.add_argument("--run-timeout", type=float, default=180.0)
    parser.add_argument("--image-timeout", type=float, default=180.0)
    parser.add_argument("--details", help="write every trial to this JSON-lines file")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (runs and logs)")
    args = parser.parse_args()
    for name, (full, quick, _doc) in counts.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    chosen = SCENARIOS if not args.only else [s.strip() for s in args.only.split(",")]
    unknown = sorted(set(chosen) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    campaign = Campaign(args)
    info = machine()
    say(f"gentk fault campaign: work folder {campaign.work}; {info['cpu']}, {info['cores']} cores")
    started = time.monotonic()
    durations: dict[str, float] = {}
    needs_reference = set(SCENARIOS) - {"reference", "image_folders", "mutations"}
    try:
        if set(chosen) & needs_reference or "reference" in chosen:
            t = time.monotonic()
            campaign.results["reference"] = campaign.reference()
            durations["reference"] = time.monotonic() - t
            emit(campaign.results["reference"])
        for scenario in chosen:
            if scenario == "reference":
                continue
            t = time.monotonic()
            say(f"== {scenario}")
            if scenario in ("sigkill", "sigint", "double_sigint", "sigterm"):
                result = campaign.scenario_signals(scenario)
            else:
                result = getattr(campaign, f"scenario_{scenario}")()
            durations[scenario] = time.monotonic() - t
            result["seconds"] = round(durations[scenario], 1)
            campaign.results[scenario] = result
            emit(result)
    finally:
        if campaign.details is not None:
            campaign.details.close()
        if args.keep:
            say(f"kept {campaign.work}")
        else:
            shutil.rmtree(campaign.work, ignore_errors=True)
    end_commit = machine()["commit"]
    if end_commit != info["commit"]:
        info["commit_at_end"] = end_commit  # the code changed while the campaign ran
    emit(
        {
            "scenario": "summary",
            "command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
            "machine": info,
            "wall_s": round(time.monotonic() - started, 1),
            "seconds_by_scenario": {k: round(v, 1) for k, v in durations.items()},
            "before": {k: BEFORE[k] for k in chosen if k in BEFORE},
            "after": after_figures(campaign.results),
        }
    )


if __name__ == "__main__":
    main()
