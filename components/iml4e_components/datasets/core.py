"""Loading tabular datasets and the project's own generated sample data (no downloads)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from iml4e_components.errors import ComponentError

#: Name of the generated dataset the quickstart uses when no path is given.
SAMPLE_DATASET = "sample:churn"
#: The same table with a few percent of its feature cells corrupted by the error generator.
DIRTY_SAMPLE_DATASET = "sample:churn-dirty"
SAMPLE_DATASETS = (SAMPLE_DATASET, DIRTY_SAMPLE_DATASET)
#: Share of feature cells the dirty sample corrupts.
DIRTY_SAMPLE_RATE = 0.03
#: The declared schema of the churn sample (see `iml4e_components.validation`).
CHURN_SCHEMA: dict[str, object] = {
    "columns": {
        "customer_id": {"type": "string", "nullable": False},
        "age": {"type": "integer", "min": 18, "max": 100},
        "region": {"type": "string", "allowed": ["north", "south", "east", "west"]},
        "contract": {"type": "string", "allowed": ["month-to-month", "one-year", "two-year"]},
        "tenure_months": {"type": "integer", "min": 0, "max": 120},
        "monthly_charges": {"type": "number", "min": 0, "max": 500},
        "support_calls": {"type": "integer", "min": 0, "max": 50},
        "churned": {"type": "integer", "min": 0, "max": 1, "nullable": False},
    },
    "max_violation_rate": 0.1,
}


def generate_churn(n_rows: int = 2000, seed: int = 7) -> pd.DataFrame:
    """A synthetic customer-churn table with a learnable signal, generated deterministically.

    Columns mix numbers and categories, and `churned` (0/1) depends on them through a logistic
    model with noise, so a decent classifier reaches roughly 0.8 accuracy.
    """
    if n_rows < 10:
        raise ComponentError(f"n_rows must be at least 10, got {n_rows}")
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 73, n_rows)
    monthly = np.round(rng.normal(65, 25, n_rows).clip(15, 150), 2)
    contract = rng.choice(["month-to-month", "one-year", "two-year"], n_rows, p=[0.55, 0.25, 0.2])
    region = rng.choice(["north", "south", "east", "west"], n_rows)
    support_calls = rng.poisson(1.5, n_rows)
    age = rng.integers(18, 80, n_rows)
    logit = (
        -0.5
        - 0.05 * tenure
        + 0.025 * (monthly - 65)
        + 0.45 * support_calls
        + np.select([contract == "month-to-month", contract == "one-year"], [1.3, 0.0], -1.2)
        + rng.normal(0, 0.6, n_rows)
    )
    churned = (rng.random(n_rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame(
        {
            "customer_id": [f"C{100000 + i}" for i in range(n_rows)],
            "age": age,
            "region": region,
            "contract": contract,
            "tenure_months": tenure,
            "monthly_charges": monthly,
            "support_calls": support_calls,
            "churned": churned,
        }
    )


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet file; errors name the file and what is wrong with it."""
    file = Path(path)
    if not file.exists():
        raise ComponentError(
            f"dataset file not found: {file}; check the path or pass an existing CSV/Parquet file"
        )
    if not file.is_file():
        raise ComponentError(f"dataset path is not a file: {file}")
    suffix = file.suffix.lower()
    try:
        if suffix in {".parquet", ".pq"}:
            frame = pd.read_parquet(file)
        elif suffix in {".csv", ".txt", ""}:
            frame = pd.read_csv(file)
        else:
            raise ComponentError(f"unsupported dataset format '{suffix}' for {file}; use .csv or .parquet")
    except UnicodeDecodeError as exc:
        raise ComponentError(
            f"dataset {file} is not UTF-8 text ({exc.reason}); re-encode it as UTF-8"
        ) from exc
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ComponentError(f"cannot read dataset {file}: {reason}") from exc
    if frame.empty or len(frame.columns) == 0:
        raise ComponentError(f"dataset {file} is empty; it needs a header row and at least one data row")
    return frame


def generate_dirty_churn(
    n_rows: int = 2000, seed: int = 7, rate: float = DIRTY_SAMPLE_RATE
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(dirty, clean): the churn sample with about `rate` of its feature cells corrupted.

    The identifier and the label stay intact; corrupted feature columns hold text, as a CSV with
    such errors would. The clean table is the ground truth for measuring error detection.
    """
    from iml4e_components.error_detection.injection import inject_errors

    clean = generate_churn(n_rows, seed)
    features = [c for c in clean.columns if c not in ("customer_id", "churned")]
    corrupted, _ = inject_errors(clean[features], rate, ("typo", "missing", "placeholder", "format"), seed)
    dirty = clean.copy()
    for column in features:
        if not corrupted[column].equals(clean[column].astype(str)):
            dirty[column] = corrupted[column].to_numpy()
    return dirty, clean


def load_sample(source: str, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """(table, clean ground truth or None) of a generated sample dataset."""
    if source in ("", SAMPLE_DATASET):
        return generate_churn(seed=seed), None
    if source == DIRTY_SAMPLE_DATASET:
        return generate_dirty_churn(seed=seed)
    raise ComponentError(f"unknown sample dataset '{source}'; choose one of: {', '.join(SAMPLE_DATASETS)}")


def sample_schema(source: str) -> dict[str, object] | None:
    """The declared schema of a sample dataset (None for other sources)."""
    return CHURN_SCHEMA if source in ("", *SAMPLE_DATASETS) else None


def load_table(source: str, seed: int = 7) -> pd.DataFrame:
    """Load `source`: a local path, an `s3://bucket/key` URI, or a `sample:` dataset (generated)."""
    if source == "" or source.startswith("sample:"):
        return load_sample(source, seed)[0]
    if source.startswith("s3://"):
        return read_table(_download_s3(source))
    return read_table(source)


def _download_s3(uri: str) -> Path:
    """Fetch an S3 object into a temporary file with the `minio` client (any S3 endpoint).

    Endpoint and credentials come from `AWS_ENDPOINT_URL` (or `MLFLOW_S3_ENDPOINT_URL`),
    `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`.
    """
    import tempfile
    from urllib.parse import urlparse

    from minio.error import S3Error

    from iml4e_components.object_store import client_from_env

    parsed = urlparse(uri)
    bucket, key = parsed.netloc, parsed.path.lstrip("/")
    if not bucket or not key:
        raise ComponentError(f"malformed S3 URI '{uri}'; expected s3://bucket/path/to/file.csv")
    client = client_from_env(f"reading {uri}")
    target = Path(tempfile.mkdtemp(prefix="iml4e-s3-")) / Path(key).name
    try:
        client.fget_object(bucket, key, str(target))
    except S3Error as exc:
        raise ComponentError(f"cannot read {uri}: {exc.code} ({exc.message})") from exc
    return target


def require_columns(frame: pd.DataFrame, columns: list[str], what: str = "dataset") -> None:
    """Fail with the names of the missing columns and the ones that exist."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ComponentError(
            f"{what} has no column {', '.join(repr(c) for c in missing)}; "
            f"available columns: {', '.join(map(str, frame.columns))}"
        )
