"""Next-day energy forecasting and meter-fault detection for one office building, retrained monthly.

    .venv/bin/python examples/energy-forecasting/run.py [--months 6]

The building's hourly meter readings are simulated (see `simulate.py`). Each simulated month the
forecaster is retrained on all history so far, judged on the same backtest month (the month after
the last training month, never trained on), logged to MLflow and registered; the registry's
champion/challenger rule (`iml4e_components.registry.core.register`) promotes it only when its
backtest MAE beats the champion's. The monthly loop calls the component cores directly (seconds per
month); the final retraining then runs once as the KFP pipeline in `pipeline.py` through the local
runner (`iml4e run`), judged by the same rule. `IML4E_EXAMPLE_SMALL=1` simulates four months instead of six.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

try:
    import iml4e  # noqa: F401  # the checkout's environment (`make install` creates .venv)
except ModuleNotFoundError:
    print(
        "error: this Python cannot import iml4e; use the checkout's environment: "
        "`make install`, then `.venv/bin/python examples/energy-forecasting/run.py`",
        file=sys.stderr,
    )
    sys.exit(2)

os.environ.setdefault("OMP_NUM_THREADS", "1")  # small models on a shared laptop: no thread contention

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from forecasting import FEATURES, TARGET, detect_anomalies, detection_quality, forecasting_table  # noqa: E402
from simulate import simulate_building  # noqa: E402

MODEL_NAME = "energy-forecaster"
EXPERIMENT = "energy-forecasting"
ESTIMATOR = "gradient_boosting_regressor"


def monthly_retraining(months: int, tracking_uri: str) -> tuple[list[dict[str, object]], dict[str, Path]]:
    """Retrain on 1..`months` months of history; returns one row per month and the final tables."""
    import mlflow
    import pandas as pd

    from iml4e_components.evaluation.core import evaluate
    from iml4e_components.registry.core import register
    from iml4e_components.tracking.core import finish_run, log_to_run, start_run
    from iml4e_components.training.core import train_estimator
    from iml4e_components.training.mlflow_model import log_sklearn_model

    readings = simulate_building(months + 1)
    table = forecasting_table(readings)
    backtest_month = months + 1
    backtest = table[table["month"] == backtest_month]
    clean_backtest = backtest[backtest["fault"] == ""][[*FEATURES, TARGET]]
    # Detection looks at the backtest month plus the week before it (for the lag features).
    window = readings[readings["timestamp"] >= backtest["timestamp"].min() - pd.Timedelta(hours=168)]
    window = window.reset_index(drop=True)

    client = mlflow.MlflowClient(tracking_uri)
    sweep = start_run(EXPERIMENT, run_name="history-sweep", tags={"iml4e.example": "energy-forecasting"})
    rows: list[dict[str, object]] = []
    for month in range(1, months + 1):
        history = table[table["month"] <= month]
        run_id = start_run(
            EXPERIMENT, run_name=f"history-{month}-months", tags={"iml4e.example": "energy-forecasting"}
        )
        model = train_estimator(history[[*FEATURES, TARGET]], TARGET, ESTIMATOR, seed=42)
        metrics = evaluate(model, clean_backtest, TARGET)
        flagged = detect_anomalies(model, window)
        quality = detection_quality(flagged.to_numpy(), window["fault"].iloc[168:])
        scores = {"mae": metrics["mae"], "rmse": metrics["rmse"], "r2": metrics["r2"], **quality}
        log_to_run(
            run_id,
            metrics={**scores, "history_months": month},
            params={"estimator": ESTIMATOR, "history_hours": len(history), "backtest_month": backtest_month},
        )
        for name, value in scores.items():
            client.log_metric(sweep, f"backtest_{name}", value, step=month)
        model_uri = log_sklearn_model(run_id, model, history)
        registration = register(model_uri, MODEL_NAME, "mae", scores["mae"])
        finish_run(run_id)
        rows.append(
            {
                "months": month,
                "history_hours": len(history),
                **{name: round(value, 3) for name, value in scores.items()},
                "version": registration.version,
                "promoted": registration.promoted,
                "champion_mae_before": None
                if registration.previous_value is None
                else round(registration.previous_value, 3),
            }
        )
        print(_row_text(rows[-1]), file=sys.stderr, flush=True)
    finish_run(sweep)
    folder = Path(tempfile.mkdtemp(prefix="energy-forecasting-"))
    files = {"history": folder / "history.csv", "backtest": folder / "backtest.csv"}
    table[table["month"] <= months][[*FEATURES, TARGET]].to_csv(files["history"], index=False)
    clean_backtest.to_csv(files["backtest"], index=False)
    return rows, files


def _row_text(row: dict[str, object]) -> str:
    verdict = "promoted to champion" if row["promoted"] else "champion stays"
    return (
        f"{row['months']} month(s) of history: backtest MAE {row['mae']:.2f} kWh, RMSE {row['rmse']:.2f}, "
        f"fault detection precision {row['anomaly_precision']:.2f} recall {row['anomaly_recall']:.2f} "
        f"-> version {row['version']}, {verdict}"
    )


def main() -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    small = os.environ.get("IML4E_EXAMPLE_SMALL") == "1"
    parser.add_argument("--months", type=int, default=4 if small else 6, help="months of history to grow to")
    options = parser.parse_args()
    if options.months < 2:
        parser.error("--months must be at least 2 to show retraining")

    from iml4e.local import platform
    from iml4e.local.pipeline_runner import run_pipeline

    tracking_uri = platform.up().status.record.url
    os.environ["MLFLOW_TRACKING_URI"] = tracking_uri
    print(f"MLflow tracking server: {tracking_uri} (experiment '{EXPERIMENT}')", file=sys.stderr)
    rows, files = monthly_retraining(options.months, tracking_uri)

    print("final retraining as a KFP pipeline (pipeline.py) through the local runner...", file=sys.stderr)
    result = run_pipeline(
        f"{HERE / 'pipeline.py'}:energy_retraining",
        [f"history={files['history']}", f"backtest={files['backtest']}", f"model_name={MODEL_NAME}"],
        tracking_uri,
    )
    pipeline_registration = result.output if isinstance(result.output, dict) else {}

    print(
        f"\n{'months':>6} {'MAE kWh':>8} {'RMSE':>7} {'fault P':>8} {'fault R':>8} {'version':>8}  champion"
    )
    for row in rows:
        print(
            f"{row['months']:>6} {row['mae']:>8.2f} {row['rmse']:>7.2f} {row['anomaly_precision']:>8.2f} "
            f"{row['anomaly_recall']:>8.2f} {row['version']:>8}  {'promoted' if row['promoted'] else 'stays'}"
        )
    first, last = rows[0], rows[-1]
    print(
        f"forecast MAE on the backtest month fell from {first['mae']:.2f} kWh with 1 month of history "
        f"to {last['mae']:.2f} kWh with {last['months']} months"
    )
    print(
        f"KFP pipeline run {result.run_id}: version {pipeline_registration.get('version')}, MAE "
        f"{pipeline_registration.get('value', float('nan')):.2f}, "
        f"{'promoted to champion' if pipeline_registration.get('promoted') else 'champion stays'}"
    )
    print(
        f"MLflow: {tracking_uri} (experiment '{EXPERIMENT}', run 'history-sweep' charts backtest_mae by month)"
    )
    summary = {
        "months": rows,
        "pipeline": pipeline_registration,
        "pipeline_run_id": result.run_id,
        "mlflow": tracking_uri,
    }
    if os.environ.get("IML4E_EXAMPLE_SUMMARY"):  # machine-readable copy for tests and scripts
        Path(os.environ["IML4E_EXAMPLE_SUMMARY"]).write_text(json.dumps(summary, indent=2, default=str))
    return summary


if __name__ == "__main__":
    main()
