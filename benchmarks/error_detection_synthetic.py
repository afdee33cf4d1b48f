"""Error detection on synthetic held-out pairs: a guard against tuning SAGED to the benchmark pairs.

Clean tables come from `synthetic_tables` and errors from the project's generator (`injection`), with
seeds that the default knowledge base build does not use (it uses table seeds 0-6 and injection
seeds below 100). SAGED runs with the shipped default knowledge base and a labeling budget, for each
detection seed, and in zero-label mode (no labels, the knowledge base's precision-first threshold).

    python benchmarks/error_detection_synthetic.py [--tables a,b] (default: every synthetic table) [--rows 1000]
                                                   [--rate 0.05] [--seeds 5] [--budget 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
#: Every error kind except none: the held-out pairs mix all kinds the generator knows.
KINDS = ("typo", "missing", "placeholder", "format", "outlier", "swap", "rule")
#: Table and injection seeds start here, well away from those of the default knowledge base build.
SEED_BASE = 1000


def evaluate(tables: list[str], rows: int, rate: float, seeds: int, budget: int) -> dict[str, Any]:
    from iml4e_components.error_detection.detector import ErrorDetector
    from iml4e_components.error_detection.evaluator import score_cells
    from iml4e_components.error_detection.injection import inject_errors
    from iml4e_components.error_detection.knowledge_base import load_default_knowledge_base
    from iml4e_components.error_detection.oracles import CleanTableOracle
    from iml4e_components.error_detection.synthetic_tables import generate_table

    knowledge_base = load_default_knowledge_base()
    report: dict[str, Any] = {
        "rows": rows,
        "rate": rate,
        "budget": budget,
        "kinds": KINDS,
        "tables": {},
        "zero_label": {},
        "zero_label_threshold": knowledge_base.zero_label_threshold,
    }
    for t, name in enumerate(tables):
        clean = generate_table(name, rows, SEED_BASE + t)
        dirty, truth = inject_errors(clean, rate, list(KINDS), seed=SEED_BASE + 10 * t)
        runs = []
        for seed in range(1, seeds + 1):
            start = time.perf_counter()
            result = ErrorDetector(knowledge_base).detect(
                dirty, budget=budget, oracle=CleanTableOracle(clean), seed=seed
            )
            seconds = time.perf_counter() - start
            scores = score_cells(result.mask.to_numpy(), truth.to_numpy())
            runs.append({"seed": seed, "seconds": seconds, **scores.as_dict()})
            print(
                f"  saged synthetic {name} seed {seed}: f1 {scores.f1:.3f} ({seconds:.1f}s)", file=sys.stderr
            )
        report["tables"][name] = runs
        zero_label = []
        for seed in range(1, seeds + 1):
            scores = score_cells(
                ErrorDetector(knowledge_base).detect(dirty, seed=seed).mask.to_numpy(), truth.to_numpy()
            )
            zero_label.append({"seed": seed, **scores.as_dict()})
        report["zero_label"][name] = zero_label
        print(
            f"  saged synthetic {name} zero-label: precision {statistics.fmean(r['precision'] for r in zero_label):.3f}",
            file=sys.stderr,
        )
    return report


def print_table(report: dict[str, Any]) -> None:
    print(
        f"{'table':<10} {'P mean':>7} {'R mean':>7} {'F1 mean':>8} {'F1 sd':>6} {'F1 min':>7} {'F1 max':>7} {'time s':>7}"
    )
    for name, runs in report["tables"].items():
        f1 = [r["f1"] for r in runs]
        print(
            f"{name:<10} {statistics.fmean(r['precision'] for r in runs):7.3f} "
            f"{statistics.fmean(r['recall'] for r in runs):7.3f} {statistics.fmean(f1):8.3f} "
            f"{statistics.stdev(f1) if len(f1) > 1 else 0.0:6.3f} {min(f1):7.3f} {max(f1):7.3f} "
            f"{statistics.fmean(r['seconds'] for r in runs):7.1f}"
        )
    print(f"zero-label (no labels, threshold {report['zero_label_threshold']:.2f}), mean over the seeds")
    print(f"{'table':<10} {'P mean':>7} {'P min':>6} {'R mean':>7} {'F1 mean':>8}")
    for name, runs in report["zero_label"].items():
        print(
            f"{name:<10} {statistics.fmean(r['precision'] for r in runs):7.3f} "
            f"{min(r['precision'] for r in runs):6.3f} {statistics.fmean(r['recall'] for r in runs):7.3f} "
            f"{statistics.fmean(r['f1'] for r in runs):8.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description="SAGED on synthetic held-out dirty/clean pairs")
    parser.add_argument("--tables", default="")
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=0.05)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=20)
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    from iml4e_components.error_detection.synthetic_tables import SYNTHETIC_TABLES

    tables = args.tables.split(",") if args.tables else sorted(SYNTHETIC_TABLES)
    report = evaluate(tables, args.rows, args.rate, args.seeds, args.budget)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = Path(args.out or RESULTS / f"error_detection_synthetic_{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json")
    out.write_text(json.dumps(report, indent=2))
    print_table(report)
    print(f"results: {out}")


if __name__ == "__main__":
    main()
