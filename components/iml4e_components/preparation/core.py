"""Data preparation: the seeded, stratified split and the one fitted preprocessor.

The preprocessor (imputation, scaling, one-hot encoding) is fitted here, on the training split
only, and travels with the model: `train_model` puts this very object in front of the estimator.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from iml4e_components.datasets.core import require_columns
from iml4e_components.errors import ComponentError

#: A target with at most this many distinct values is treated as a class label (stratified split).
MAX_CLASSES = 20


@dataclass(frozen=True)
class Split:
    train: pd.DataFrame
    calibration: pd.DataFrame
    test: pd.DataFrame


@dataclass(frozen=True)
class Prepared:
    split: Split
    preprocessor: ColumnTransformer
    features: list[str]


def is_class_label(labels: pd.Series) -> bool:
    """Whether `labels` look like class labels rather than a continuous quantity."""
    return bool(
        labels.dtype == object
        or labels.dtype == bool
        or str(labels.dtype) == "category"
        or labels.nunique() <= MAX_CLASSES
    )


def _split_once(
    frame: pd.DataFrame, target: str, size: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    labels = frame[target]
    stratify = labels if is_class_label(labels) and labels.value_counts().min() >= 2 else None
    try:
        first, second = train_test_split(frame, test_size=size, random_state=seed, stratify=stratify)
    except ValueError as exc:
        raise ComponentError(f"cannot split {len(frame)} rows on target '{target}': {exc}") from exc
    return first.reset_index(drop=True), second.reset_index(drop=True)


def split_table(
    frame: pd.DataFrame, target: str, test_size: float = 0.2, calibration_size: float = 0.2, seed: int = 42
) -> Split:
    """Split rows into train, calibration and test sets, stratified on `target` when it is a label.

    `test_size` is a share of all labelled rows, `calibration_size` a share of what remains
    (0 gives an empty calibration set). Rows without a target value are dropped first.
    """
    require_columns(frame, [target])
    for name, value in (("test_size", test_size), ("calibration_size", calibration_size)):
        if not 0.0 <= value < 1.0 or (name == "test_size" and value == 0.0):
            raise ComponentError(f"{name} must be a share between 0 and 1, got {value}")
    if frame.empty:
        raise ComponentError("dataset is empty; it needs at least a few labelled rows")
    labelled = frame[frame[target].notna()]
    if labelled.empty:
        raise ComponentError(f"target column '{target}' has no values; every row's label is missing")
    if labelled[target].nunique() < 2:
        raise ComponentError(
            f"target column '{target}' has a single value ({labelled[target].iloc[0]!r}); "
            "a model needs at least two classes or values to learn from"
        )
    if len(labelled) < 10:
        raise ComponentError(f"dataset has {len(labelled)} labelled rows; at least 10 are needed to split it")
    rest, test = _split_once(labelled, target, test_size, seed)
    if calibration_size == 0.0:
        return Split(train=rest, calibration=rest.iloc[0:0], test=test)
    train, calibration = _split_once(rest, target, calibration_size, seed)
    return Split(train=train, calibration=calibration, test=test)


def identifier_columns(frame: pd.DataFrame) -> list[str]:
    """Text columns whose every present value is distinct: identifiers that carry no signal (a few
    cells nulled by error cleaning do not turn an identifier into a feature)."""
    found = []
    for column in frame.columns:
        present = frame[column].dropna()
        if frame[column].dtype == object and len(present) > 20 and present.is_unique:
            found.append(str(column))
    return found


def feature_columns(frame: pd.DataFrame, target: str, drop: list[str] | None = None) -> list[str]:
    """The columns a model learns from: all but the target, `drop` and identifier-like columns."""
    require_columns(frame, [target, *(drop or [])])
    excluded = {target, *(drop or []), *identifier_columns(frame)}
    columns = [str(c) for c in frame.columns if c not in excluded]
    if not columns:
        raise ComponentError(
            f"no feature columns left besides the target '{target}'; the dataset needs inputs"
        )
    return columns


def build_preprocessor(features: pd.DataFrame) -> ColumnTransformer:
    """Impute, scale numbers and one-hot encode categories (unfitted)."""
    numeric = [str(c) for c in features.columns if pd.api.types.is_numeric_dtype(features[c])]
    categorical = [str(c) for c in features.columns if c not in numeric]
    return ColumnTransformer(
        [
            (
                "numeric",
                Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]),
                numeric,
            ),
            (
                "categorical",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="most_frequent")),
                        ("encode", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
                    ]
                ),
                categorical,
            ),
        ]
    )


def prepare(
    frame: pd.DataFrame,
    target: str,
    test_size: float = 0.2,
    calibration_size: float = 0.2,
    seed: int = 42,
    drop_columns: list[str] | None = None,
) -> Prepared:
    """Split `frame` and fit the preprocessor on the training split's feature columns."""
    features = feature_columns(frame, target, drop_columns)
    split = split_table(frame, target, test_size=test_size, calibration_size=calibration_size, seed=seed)
    preprocessor = build_preprocessor(split.train[features])
    try:
        preprocessor.fit(split.train[features])
    except (ValueError, TypeError) as exc:
        raise ComponentError(
            f"fitting the preprocessor on columns {', '.join(features)} failed: {exc}"
        ) from exc
    return Prepared(split=split, preprocessor=preprocessor, features=features)


def parse_columns(text: str) -> list[str]:
    """`"a, b"` -> `["a", "b"]` (the form list parameters take in pipelines)."""
    return [part.strip() for part in text.split(",") if part.strip()]
