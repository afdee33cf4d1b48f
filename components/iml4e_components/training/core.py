"""Splitting, preprocessing and training scikit-learn models from a declarative estimator name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from iml4e_components.datasets.core import require_columns
from iml4e_components.errors import ComponentError

#: Estimators `train_model` knows by name: (import path, task kind).
ESTIMATORS: dict[str, tuple[str, str]] = {
    "logistic_regression": ("sklearn.linear_model.LogisticRegression", "classification"),
    "random_forest": ("sklearn.ensemble.RandomForestClassifier", "classification"),
    "gradient_boosting": ("sklearn.ensemble.HistGradientBoostingClassifier", "classification"),
    "ridge": ("sklearn.linear_model.Ridge", "regression"),
    "random_forest_regressor": ("sklearn.ensemble.RandomForestRegressor", "regression"),
    "gradient_boosting_regressor": ("sklearn.ensemble.HistGradientBoostingRegressor", "regression"),
}


@dataclass(frozen=True)
class Split:
    train: pd.DataFrame
    test: pd.DataFrame


def split_table(frame: pd.DataFrame, target: str, test_size: float = 0.25, seed: int = 42) -> Split:
    """Split rows into train and test, stratified on `target` when it is a class label."""
    require_columns(frame, [target])
    if not 0.0 < test_size < 1.0:
        raise ComponentError(f"test_size must be between 0 and 1 (exclusive), got {test_size}")
    labels = frame[target]
    if labels.isna().all():
        raise ComponentError(f"target column '{target}' has no values")
    frame = frame[labels.notna()]
    labels = frame[target]
    stratify = labels if _is_class_label(labels) and labels.value_counts().min() >= 2 else None
    if len(frame) < 4:
        raise ComponentError(f"dataset has {len(frame)} labelled rows; at least 4 are needed to split it")
    train, test = train_test_split(frame, test_size=test_size, random_state=seed, stratify=stratify)
    return Split(train=train.reset_index(drop=True), test=test.reset_index(drop=True))


def _is_class_label(labels: pd.Series) -> bool:
    return bool(labels.dtype == object or labels.dtype == bool or labels.nunique() <= 20)


def identifier_columns(frame: pd.DataFrame) -> list[str]:
    """Text columns whose every value is distinct: identifiers that carry no signal."""
    return [
        str(c)
        for c in frame.columns
        if frame[c].dtype == object and len(frame) > 20 and frame[c].nunique(dropna=False) == len(frame)
    ]


def feature_columns(frame: pd.DataFrame, target: str, drop: list[str] | None = None) -> list[str]:
    excluded = {target, *(drop or []), *identifier_columns(frame)}
    columns = [str(c) for c in frame.columns if c not in excluded]
    if not columns:
        raise ComponentError(f"no feature columns left besides the target '{target}'")
    return columns


def build_preprocessor(features: pd.DataFrame) -> ColumnTransformer:
    """Impute, scale numbers and one-hot encode categories, as one fitted-with-the-model step."""
    numeric = [str(c) for c in features.columns if pd.api.types.is_numeric_dtype(features[c])]
    categorical = [str(c) for c in features.columns if c not in numeric]
    return ColumnTransformer(
        [
            ("numeric", Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]), numeric),
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


def make_estimator(name: str, params: dict[str, Any] | None = None, seed: int = 42) -> BaseEstimator:
    """Instantiate a known estimator by name with `params`; errors list the known names."""
    if name not in ESTIMATORS:
        raise ComponentError(f"unknown estimator '{name}'; choose one of: {', '.join(sorted(ESTIMATORS))}")
    import importlib

    module_name, class_name = ESTIMATORS[name][0].rsplit(".", 1)
    cls = getattr(importlib.import_module(module_name), class_name)
    kwargs = dict(params or {})
    if "random_state" in cls().get_params():
        kwargs.setdefault("random_state", seed)
    if name == "logistic_regression":
        kwargs.setdefault("max_iter", 1000)
    try:
        return cls(**kwargs)  # type: ignore[no-any-return]
    except TypeError as exc:
        raise ComponentError(f"bad parameters for estimator '{name}': {exc}") from exc


def task_kind(estimator: str) -> str:
    if estimator not in ESTIMATORS:
        raise ComponentError(f"unknown estimator '{estimator}'; choose one of: {', '.join(sorted(ESTIMATORS))}")
    return ESTIMATORS[estimator][1]


def train_estimator(
    train: pd.DataFrame,
    target: str,
    estimator: str = "logistic_regression",
    params: dict[str, Any] | None = None,
    seed: int = 42,
    drop_columns: list[str] | None = None,
) -> Pipeline:
    """Fit preprocessing and the named estimator on `train`; returns one scikit-learn Pipeline."""
    require_columns(train, [target], "training data")
    features = feature_columns(train, target, drop_columns)
    labels = train[target]
    if task_kind(estimator) == "classification" and labels.nunique() < 2:
        raise ComponentError(
            f"target column '{target}' has a single class ({labels.iloc[0]!r}); a classifier needs at least two"
        )
    model = Pipeline(
        [("preprocess", build_preprocessor(train[features])), ("estimator", make_estimator(estimator, params, seed))]
    )
    try:
        model.fit(train[features], labels)
    except ValueError as exc:
        raise ComponentError(f"training '{estimator}' on target '{target}' failed: {exc}") from exc
    return model


def model_features(model: Pipeline) -> list[str]:
    return [str(c) for c in np.asarray(model.feature_names_in_)]
