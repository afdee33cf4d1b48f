"""Error detection benchmark: iml4e's SAGED detector side by side with Raha, one shared evaluator.

Leave-one-out over every dirty/clean pair under a data directory: for each target pair, SAGED uses the
shipped knowledge base without that pair (`--kb shipped`, the default: what `iml4e detect --kb-exclude
NAME` gives a user; a pair the shipped file does not hold is scored with the whole file), or a
knowledge base fitted on the other pairs (`--kb loo`, the figures before the real pairs shipped); both
tools then label the same budget of tuples (the oracle is the clean table) for each seed. SAGED also
runs in zero-label mode (no labels, the knowledge base's precision-first threshold) for each seed.
Scores come from `iml4e_components.error_detection.evaluator` (strings, `keep_default_na=False`,
columns by position).

    python benchmarks/error_detection.py [--data DIR] [--seeds 10] [--datasets a,b] [--budget 20]
                                         [--kb shipped|loo|loo+default|default]
                                         [--tools saged,raha] [--raha-runs DIR [--raha-stored-only]]
    python benchmarks/error_detection.py --scale [--rows 1000000] [--columns 20]

The scale mode generates a table, injects 5% errors and runs detection zero-label and with 20 labeled
tuples; it prints generation, injection and detection seconds, precision/recall/F1, the peak resident
memory of the process and its children, the load average, and whether the targets hold (detection with
20 tuples under 600 s, peak memory under 8 GB, on 1,000,000 x 20 cells).

Raha (PyPI `raha`, needs pandas<3 and its own numpy/sklearn) runs in a subprocess from its own
virtualenv, created on first use under `benchmarks/.venvs/raha`. Raha caches its strategy outputs per
dataset (its own `SAVE_RESULTS` behaviour): the first seed of each dataset runs every strategy and its
wall time is the one compared; later seeds reuse the cached strategy outputs. Each Raha run's
output (detected cells, seconds) is kept as `<raha-runs>/<dataset>/raha-<seed>.json`; runs already
there are scored again instead of re-run, so a long comparison can be resumed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
DEFAULT_DATA = (ROOT.parent / ".." / "shared" / "datasets" / "error-detection").resolve()
RAHA_VENV = ROOT / ".venvs" / "raha"
RESULTS = ROOT / "results"

RAHA_DRIVER = r"""
import json, random, sys, time
import numpy
import raha
dirty, clean, seed, budget, out, name = sys.argv[1:7]
random.seed(int(seed))
numpy.random.seed(int(seed))
detection = raha.Detection()
detection.LABELING_BUDGET = int(budget)
detection.VERBOSE = False
detection.SAVE_RESULTS = True
start = time.perf_counter()
# Raha names its temporary files /tmp/<name>-<strategy hash>.csv: the name must differ between runs
# that may overlap, or they delete each other's files.
cells = detection.run({"name": name, "path": dirty, "clean_path": clean})
seconds = time.perf_counter() - start
with open(out, "w") as handle:
    json.dump({"seconds": seconds, "cells": [[int(i), int(j)] for (i, j) in cells]}, handle)
"""


def find_pairs(data: Path, only: list[str] | None) -> dict[str, tuple[Path, Path]]:
    from iml4e_components.error_detection.pairs import find_pairs as pairs_in
    from iml4e_components.errors import ComponentError

    try:
        pairs = pairs_in([data])
    except ComponentError as exc:
        raise SystemExit(f"{exc}; pass --data DIR") from None
    if only:
        missing = sorted(set(only) - set(pairs))
        if missing:
            raise SystemExit(f"datasets {missing} not found under {data}; found {sorted(pairs)}")
        pairs = {k: v for k, v in pairs.items() if k in only}
    return pairs


def ensure_raha() -> Path:
    """Create the Raha virtualenv on first use; returns its python."""
    python = RAHA_VENV / "bin" / "python"
    if python.exists() and subprocess.run([python, "-c", "import raha"], capture_output=True).returncode == 0:
        return python
    uv = shutil.which("uv")
    RAHA_VENV.parent.mkdir(parents=True, exist_ok=True)
    if uv:
        subprocess.run([uv, "venv", "--python", sys.executable, str(RAHA_VENV)], check=True)
        subprocess.run([uv, "pip", "install", "--python", str(python), "raha", "pandas<3"], check=True)
    else:
        subprocess.run([sys.executable, "-m", "venv", str(RAHA_VENV)], check=True)
        subprocess.run([python, "-m", "pip", "install", "raha", "pandas<3"], check=True)
    return python


def run_raha(python: Path, workdir: Path, dirty: Path, clean: Path, seed: int, budget: int) -> dict[str, Any]:
    """One Raha run in a subprocess; returns detected cells and Raha's own wall time."""
    out = workdir / f"raha-{seed}.json"
    driver = workdir / "raha_driver.py"
    driver.write_text(RAHA_DRIVER)
    start = time.perf_counter()
    done = subprocess.run(
        [
            python,
            str(driver),
            str(workdir / "dirty.csv"),
            str(workdir / "clean.csv"),
            str(seed),
            str(budget),
            str(out),
            f"iml4e-{workdir.name}-seed{seed}",
        ],
        capture_output=True,
        text=True,
        cwd=workdir,
    )
    if done.returncode != 0:
        raise RuntimeError(f"raha failed on {dirty}: {done.stderr.strip().splitlines()[-1:]}")
    result: dict[str, Any] = json.loads(out.read_text())
    result["process_seconds"] = time.perf_counter() - start
    return result


def summarise(values: list[float]) -> dict[str, float]:
    return {
        "mean": statistics.fmean(values),
        "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
        "min": min(values),
        "max": max(values),
    }


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    from iml4e_components.error_detection.detector import ErrorDetector
    from iml4e_components.error_detection.evaluator import load_error_mask, mask_from_cells, score_cells
    from iml4e_components.error_detection.knowledge_base import KnowledgeBase, load_default_knowledge_base
    from iml4e_components.error_detection.oracles import CleanTableOracle
    from iml4e_components.error_detection.tables import read_string_table

    pairs = find_pairs(Path(args.data), args.datasets.split(",") if args.datasets else None)
    all_pairs = find_pairs(Path(args.data), None)
    seeds = list(range(1, args.seeds + 1))
    tools = args.tools.split(",")
    raha_runs = (
        Path(args.raha_runs) if args.raha_runs else RESULTS / f"raha-runs-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    )
    raha_python = ensure_raha() if "raha" in tools and not args.raha_stored_only else None
    report: dict[str, Any] = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "budget": args.budget,
        "seeds": seeds,
        "data": str(args.data),
        "kb": args.kb,
        "cpu_count": os.cpu_count(),
        "datasets": {},
    }
    for name, (dirty_path, clean_path) in pairs.items():
        truth = load_error_mask(dirty_path, clean_path)
        dirty = read_string_table(dirty_path, what="dirty table")
        clean = read_string_table(clean_path, what="clean table")
        entry: dict[str, Any] = {
            "rows": dirty.shape[0],
            "columns": dirty.shape[1],
            "actual_errors": int(truth.sum()),
        }
        if "saged" in tools:
            history = [
                (read_string_table(d, what="dirty table"), read_string_table(c, what="clean table"))
                for other, (d, c) in all_pairs.items()
                if other != name
            ]
            start = time.perf_counter()
            if args.kb == "shipped":
                shipped = load_default_knowledge_base()
                knowledge_base = shipped.without([name]) if name in shipped.sources else shipped
            elif args.kb == "default":
                knowledge_base = load_default_knowledge_base()
            elif args.kb == "loo+default":
                knowledge_base = load_default_knowledge_base().extended(KnowledgeBase.fit(history, seed=0))
            else:
                knowledge_base = KnowledgeBase.fit(history, seed=0)
            fit_seconds = time.perf_counter() - start
            runs = []
            for seed in seeds:
                start = time.perf_counter()
                result = ErrorDetector(knowledge_base).detect(
                    dirty, budget=args.budget, oracle=CleanTableOracle(clean), seed=seed
                )
                seconds = time.perf_counter() - start
                scores = score_cells(result.mask.to_numpy(), truth)
                runs.append({"seed": seed, "seconds": seconds, **scores.as_dict()})
                print(f"  saged {name} seed {seed}: f1 {scores.f1:.3f} ({seconds:.1f}s)", file=sys.stderr)
            zero_label = []
            for seed in seeds:
                result = ErrorDetector(knowledge_base).detect(dirty, seed=seed)
                scores = score_cells(result.mask.to_numpy(), truth)
                zero_label.append({"seed": seed, "warnings": result.warnings, **scores.as_dict()})
                print(
                    f"  saged {name} zero-label seed {seed}: precision {scores.precision:.3f} "
                    f"recall {scores.recall:.3f}",
                    file=sys.stderr,
                )
            entry["saged"] = {
                "fit_seconds": fit_seconds,
                "runs": runs,
                "zero_label": zero_label,
                "zero_label_threshold": knowledge_base.zero_label_threshold,
            }
        if "raha" in tools:
            runs = []
            stored = raha_runs / name
            stored.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(prefix=f"raha-{name}-") as tmp:
                workdir = Path(tmp)
                shutil.copy(dirty_path, workdir / "dirty.csv")
                shutil.copy(clean_path, workdir / "clean.csv")
                for seed in seeds:
                    kept = stored / f"raha-{seed}.json"
                    if kept.is_file():
                        outcome = json.loads(kept.read_text())
                    elif raha_python is None:
                        continue
                    else:
                        outcome = run_raha(raha_python, workdir, dirty_path, clean_path, seed, args.budget)
                        kept.write_text(json.dumps(outcome))
                    mask = mask_from_cells([tuple(c) for c in outcome["cells"]], truth.shape)
                    scores = score_cells(mask, truth)
                    runs.append({"seed": seed, "seconds": outcome["seconds"], **scores.as_dict()})
                    print(
                        f"  raha {name} seed {seed}: f1 {scores.f1:.3f} ({outcome['seconds']:.1f}s)",
                        file=sys.stderr,
                    )
            if runs:
                entry["raha"] = {
                    "runs": runs,
                    "first_seed_seconds": runs[0]["seconds"],
                    "stored": str(stored),
                }
        report["datasets"][name] = entry
    return report


def print_table(report: dict[str, Any]) -> None:
    header = f"{'dataset':<10} {'tool':<6} {'P mean':>7} {'R mean':>7} {'F1 mean':>8} {'F1 sd':>6} {'F1 min':>7} {'F1 max':>7} {'time s':>8} {'seeds':>5}"
    lines = [
        "time s: SAGED = mean detection time per seed; Raha = its first seed (every strategy run, nothing cached)",
        f"budget {report['budget']} tuples, seeds {report['seeds'][0]}..{report['seeds'][-1]} ({len(report['seeds'])})",
        header,
    ]
    for name, entry in report["datasets"].items():
        times = {}
        for tool in ("saged", "raha"):
            if tool not in entry:
                continue
            runs = entry[tool]["runs"]
            f1 = summarise([r["f1"] for r in runs])
            precision = statistics.fmean(r["precision"] for r in runs)
            recall = statistics.fmean(r["recall"] for r in runs)
            # SAGED: mean detection time per seed; Raha: first seed (all strategies run, nothing cached).
            seconds = (
                statistics.fmean(r["seconds"] for r in runs)
                if tool == "saged"
                else entry[tool]["first_seed_seconds"]
            )
            times[tool] = seconds
            lines.append(
                f"{name:<10} {tool:<6} {precision:7.3f} {recall:7.3f} {f1['mean']:8.3f} {f1['sd']:6.3f} "
                f"{f1['min']:7.3f} {f1['max']:7.3f} {seconds:8.1f} {len(runs):5d}"
            )
        if len(times) == 2:
            lines.append(f"{'':<10} time ratio saged/raha = {times['saged'] / times['raha']:.3f}")
    zero_label = {n: e["saged"] for n, e in report["datasets"].items() if "zero_label" in e.get("saged", {})}
    if zero_label:
        lines += [
            f"SAGED zero-label (no labels; knowledge base: {report['kb']}), mean over the seeds",
            f"{'dataset':<10} {'threshold':>9} {'P mean':>7} {'P min':>6} {'R mean':>7} {'F1 mean':>8} {'flagged':>8}",
        ]
        for name, saged in zero_label.items():
            runs = saged["zero_label"]
            lines.append(
                f"{name:<10} {saged['zero_label_threshold']:9.2f} "
                f"{statistics.fmean(r['precision'] for r in runs):7.3f} {min(r['precision'] for r in runs):6.3f} "
                f"{statistics.fmean(r['recall'] for r in runs):7.3f} {statistics.fmean(r['f1'] for r in runs):8.3f} "
                f"{statistics.fmean(r['detected'] for r in runs):8.0f}"
            )
    print("\n".join(lines))


#: Targets of the scale mode (issue #4): detection with 20 labeled tuples on 1,000,000 x 20 cells.
SCALE_SECONDS_TARGET = 600.0
SCALE_RSS_GB_TARGET = 8.0
SCALE_TARGET_CELLS = (1_000_000, 20)


class PeakMemory:
    """Peak resident memory of this process plus its children, sampled every `interval` seconds, with
    the kernel's high-water mark of this process as a cross-check (a child's own high-water mark is not
    used: a forked child counts the pages it shares with this process)."""

    def __init__(self, interval: float = 0.2) -> None:
        import psutil

        self.process = psutil.Process()
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def tree_rss(self) -> int:
        import psutil

        total = self.process.memory_info().rss
        for child in self.process.children(recursive=True):
            with contextlib.suppress(psutil.Error):  # the child ended between listing and reading
                total += child.memory_info().rss
        return int(total)

    def _watch(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.tree_rss())
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self.peak = self.tree_rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.tree_rss())

    def report(self) -> dict[str, float]:
        import resource

        # ru_maxrss is in KiB on Linux.
        return {
            "peak_rss_gb": self.peak / 1e9,
            "maxrss_self_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9,
        }


#: The error kinds injected into generated scale tables (5% of the cells).
SCALE_ERROR_KINDS = ["typo", "missing", "placeholder", "format", "outlier", "rule"]


def generate_scale_table(rows: int, columns: int, seed: int) -> Any:
    """A clean rows x columns table: the synthetic tables side by side, columns prefixed by table."""
    import pandas as pd

    from iml4e_components.error_detection.synthetic_tables import SYNTHETIC_TABLES, generate_table

    parts: list[pd.DataFrame] = []
    index = 0
    while sum(p.shape[1] for p in parts) < columns:
        name = sorted(SYNTHETIC_TABLES)[index % len(SYNTHETIC_TABLES)]
        part = generate_table(name, rows, seed + index)
        parts.append(part.add_prefix(f"{name}{index}_"))
        index += 1
    return pd.concat(parts, axis=1).iloc[:, :columns]


def run_scale(rows: int, columns: int, seed: int) -> dict[str, Any]:
    """Detection (zero-label and with 20 labeled tuples) on a generated rows x columns table, 5% errors:
    seconds of each step, F1/precision/recall, peak memory and the machine's load."""

    from iml4e_components.error_detection.detector import ErrorDetector
    from iml4e_components.error_detection.evaluator import score_cells
    from iml4e_components.error_detection.injection import inject_errors
    from iml4e_components.error_detection.knowledge_base import load_default_knowledge_base
    from iml4e_components.error_detection.oracles import CleanTableOracle

    report: dict[str, Any] = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows": rows,
        "columns": columns,
        "error_rate": 0.05,
        "cpu_count": os.cpu_count(),
        "load_average_start": list(os.getloadavg()),
    }
    with PeakMemory() as memory:
        start = time.perf_counter()
        clean = generate_scale_table(rows, columns, seed)
        report["generate_seconds"] = time.perf_counter() - start
        start = time.perf_counter()
        dirty, truth = inject_errors(clean, 0.05, SCALE_ERROR_KINDS, seed)
        report["inject_seconds"] = time.perf_counter() - start
        print(
            f"scale: generated {rows} x {columns} in {report['generate_seconds']:.1f}s, "
            f"errors injected in {report['inject_seconds']:.1f}s",
            file=sys.stderr,
        )
        start = time.perf_counter()
        knowledge_base = load_default_knowledge_base()
        report["kb_load_seconds"] = time.perf_counter() - start
        for label, oracle in (("zero_label", None), ("budget_20", CleanTableOracle(clean))):
            start = time.perf_counter()
            result = ErrorDetector(knowledge_base).detect(dirty, budget=20, oracle=oracle, seed=seed)
            seconds = time.perf_counter() - start
            scores = score_cells(result.mask.to_numpy(), truth.to_numpy())
            report[label] = {
                "seconds": seconds,
                "f1": scores.f1,
                "precision": scores.precision,
                "recall": scores.recall,
            }
            del result
            print(f"scale {label}: {seconds:.1f}s, f1 {scores.f1:.3f}", file=sys.stderr)
    report.update(memory.report())
    report["load_average_end"] = list(os.getloadavg())
    report["seconds_target"] = SCALE_SECONDS_TARGET
    report["rss_gb_target"] = SCALE_RSS_GB_TARGET
    report["target_size"] = rows >= SCALE_TARGET_CELLS[0] and columns >= SCALE_TARGET_CELLS[1]
    report["targets_met"] = {
        "detection_seconds": report["budget_20"]["seconds"] < SCALE_SECONDS_TARGET,
        "peak_rss": report["peak_rss_gb"] < SCALE_RSS_GB_TARGET,
    }
    return report


def print_scale_table(report: dict[str, Any]) -> None:
    met = report["targets_met"]
    load_start = ", ".join(f"{v:.2f}" for v in report["load_average_start"])
    load_end = ", ".join(f"{v:.2f}" for v in report["load_average_end"])
    lines = [
        f"scale: {report['rows']} rows x {report['columns']} columns, {report['error_rate']:.0%} errors, "
        f"{report['cpu_count']} cpus, load average {load_start} (start) / {load_end} (end)",
        f"generation {report['generate_seconds']:.1f}s + injection {report['inject_seconds']:.1f}s "
        f"(not counted as detection); knowledge base load {report['kb_load_seconds']:.1f}s",
        f"{'run':<11} {'seconds':>8} {'P':>6} {'R':>6} {'F1':>6}",
    ]
    for label in ("zero_label", "budget_20"):
        run = report[label]
        lines.append(
            f"{label:<11} {run['seconds']:8.1f} {run['precision']:6.3f} {run['recall']:6.3f} {run['f1']:6.3f}"
        )
    lines += [
        f"peak RSS {report['peak_rss_gb']:.2f} GB (process and children, sampled every 0.2 s; "
        f"kernel high-water mark of the process {report['maxrss_self_gb']:.2f} GB)",
        f"target detection (budget 20) < {report['seconds_target']:.0f}s: "
        f"{'met' if met['detection_seconds'] else 'NOT met'} ({report['budget_20']['seconds']:.1f}s)",
        f"target peak RSS < {report['rss_gb_target']:.0f} GB: "
        f"{'met' if met['peak_rss'] else 'NOT met'} ({report['peak_rss_gb']:.2f} GB)",
    ]
    if not report["target_size"]:
        lines.append(
            f"(the targets are for {SCALE_TARGET_CELLS[0]:,} x {SCALE_TARGET_CELLS[1]} cells; this table is smaller)"
        )
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description="SAGED vs Raha error detection benchmark")
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--datasets", default="")
    parser.add_argument("--budget", type=int, default=20)
    parser.add_argument("--tools", default="saged,raha")
    parser.add_argument("--kb", choices=["shipped", "loo", "loo+default", "default"], default="shipped")
    parser.add_argument("--raha-runs", default="", help="directory of kept Raha runs (reused when present)")
    parser.add_argument(
        "--raha-stored-only", action="store_true", help="score only the Raha runs already kept; run none"
    )
    parser.add_argument("--scale", action="store_true", help="measure time and peak memory on a large table")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--columns", type=int, default=20)
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    if args.scale:
        report = run_scale(args.rows, args.columns, seed=7)
        out = Path(args.out or RESULTS / f"error_detection_scale_{stamp}.json")
        out.write_text(json.dumps(report, indent=2))
        print_scale_table(report)
        print(f"results: {out}")
        return
    report = benchmark(args)
    out = Path(args.out or RESULTS / f"error_detection_{stamp}.json")
    out.write_text(json.dumps(report, indent=2))
    print_table(report)
    print(f"results: {out}")


if __name__ == "__main__":
    main()
