"""Training scikit-learn estimators named in configuration, with an optional small grid search.

The preprocessing comes from `preparation` (fitted on the training split); this module adds the
estimator and returns one scikit-learn Pipeline `[preprocess, estimator]` to save and serve.
"""

from __future__ import annotations

import importlib
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline

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

#: The largest grid `search` may ask for: the search is meant to be small.
MAX_SEARCH_CANDIDATES = 24


@dataclass(frozen=True)
class Trained:
    model: Pipeline
    params: dict[str, Any]
    search_score: float | None = None
    searched: dict[str, list[Any]] = field(default_factory=dict)


def task_kind(estimator: str) -> str:
    """`classification` or `regression` for a known estimator name."""
    if estimator not in ESTIMATORS:
        raise ComponentError(
            f"unknown estimator '{estimator}'; choose one of: {', '.join(sorted(ESTIMATORS))}"
        )
    return ESTIMATORS[estimator][1]


def make_estimator(name: str, params: dict[str, Any] | None = None, seed: int = 42) -> BaseEstimator:
    """Instantiate a known estimator by name with `params`; errors list the known names."""
    task_kind(name)
    module_name, class_name = ESTIMATORS[name][0].rsplit(".", 1)
    cls = getattr(importlib.import_module(module_name), class_name)
    kwargs = dict(params or {})
    defaults = cls().get_params()
    unknown = sorted(set(kwargs) - set(defaults))
    if unknown:
        raise ComponentError(
            f"estimator '{name}' has no parameter {', '.join(map(repr, unknown))}; "
            f"it takes: {', '.join(sorted(defaults))}"
        )
    if "random_state" in defaults:
        kwargs.setdefault("random_state", seed)
    if name == "logistic_regression":
        kwargs.setdefault("max_iter", 1000)
    return cls(**kwargs)


def parse_json_object(text: str, parameter: str) -> dict[str, Any]:
    """A JSON object given as a pipeline string parameter ("" means `{}`)."""
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError as exc:
        raise ComponentError(
            f"parameter '{parameter}' is not valid JSON ({exc.msg}); e.g. '{{\"C\": [0.1, 1.0]}}'"
        ) from exc
    if not isinstance(value, dict):
        raise ComponentError(f"parameter '{parameter}' must be a JSON object, got {type(value).__name__}")
    return value


def model_features(model: Any) -> list[str]:
    """The input columns a fitted model (or preprocessor) expects."""
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        raise ComponentError("the model does not record its input columns; train it on a pandas DataFrame")
    return [str(c) for c in np.asarray(names)]


def _check_search(search: dict[str, Any], estimator: str) -> dict[str, list[Any]]:
    grid: dict[str, list[Any]] = {}
    for key, values in search.items():
        if not isinstance(values, list) or not values:
            raise ComponentError(
                f"search parameter '{key}' must map to a non-empty list of values, got {values!r}"
            )
        grid[key] = values
    make_estimator(estimator, {k: v[0] for k, v in grid.items()})  # names are checked here
    candidates = int(np.prod([len(v) for v in grid.values()])) if grid else 0
    if candidates > MAX_SEARCH_CANDIDATES:
        raise ComponentError(
            f"search grid has {candidates} candidates; keep it at most {MAX_SEARCH_CANDIDATES} (fewer values per parameter)"
        )
    return grid


def _cross_validated_best(
    preprocessor: ColumnTransformer,
    x: pd.DataFrame,
    y: pd.Series,
    estimator: str,
    params: dict[str, Any],
    grid: dict[str, list[Any]],
    seed: int,
    folds: int,
) -> tuple[dict[str, Any], float]:
    """Grid search with seeded K-fold CV; the preprocessor is refitted inside each fold (no leakage)."""
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score

    classification = task_kind(estimator) == "classification"
    splitter = (StratifiedKFold if classification else KFold)(n_splits=folds, shuffle=True, random_state=seed)
    best: tuple[dict[str, Any], float] | None = None
    keys = sorted(grid)
    for values in itertools.product(*(grid[k] for k in keys)):
        candidate = dict(zip(keys, values, strict=True))
        pipeline = Pipeline(
            [
                ("preprocess", clone(preprocessor)),
                ("estimator", make_estimator(estimator, {**params, **candidate}, seed)),
            ]
        )
        score = float(np.mean(cross_val_score(pipeline, x, y, cv=splitter)))
        if best is None or score > best[1]:
            best = (candidate, score)
    assert best is not None
    return best


def fit_estimator(
    train: pd.DataFrame,
    target: str,
    preprocessor: ColumnTransformer,
    estimator: str = "logistic_regression",
    params: dict[str, Any] | None = None,
    search: dict[str, Any] | None = None,
    seed: int = 42,
    folds: int = 3,
) -> Trained:
    """Fit the named estimator on the preprocessed training split.

    With `search` (parameter -> list of values) the best combination by `folds`-fold CV is used.
    The returned pipeline holds `preprocessor` as fitted by `prepare_data`.
    """
    kind = task_kind(estimator)
    features = model_features(preprocessor)
    require_columns(train, [*features, target], "training data")
    labels = train[target]
    if labels.isna().any():
        raise ComponentError(
            f"target column '{target}' has {int(labels.isna().sum())} missing values in the training split"
        )
    if kind == "classification" and labels.nunique() < 2:
        raise ComponentError(
            f"target column '{target}' has a single class ({labels.iloc[0]!r}); a classifier needs at least two"
        )
    fixed = dict(params or {})
    grid = _check_search(search or {}, estimator)
    score: float | None = None
    chosen = dict(fixed)
    try:
        if grid:
            best, score = _cross_validated_best(
                preprocessor, train[features], labels, estimator, fixed, grid, seed, folds
            )
            chosen.update(best)
        fitted = make_estimator(estimator, chosen, seed)
        fitted.fit(preprocessor.transform(train[features]), labels)
    except (ValueError, ComponentError) as exc:  # scikit-learn's, and make_estimator's unknown parameter
        reason = str(exc).splitlines()[0]
        raise ComponentError(f"training '{estimator}' on target '{target}' failed: {reason}") from exc
    model = Pipeline([("preprocess", preprocessor), ("estimator", fitted)])
    return Trained(model=model, params=chosen, search_score=score, searched=grid)


def train_estimator(
    frame: pd.DataFrame,
    target: str,
    estimator: str = "logistic_regression",
    params: dict[str, Any] | None = None,
    seed: int = 42,
    drop_columns: list[str] | None = None,
) -> Pipeline:
    """Preprocessor fitted on all of `frame` plus the estimator: one call for tests and examples
    that need a model but no split (pipelines use `prepare_data` and `fit_estimator`)."""
    from iml4e_components.preparation.core import build_preprocessor, feature_columns

    features = feature_columns(frame, target, drop_columns)
    preprocessor = build_preprocessor(frame[features])
    preprocessor.fit(frame[features])
    return fit_estimator(frame, target, preprocessor, estimator, params, seed=seed).model
