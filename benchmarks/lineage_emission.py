"""What lineage costs a pipeline step, side by side.

For one step that reads a Parquet table and writes one (2,000 rows by default):
  * no lineage (the floor),
  * iml4e's `lineage_step` (START + COMPLETE through openlineage-python into the locked local store,
    with schema, row-count, null-count and content-digest facets computed from the files),
  * the official openlineage-python client with its own `FileTransport` (append mode) sending the
    same two events without dataset facets: what a user would otherwise write by hand.
Overhead per step = median wall time minus the floor. Results go to stdout and
`benchmarks/results/lineage_emission.json`.

Run: `python benchmarks/lineage_emission.py [--rows N] [--repeat N]` (part of `make bench`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

RESULTS = Path(__file__).resolve().parent / "results" / "lineage_emission.json"


def _step(source: Path, target: Path) -> None:
    frame = pd.read_parquet(source)
    frame.assign(total=frame["monthly_charges"] * frame["tenure_months"]).to_parquet(target, index=False)


def _timed(action: Callable[[], None], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()

    from openlineage.client import OpenLineageClient
    from openlineage.client.event_v2 import Job, Run, RunEvent, RunState
    from openlineage.client.transport.file import FileConfig, FileTransport
    from openlineage.client.uuid import generate_new_uuid

    from iml4e_components.datasets.core import generate_churn
    from iml4e_components.lineage.emit import lineage_step

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        os.environ["IML4E_HOME"] = str(root / "home")
        os.environ.pop("OPENLINEAGE_URL", None)
        source, target = root / "in.parquet", root / "out.parquet"
        generate_churn(n_rows=args.rows, seed=1).to_parquet(source, index=False)

        def with_iml4e() -> None:
            with lineage_step("bench_step", inputs={"table": str(source)}, outputs={"table": str(target)}):
                _step(source, target)

        client = OpenLineageClient(
            transport=FileTransport(FileConfig(log_file_path=str(root / "ol-events.jsonl"), append=True))
        )

        def with_official_client() -> None:
            run = Run(runId=str(generate_new_uuid()))
            job = Job(namespace="bench", name="bench_step")
            client.emit(
                RunEvent(eventType=RunState.START, eventTime=datetime.now(UTC).isoformat(), run=run, job=job)
            )
            _step(source, target)
            client.emit(
                RunEvent(
                    eventType=RunState.COMPLETE, eventTime=datetime.now(UTC).isoformat(), run=run, job=job
                )
            )

        _step(source, target)  # warm caches and imports once
        with_iml4e()
        with_official_client()
        floor = _timed(lambda: _step(source, target), args.repeat)
        iml4e = _timed(with_iml4e, args.repeat)
        official = _timed(with_official_client, args.repeat)

    result = {
        "rows": args.rows,
        "repeat": args.repeat,
        "step_without_lineage_ms": round(floor * 1000, 2),
        "iml4e_lineage_step_overhead_ms": round((iml4e - floor) * 1000, 2),
        "official_client_file_transport_overhead_ms": round((official - floor) * 1000, 2),
        "ratio_iml4e_to_official": round((iml4e - floor) / max(official - floor, 1e-9), 2),
        "note": "iml4e also computes schema, row/null counts and content digests of both tables; "
        "the official-client column emits bare events",
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
