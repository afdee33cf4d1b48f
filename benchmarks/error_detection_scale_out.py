"""Error detection scale-out: the local engine against the Ray engine with 1 and 2 workers; with
`--memory`, the peak memory of `iml4e detect` against the CSV's size.

    python benchmarks/error_detection_scale_out.py [--rows 100000] [--columns 20] [--block-rows 25000]
                                                   [--runs local,ray1,ray2]
    make bench-ed BENCH_ED_ARGS="--scale-out --rows 10000000"      # the issue's size
    make bench-ed BENCH_ED_ARGS="--scale-out --memory --rows 1000000"

Memory mode: the same generated table with 5% errors, written as CSV with a labels file for 20 rows
(seed 7). Each run is a fresh process that reports its own peak resident memory (VmHWM) when it
ends: `iml4e detect dirty.csv --labels ... -o mask.csv` and the same in
zero-label mode, side by side with `strings`, the same detection on the table read as one Python string
per cell (how `detect` read tables before). Printed per run: peak GB, peak / CSV size (target at most
10), the estimate `detect` checks before it starts (`memory_check`) and whether the peak stayed under
it, wall seconds, and whether the mask equals the labels run's.

A generated rows x columns table with 5% errors (as `error_detection.py --scale`), detection with 20
labeled tuples (the clean table is the oracle), seed 7. Each run is a fresh subprocess: the local
engine, then the Ray engine on a local Ray with 1 and with 2 CPUs (one worker per CPU runs the block
tasks). Printed per run: detection seconds (Ray's start and stop reported apart), the driver's peak
resident memory, the largest peak of any Ray worker process (RSS counts the object-store pages a
worker maps), F1, and whether the mask equals the local engine's; then the 1-worker / 2-worker time
ratio and the issue's targets (ratio >= 1.7, worker < 4 GB, driver < 2 GB, same F1).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
SEED = 7
RUNS = {"local": ("local", 0), "ray1": ("ray", 1), "ray2": ("ray", 2)}
TARGET_RATIO, TARGET_WORKER_GB, TARGET_DRIVER_GB = 1.7, 4.0, 2.0


class ProcessPeaks:
    """Peak RSS of this process (the driver) and of each Ray worker process under it, sampled every
    `interval` seconds."""

    def __init__(self, interval: float = 0.2) -> None:
        import psutil

        self.process = psutil.Process()
        self.interval = interval
        self.driver = 0
        self.workers: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def sample(self) -> None:
        import psutil

        self.driver = max(self.driver, self.process.memory_info().rss)
        for child in self.process.children(recursive=True):
            with contextlib.suppress(psutil.Error):  # the child ended between listing and reading
                if " ".join(child.cmdline()).startswith("ray::"):
                    self.workers[child.pid] = max(self.workers.get(child.pid, 0), child.memory_info().rss)

    def _watch(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> ProcessPeaks:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


def run_one(engine_name: str, cpus: int, folder: Path, block_rows: int) -> dict[str, Any]:
    """One detection run (in this process): read the table, detect, score, measure."""
    import numpy as np
    import pandas as pd

    from iml4e_components.error_detection.detector import ErrorDetector
    from iml4e_components.error_detection.engines import LocalEngine, RayEngine
    from iml4e_components.error_detection.evaluator import score_cells
    from iml4e_components.error_detection.knowledge_base import load_default_knowledge_base
    from iml4e_components.error_detection.oracles import CleanTableOracle

    dirty = pd.read_parquet(folder / "dirty.parquet")
    oracle = CleanTableOracle(pd.read_parquet(folder / "clean.parquet"))
    truth = np.load(folder / "truth.npy")
    detector = ErrorDetector(load_default_knowledge_base())
    engine = LocalEngine() if engine_name == "local" else RayEngine(num_cpus=cpus, block_rows=block_rows)
    with ProcessPeaks() as peaks:
        start = time.perf_counter()
        engine.__enter__()
        started = time.perf_counter()
        try:
            result = detector.detect(dirty, budget=20, oracle=oracle, seed=SEED, engine=engine)
            detected = time.perf_counter()
        finally:
            engine.__exit__(None, None, None)
        stopped = time.perf_counter()
    mask = result.mask.to_numpy()
    scores = score_cells(mask, truth)
    return {
        "engine": engine_name,
        "workers": cpus,
        "start_seconds": started - start,
        "detect_seconds": detected - started,
        "stop_seconds": stopped - detected,
        "driver_peak_gb": peaks.driver / 1e9,
        "worker_peak_gb": max(peaks.workers.values(), default=0) / 1e9,
        "worker_processes": len(peaks.workers),
        "f1": scores.f1,
        "precision": scores.precision,
        "recall": scores.recall,
        "mask_sha256": hashlib.sha256(np.packbits(mask).tobytes()).hexdigest(),
    }


def prepare(rows: int, columns: int, folder: Path) -> dict[str, float]:
    """Generate the clean table, inject 5% errors, keep both and the truth mask in `folder`."""
    import numpy as np

    sys.path.insert(0, str(ROOT))
    from error_detection import SCALE_ERROR_KINDS, generate_scale_table

    from iml4e_components.error_detection.injection import inject_errors

    start = time.perf_counter()
    clean = generate_scale_table(rows, columns, SEED)
    dirty, truth = inject_errors(clean, 0.05, SCALE_ERROR_KINDS, SEED)
    clean.to_parquet(folder / "clean.parquet", index=False)
    dirty.to_parquet(folder / "dirty.parquet", index=False)
    np.save(folder / "truth.npy", truth.to_numpy())
    return {"prepare_seconds": time.perf_counter() - start}


TARGET_MEMORY_RATIO = 10.0
LABELED_ROWS = 20
MEMORY_RUNS = ("labels", "zero-label", "strings")


def prepare_csv(rows: int, columns: int, folder: Path) -> dict[str, Any]:
    """The memory mode's input: the generated dirty table as CSV and a labels file of 20 seeded rows
    (from the truth mask), as a user would pass them to `iml4e detect`."""
    import numpy as np

    sys.path.insert(0, str(ROOT))
    from error_detection import SCALE_ERROR_KINDS, generate_scale_table

    from iml4e_components.error_detection.injection import inject_errors

    start = time.perf_counter()
    dirty, truth = inject_errors(generate_scale_table(rows, columns, SEED), 0.05, SCALE_ERROR_KINDS, SEED)
    dirty.to_csv(folder / "dirty.csv", index=False)
    labeled = np.sort(np.random.default_rng(SEED).choice(rows, min(LABELED_ROWS, rows), replace=False))
    wrong = truth.to_numpy()
    lines = ["row,column,error"] + [
        f"{row},{name},{int(wrong[row, j])}" for row in labeled for j, name in enumerate(dirty.columns)
    ]
    (folder / "labels.csv").write_text("\n".join(lines) + "\n")
    return {
        "prepare_seconds": time.perf_counter() - start,
        "csv_bytes": (folder / "dirty.csv").stat().st_size,
    }


def detect_strings(folder: Path, mask: Path) -> None:
    """`iml4e detect dirty.csv --labels labels.csv -o mask.csv` on the table read as strings (one Python
    object per cell), in this process: the reading `detect` replaced with compact tables."""
    from iml4e_components.error_detection.oracles import LabelsFileOracle
    from iml4e_components.error_detection.service import detect_table, load_knowledge_base, write_mask_csv
    from iml4e_components.error_detection.tables import read_string_table

    table = read_string_table(folder / "dirty.csv", what="dirty table")
    oracle = LabelsFileOracle(folder / "labels.csv")
    knowledge_base = load_knowledge_base(None)
    write_mask_csv(
        mask,
        [str(c) for c in table.columns],
        lambda sink: detect_table(table, 20, 42, oracle, knowledge_base, sink=sink, keep_mask=False),
    )


#: Runs a command (`-m module ...` or `script ...`) in this interpreter and, when it ends, writes the
#: process's own peak resident KiB (VmHWM, which exec resets) to the file named first.
_REPORTING_PEAK = """
import atexit, runpy, sys
out, args = sys.argv[1], sys.argv[2:]
def report():
    with open('/proc/self/status') as status, open(out, 'w') as peak:
        peak.write(next(line for line in status if line.startswith('VmHWM:')).split()[1])
atexit.register(report)
if args[0] == '-m':
    sys.argv = args[1:]
    runpy.run_module(args[1], run_name='__main__', alter_sys=True)
else:
    sys.argv = args
    runpy.run_path(args[0], run_name='__main__')
"""


def peak_of(command: list[str]) -> tuple[int, float, int]:
    """Run `command` (a Python command line); its peak resident bytes, wall seconds and exit code.

    The peak is the process's own high-water mark (VmHWM), read by the process as it ends. Not
    `wait4`'s ru_maxrss: Linux carries a forked child's maximum over from its parent through exec,
    so a child of this process (which holds the generated table) reported this process's peak."""
    start = time.perf_counter()
    with tempfile.NamedTemporaryFile(prefix="iml4e-peak-", suffix=".kib") as peak_file:
        process = subprocess.run(
            [command[0], "-c", _REPORTING_PEAK, peak_file.name, *command[1:]],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            check=False,
        )
        if process.returncode != 0:
            print(process.stderr.decode(errors="replace")[-2000:], file=sys.stderr)
        text = Path(peak_file.name).read_text().strip()
    return int(text or 0) * 1024, time.perf_counter() - start, process.returncode


def measure_memory(rows: int, columns: int, runs: list[str]) -> dict[str, Any]:
    """Memory mode (see the module docstring)."""
    from iml4e_components.error_detection.memory_check import estimate_detection_memory

    report: dict[str, Any] = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": "memory",
        "rows": rows,
        "columns": columns,
        "load_average_start": list(os.getloadavg()),
        "runs": {},
    }
    cli = [sys.executable, "-m", "iml4e", "detect"]
    with tempfile.TemporaryDirectory(prefix="iml4e-detect-memory-") as scratch:
        folder = Path(scratch)
        report.update(prepare_csv(rows, columns, folder))
        report["estimate_bytes"] = estimate_detection_memory(folder / "dirty.csv").peak_bytes
        print(f"memory: table ready in {report['prepare_seconds']:.1f}s", file=sys.stderr)
        commands: dict[str, list[str]] = {
            "labels": [*cli, str(folder / "dirty.csv"), "--labels", str(folder / "labels.csv")],
            "zero-label": [*cli, str(folder / "dirty.csv")],
            "strings": [sys.executable, __file__, "--one-memory", "strings", "--folder", scratch],
        }
        for name in runs:
            mask = folder / f"mask-{name}.csv"
            peak, seconds, code = peak_of([*commands[name], "-o", str(mask)])
            run: dict[str, Any] = {"peak_bytes": peak, "seconds": seconds, "exit_code": code}
            if code == 0:
                run["mask_sha256"] = hashlib.sha256(mask.read_bytes()).hexdigest()
            report["runs"][name] = run
            print(f"memory {name}: peak {peak / 1e9:.2f} GB in {seconds:.0f}s (exit {code})", file=sys.stderr)
    report["load_average_end"] = list(os.getloadavg())
    return report


def print_memory_table(report: dict[str, Any]) -> None:
    csv_bytes, estimate = report["csv_bytes"], report["estimate_bytes"]
    lines = [
        f"detect memory: {report['rows']:,} rows x {report['columns']} columns, 5% errors, CSV "
        f"{csv_bytes / 1e6:.0f} MB; estimate checked before starting {estimate / 1e9:.2f} GB; load average "
        f"{report['load_average_start'][0]:.2f} (start) / {report['load_average_end'][0]:.2f} (end)",
        f"{'run':<11} {'peak GB':>8} {'peak/CSV':>9} {'<= est.':>8} {'seconds':>8} {'mask':>10}",
    ]
    reference = report["runs"].get("labels", {}).get("mask_sha256")
    for name, run in report["runs"].items():
        same = (
            "-"
            if reference is None or name != "strings"
            else ("= labels" if run.get("mask_sha256") == reference else "DIFFERS")
        )
        lines.append(
            f"{name:<11} {run['peak_bytes'] / 1e9:8.2f} {run['peak_bytes'] / csv_bytes:9.1f} "
            f"{'yes' if run['peak_bytes'] <= estimate else 'NO':>8} {run['seconds']:8.0f} {same:>10}"
            + ("" if run["exit_code"] == 0 else f"  exit {run['exit_code']}")
        )
    if "strings" in report["runs"] and "labels" in report["runs"]:
        ratio = report["runs"]["strings"]["peak_bytes"] / report["runs"]["labels"]["peak_bytes"]
        lines.append(f"strings / compact peak: {ratio:.2f}; target peak/CSV <= {TARGET_MEMORY_RATIO:.0f}")
    print("\n".join(lines))


def print_table(report: dict[str, Any]) -> None:
    failed = {k: v["failed"] for k, v in report["runs"].items() if "failed" in v}
    runs = {k: v for k, v in report["runs"].items() if "failed" not in v}
    lines = [
        f"scale-out: {report['rows']:,} rows x {report['columns']} columns, 5% errors, 20 labeled tuples, "
        f"blocks of {report['block_rows']:,} rows, {report['cpu_count']} cpus, load average "
        f"{report['load_average_start'][0]:.2f} (start) / {report['load_average_end'][0]:.2f} (end)",
        f"{'run':<6} {'detect s':>9} {'ray start s':>11} {'driver GB':>9} {'worker GB':>9} {'F1':>6} {'mask':>10}",
    ]
    local_sha = runs.get("local", {}).get("mask_sha256")
    for name, run in runs.items():
        same = (
            "-"
            if local_sha is None or name == "local"
            else ("= local" if run["mask_sha256"] == local_sha else "DIFFERS")
        )
        lines.append(
            f"{name:<6} {run['detect_seconds']:9.1f} {run['start_seconds']:11.1f} {run['driver_peak_gb']:9.2f} "
            f"{run['worker_peak_gb']:9.2f} {run['f1']:6.3f} {same:>10}"
        )
    lines += [f"{name:<6} failed: {reason}" for name, reason in failed.items()]
    if "ray1" in runs and "ray2" in runs:
        ratio = runs["ray1"]["detect_seconds"] / runs["ray2"]["detect_seconds"]
        lines.append(f"1-worker / 2-worker detection time: {ratio:.2f} (target >= {TARGET_RATIO})")
    worker = max((r["worker_peak_gb"] for r in runs.values()), default=0.0)
    driver = max((r["driver_peak_gb"] for r in runs.values() if r["engine"] == "ray"), default=0.0)
    lines.append(
        f"largest worker peak {worker:.2f} GB (target < {TARGET_WORKER_GB}); Ray driver peak {driver:.2f} GB "
        f"(target < {TARGET_DRIVER_GB}); cost per million cells (2 workers): "
        + (
            f"{runs['ray2']['detect_seconds'] / (report['rows'] * report['columns'] / 1e6):.1f} s"
            if "ray2" in runs
            else "-"
        )
    )
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description="error detection: local engine vs Ray with 1 and 2 workers")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--columns", type=int, default=20)
    parser.add_argument("--block-rows", type=int, default=0, help="rows per Ray block (default rows / 8)")
    parser.add_argument(
        "--runs",
        default="",
        help=f"comma-separated, of {', '.join(RUNS)} (all); with --memory of {', '.join(MEMORY_RUNS)} (all)",
    )
    parser.add_argument("--out", default="")
    parser.add_argument(
        "--memory",
        action="store_true",
        help="peak memory of iml4e detect against the CSV size (runs: labels,zero-label,strings)",
    )
    parser.add_argument("--one", default="", help=argparse.SUPPRESS)  # internal: one run in this process
    parser.add_argument("--one-memory", default="", help=argparse.SUPPRESS)
    parser.add_argument("-o", dest="mask", default="", help=argparse.SUPPRESS)
    parser.add_argument("--folder", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    block_rows = args.block_rows or max(1, args.rows // 8)
    if args.one:
        engine_name, cpus = RUNS[args.one]
        print(json.dumps(run_one(engine_name, cpus, Path(args.folder), block_rows)))
        return
    if args.one_memory:
        detect_strings(Path(args.folder), Path(args.mask))
        return
    if args.memory:
        report = measure_memory(args.rows, args.columns, chosen_runs(args.runs, MEMORY_RUNS))
        save_report(report, args.out, "error_detection_memory", print_memory_table)
        return
    names = chosen_runs(args.runs, tuple(RUNS))
    report: dict[str, Any] = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows": args.rows,
        "columns": args.columns,
        "block_rows": block_rows,
        "cpu_count": os.cpu_count(),
        "load_average_start": list(os.getloadavg()),
        "runs": {},
    }
    with tempfile.TemporaryDirectory(prefix="iml4e-scale-out-") as scratch:
        report.update(prepare(args.rows, args.columns, Path(scratch)))
        print(f"scale-out: table ready in {report['prepare_seconds']:.1f}s", file=sys.stderr)
        for name in names:
            command = [sys.executable, __file__, "--one", name, "--folder", scratch, "--rows", str(args.rows)]
            command += ["--block-rows", str(block_rows)]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
                print(f"scale-out {name}: failed ({tail})", file=sys.stderr)
                report["runs"][name] = {"failed": tail}
                continue
            report["runs"][name] = json.loads(done.stdout.strip().splitlines()[-1])
            run = report["runs"][name]
            print(f"scale-out {name}: {run['detect_seconds']:.1f}s, f1 {run['f1']:.3f}", file=sys.stderr)
    report["load_average_end"] = list(os.getloadavg())
    save_report(report, args.out, "error_detection_scale_out", print_table)


def chosen_runs(text: str, known: tuple[str, ...]) -> list[str]:
    """The comma-separated runs of `--runs` (all of `known` when empty)."""
    names = [n.strip() for n in (text or ",".join(known)).split(",") if n.strip()]
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise SystemExit(f"unknown runs {unknown}; choose from {', '.join(known)}")
    return names


def save_report(
    report: dict[str, Any], out: str, prefix: str, show: Callable[[dict[str, Any]], None]
) -> None:
    """Write the report as JSON (to `out`, else a stamped file in benchmarks/results) and print it."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = Path(out or RESULTS / f"{prefix}_{stamp}.json")
    path.write_text(json.dumps(report, indent=2))
    show(report)
    print(f"results: {path}")


if __name__ == "__main__":
    main()
