"""Quickstart: start the local platform and run the `tabular_training` pipeline on the bundled churn table.

    .venv/bin/python examples/quickstart/run.py  # or: iml4e run tabular_training --param dataset=examples/quickstart/data/churn.csv

Prints the registration (model version, champion or not, gated metric) and where to look in MLflow.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

try:
    import iml4e  # noqa: F401  # the checkout's environment (`make install` creates .venv)
except ModuleNotFoundError:
    print(
        "error: this Python cannot import iml4e; use the checkout's environment: "
        "`make install`, then `.venv/bin/python examples/quickstart/run.py`",
        file=sys.stderr,
    )
    sys.exit(2)

DATASET = Path(__file__).resolve().parent / "data" / "churn.csv"


def main() -> dict[str, object]:
    from iml4e.cli.local_commands import run_with_progress
    from iml4e.local import platform

    tracking_uri = platform.up().status.record.url
    print(f"MLflow tracking server: {tracking_uri}", file=sys.stderr)
    pairs = [f"dataset={DATASET}", "model_name=quickstart-churn", "experiment=quickstart"]
    if os.environ.get("IML4E_EXAMPLE_SMALL") == "1":
        pairs.append("calibration_methods=temperature")
    result = run_with_progress("tabular_training", pairs)
    registration = result.output if isinstance(result.output, dict) else {}
    summary = {
        "pipeline": result.pipeline,
        "status": result.status,
        "seconds": round(result.seconds, 1),
        "model": f"{registration.get('name')} version {registration.get('version')}",
        "promoted_to_champion": registration.get("promoted"),
        "gate_metric": registration.get("metric"),
        "value": registration.get("value"),
        "champion_uri": registration.get("champion_uri"),
        "mlflow_ui": tracking_uri,
        "log": result.log,
    }
    print(json.dumps(summary, indent=2))
    print("stop the platform with: iml4e down", file=sys.stderr)
    return summary


if __name__ == "__main__":
    main()
