"""Training features served from Feast: materialize, build a point-in-time training table, train, score online.

    .venv/bin/python examples/feature-store/run.py

1. Simulates weekly account snapshots for customers and their churn labels, into a copy of
   `feature_repo/` under the state directory (`$IML4E_HOME` or `./.iml4e`).
2. Runs `pipeline.py` through the local runner (`iml4e run`): `materialize_features` loads the
   features into the sqlite online store, `get_training_features` joins each label with the feature
   values as of the label's time (never later ones).
3. Trains and evaluates a classifier on that table (component cores, in-process).
4. Reads the latest features of three customers from the online store and scores them, as a model
   server would.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

try:
    import iml4e  # noqa: F401  # the checkout's environment (`make install` creates .venv)
except ModuleNotFoundError:
    print(
        "error: this Python cannot import iml4e; use the checkout's environment: "
        "`make install`, then `.venv/bin/python examples/feature-store/run.py`",
        file=sys.stderr,
    )
    sys.exit(2)

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
FEATURES = ["tenure_months", "monthly_charges", "support_calls_30d", "logins_30d"]
END = pd.Timestamp("2025-07-01", tz="UTC")


def simulate_accounts(customers: int, seed: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Weekly feature snapshots for six months and one churn label per customer at a random time."""
    rng = np.random.default_rng(seed)
    weeks = pd.date_range(pd.Timestamp("2025-01-06", tz="UTC"), END - pd.Timedelta(days=1), freq="7D")
    base_tenure = rng.integers(1, 60, customers)
    charges = rng.uniform(20, 120, customers).round(2)
    unhappy = rng.random(customers) < 0.35
    rows = []
    for week_index, week in enumerate(weeks):
        drift = week_index / len(weeks)  # unhappy customers call more and log in less over time
        calls = rng.poisson(np.where(unhappy, 1 + 4 * drift, 0.6))
        logins = rng.poisson(np.where(unhappy, 20 * (1 - drift) + 2, 18))
        rows.append(
            pd.DataFrame(
                {
                    "customer_id": np.arange(customers, dtype="int64"),
                    "event_timestamp": week,
                    "tenure_months": (base_tenure + week_index // 4).astype("int64"),
                    "monthly_charges": charges,
                    "support_calls_30d": calls.astype("int64"),
                    "logins_30d": logins.astype("int64"),
                }
            )
        )
    activity = pd.concat(rows, ignore_index=True)
    label_times = weeks[rng.integers(8, len(weeks), customers)] + pd.Timedelta(hours=12)
    labels = pd.DataFrame(
        {
            "customer_id": np.arange(customers, dtype="int64"),
            "event_timestamp": label_times,
            "churned": (unhappy & (rng.random(customers) < 0.85)) | (rng.random(customers) < 0.05),
        }
    )
    labels["churned"] = labels["churned"].astype(int)
    return activity, labels


def main() -> dict[str, object]:
    from iml4e.local import platform
    from iml4e.local.pipeline_runner import run_pipeline
    from iml4e.paths import state_dir
    from iml4e_components.evaluation.core import evaluate
    from iml4e_components.feature_store.core import get_online_features
    from iml4e_components.training.core import train_estimator

    customers = 150 if os.environ.get("IML4E_EXAMPLE_SMALL") == "1" else 600
    repo = state_dir() / "examples" / "feature-store" / "feature_repo"
    shutil.rmtree(repo, ignore_errors=True)
    shutil.copytree(HERE / "feature_repo", repo, ignore=shutil.ignore_patterns("data", "__pycache__"))
    (repo / "data").mkdir()
    activity, labels = simulate_accounts(customers)
    activity.to_parquet(repo / "data" / "account_activity.parquet", index=False)
    labels_file = repo.parent / "labels.parquet"
    labels.to_parquet(labels_file, index=False)
    print(f"feature repo: {repo} ({len(activity)} snapshots of {customers} customers)", file=sys.stderr)

    tracking_uri = platform.up().status.record.url
    result = run_pipeline(
        f"{HERE / 'pipeline.py'}:feature_store_training_table",
        [f"repo_path={repo}", f"labels={labels_file}", f"end_date={END.isoformat()}"],
        tracking_uri,
    )
    tables = sorted(
        (state_dir() / "pipelines").glob(
            "feature-store-training-table-*/get-training-features/training_features"
        )
    )
    training = pd.read_parquet(tables[-1])
    print(f"training table from Feast: {len(training)} rows, columns {', '.join(training.columns)}")

    shuffled = training.sample(frac=1.0, random_state=3)
    cut = int(len(shuffled) * 0.75)
    train, test = shuffled.iloc[:cut], shuffled.iloc[cut:]
    model = train_estimator(train[[*FEATURES, "churned"]], "churned", "logistic_regression", seed=42)
    metrics = {
        k: round(v, 3)
        for k, v in evaluate(model, test[[*FEATURES, "churned"]], "churned").items()
        if "__" not in k
    }
    print(f"held-out metrics: {json.dumps(metrics)}")

    online = get_online_features(
        repo, [{"customer_id": c} for c in (0, 1, 2)], feature_service="churn_model_features"
    )
    online["churn_probability"] = model.predict_proba(online[FEATURES])[:, 1].round(3)
    print("online features (latest materialized values) and scores:")
    print(online[["customer_id", *FEATURES, "churn_probability"]].to_string(index=False))
    return {
        "materialized": result.output,
        "training_rows": len(training),
        "metrics": metrics,
        "online": online.to_dict(orient="records"),
    }


if __name__ == "__main__":
    summary = main()
    if os.environ.get("IML4E_EXAMPLE_SUMMARY"):  # machine-readable copy for tests and scripts
        Path(os.environ["IML4E_EXAMPLE_SUMMARY"]).write_text(json.dumps(summary, indent=2, default=str))
