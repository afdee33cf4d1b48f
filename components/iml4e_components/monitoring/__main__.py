"""`python -m iml4e_components.monitoring`: the drift monitor of served models, as the cluster runs it.

One process watches every model given with `--watch NAME=REFERENCE`: every `--interval` seconds it
compares each model's logged requests within `--window` with its reference data, writes the
HTML report under `--state-dir`, and keeps the gauges at `--host:--metrics-port/metrics` for
Prometheus to scrape. Requests come from the object store when `IML4E_REQUEST_LOG_BUCKET` is set
(as on the cluster), else from the state directory. One line of JSON per check goes to stdout,
one line per failed check to stderr. `iml4e monitor` is the same check for one model, locally.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from iml4e_components.conventions import state_dir
from iml4e_components.errors import ComponentError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m iml4e_components.monitoring", description=__doc__, allow_abbrev=False
    )
    parser.add_argument(
        "--watch",
        action="append",
        default=[],
        metavar="NAME=REFERENCE",
        help="Served model name and its reference data (CSV/Parquet path or s3://bucket/key); repeatable",
    )
    parser.add_argument("--window", default="1d", help="Only requests this recent: 30m, 6h, 1d ... or all")
    parser.add_argument("--interval", type=float, default=300.0, help="Seconds between rounds of checks")
    parser.add_argument("--once", action="store_true", help="Check every model once and exit")
    parser.add_argument("--metrics-port", type=int, default=None, help="Serve the gauges on this port")
    parser.add_argument("--host", default="127.0.0.1", help="Address of the metrics endpoint")
    parser.add_argument(
        "--state-dir",
        default=str(state_dir()),
        help="Where reports and latest.json go (monitoring/NAME/)",
    )
    args = parser.parse_args(argv)
    import pandas as pd

    from iml4e_components.monitoring.core import monitor_round, parse_watch, parse_window
    from iml4e_components.monitoring.prometheus import DriftGauges
    from iml4e_components.serving.log_store import request_log_store

    def report_failure(model: str, exc: Exception) -> None:
        sys.stderr.write(f"error: model '{model}': {exc}\n")

    try:
        watched = parse_watch(args.watch)
        window_seconds = parse_window(args.window)
        if args.interval <= 0:
            raise ComponentError(f"--interval {args.interval} must be positive; use e.g. 300")
        store = request_log_store(args.state_dir)
    except ComponentError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    gauges = DriftGauges()
    if args.metrics_port is not None:
        gauges.serve(args.metrics_port, args.host)
    references: dict[str, pd.DataFrame] = {}
    while True:
        checks = monitor_round(
            args.state_dir, watched, references, window_seconds, gauges, store, report_failure
        )
        for check in checks:
            summary = {k: v for k, v in check.as_dict().items() if k != "features"}
            sys.stdout.write(json.dumps(summary) + "\n")
        sys.stdout.flush()
        if args.once:
            return 0 if len(checks) == len(watched) else 1
        time.sleep(args.interval)


if __name__ == "__main__":
    sys.exit(main())
