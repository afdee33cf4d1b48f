"""Per-step overhead of a local pipeline run, side by side.

A pipeline of six trivial steps (each adds one to an integer) runs
  * as plain function calls (the floor),
  * through `iml4e run` (`iml4e.local.pipeline_runner.run_pipeline`: kfp.local, no installs, tasks
    forked from a preloaded interpreter),
  * through `iml4e run` with preloading switched off (`IML4E_RUNNER_PRELOADED=0`: one fresh
    `python -m kfp.dsl.executor_main` per task, kfp.local's own subprocess path),
  * through `kfp.local` with its defaults (`SubprocessRunner()`: a new virtualenv per task, and
    `@dsl.component` defaults: `pip install kfp` at the start of each task).
Overhead per step = (median wall time of the run - direct calls) / steps, measured in one warm
Python process (kfp already imported; the first repetition, which pays the imports, is kept in the
JSON but the median leaves it out). The start-up of a fresh `iml4e` command (interpreter and imports)
is not in these figures. The task server is stopped before every `iml4e run` repetition, so its
start-up is counted each time, as it is for a fresh `iml4e run` command. The kfp.local defaults run
once: each of its tasks creates a virtualenv and pip-installs from PyPI (minutes per run). Results go to stdout and `benchmarks/results/pipeline_overhead.json`.

No `from __future__ import annotations` here: KFP reads the component annotations.

Run: `python benchmarks/pipeline_overhead.py [--repeat N] [--skip-kfp-defaults]` (part of `make bench`).
"""

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kfp import dsl

from iml4e_components.kfp_component import iml4e_component

STEPS = 6
RESULTS = Path(__file__).resolve().parent / "results" / "pipeline_overhead.json"


@iml4e_component
def add_one(x: int) -> int:
    return x + 1


@dsl.component(base_image="python:3.11")  # everything else as KFP defaults: installs kfp per task
def add_one_with_kfp_defaults(x: int) -> int:
    return x + 1


@dsl.pipeline(name="six-steps-iml4e")
def six_steps_iml4e(x: int = 0) -> int:
    value = add_one(x=x).output
    for _ in range(STEPS - 1):
        value = add_one(x=value).output
    return value  # type: ignore[no-any-return]


@dsl.pipeline(name="six-steps-kfp-defaults")
def six_steps_kfp_defaults(x: int = 0) -> int:
    value = add_one_with_kfp_defaults(x=x).output
    for _ in range(STEPS - 1):
        value = add_one_with_kfp_defaults(x=value).output
    return value  # type: ignore[no-any-return]


def direct() -> int:
    value = 0
    for _ in range(STEPS):
        value = add_one.python_func(x=value)
    return value


def iml4e_run(home: Path, preloaded: bool) -> Callable[[], int]:
    def run() -> int:
        from iml4e.local.pipeline_runner import run_pipeline
        from iml4e.local.preloaded_tasks import stop_task_server

        os.environ["IML4E_HOME"] = str(home)
        os.environ["IML4E_RUNNER_PRELOADED"] = "1" if preloaded else "0"
        # Count the task server's start-up in every repetition, as a fresh `iml4e run` pays it.
        stop_task_server()
        result = run_pipeline(f"{__file__}:six_steps_iml4e", [], tracking_uri="http://127.0.0.1:9")
        return int(result.output)

    return run


def kfp_local_defaults(root: Path) -> Callable[[], int]:
    def run() -> int:
        from kfp import local

        local.init(runner=local.SubprocessRunner(), pipeline_root=str(root))
        return int(six_steps_kfp_defaults().output)

    return run


def measure(run: Callable[[], int], repeat: int) -> list[float]:
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        value = run()
        seconds.append(time.perf_counter() - started)
        if value != STEPS:
            raise SystemExit(f"wrong pipeline result {value}, expected {STEPS}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeat", type=int, default=3, help="repetitions of the fast modes (median reported)"
    )
    parser.add_argument(
        "--skip-kfp-defaults", action="store_true", help="leave out the slow kfp.local defaults"
    )
    options = parser.parse_args()
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    work = Path(tempfile.mkdtemp(prefix="iml4e-bench-"))
    modes: list[tuple[str, Callable[[], int], int]] = [
        ("direct function calls", direct, max(options.repeat, 20)),
        ("iml4e run", iml4e_run(work / "home", preloaded=True), options.repeat),
        ("iml4e run, preloading off", iml4e_run(work / "home", preloaded=False), options.repeat),
    ]
    if not options.skip_kfp_defaults:
        modes.append(("kfp.local defaults (venv + pip per task)", kfp_local_defaults(work / "kfp"), 1))

    rows: list[dict[str, Any]] = []
    for name, run, repeat in modes:
        print(f"measuring: {name} ({repeat}x) ...", file=sys.stderr, flush=True)
        with contextlib.redirect_stdout(sys.stderr):  # kfp.local logs to stdout; keep stdout for the table
            seconds = measure(run, repeat)
        rows.append(
            {"mode": name, "runs": repeat, "seconds": seconds, "median_s": statistics.median(seconds)}
        )
    floor = rows[0]["median_s"]
    reference = rows[1]
    for row in rows:
        row["overhead_per_step_s"] = max(row["median_s"] - floor, 0.0) / STEPS
    for row in rows:
        row["ratio_vs_iml4e_run"] = (
            row["overhead_per_step_s"] / reference["overhead_per_step_s"]
            if reference["overhead_per_step_s"]
            else None
        )

    print(
        f"\npipeline overhead: {STEPS} trivial steps, median wall time; {os.cpu_count()} CPUs, load {_load()}"
    )
    print(f"{'mode':<44} {'runs':>4} {'wall s':>9} {'overhead/step s':>16} {'x iml4e run':>12}")
    for row in rows:
        ratio = f"{row['ratio_vs_iml4e_run']:.1f}" if row["ratio_vs_iml4e_run"] is not None else "-"
        print(
            f"{row['mode']:<44} {row['runs']:>4} {row['median_s']:>9.3f} "
            f"{row['overhead_per_step_s']:>16.3f} {ratio:>12}"
        )
    target = reference["overhead_per_step_s"] < 0.1
    print(f"target under 0.1 s per step for iml4e run: {'met' if target else 'NOT met'}")

    import kfp

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "pipeline_overhead",
        "steps": STEPS,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_at_end": _load(),
            "python": platform.python_version(),
            "kfp": kfp.__version__,
        },
        "rows": rows,
        "target_per_step_s": 0.1,
        "target_met": target,
    }
    partial = RESULTS.with_suffix(".json.tmp")
    partial.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    partial.replace(RESULTS)
    print(f"results written to {RESULTS}", file=sys.stderr)


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


if __name__ == "__main__":
    main()
