"""Model evaluation: overall and per-slice metrics, confusion matrix and plots.

Slice metrics are named `<metric>__<column>:<value>` (e.g. `accuracy__contract:two-year`), a form
MLflow accepts as a metric key and the model-card generator reads as (metric, slice). The headline
metrics come with a 95% bootstrap interval, `<metric>_ci_lower` / `<metric>_ci_upper` (per slice too).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from iml4e_components.datasets.core import require_columns
from iml4e_components.errors import ComponentError
from iml4e_components.training.core import model_features

#: Metrics for which a smaller value is better (used when comparing challenger and champion).
LOWER_IS_BETTER = frozenset({"rmse", "mae", "log_loss", "ece", "mce", "brier"})
#: A slice column may have at most this many distinct values.
MAX_SLICE_VALUES = 30
#: Slices with fewer test rows than this are left out (their metrics would be noise).
MIN_SLICE_ROWS = 10
#: Bootstrap resamples behind each 95% interval (percentile method, fixed seed).
BOOTSTRAP_RESAMPLES = 1000
_UNSAFE = re.compile(r"[^\w.\- /]")


def is_classifier(model: Any) -> bool:
    return hasattr(model, "predict_proba") and hasattr(model, "classes_")


def _scores(model: Any, x: pd.DataFrame, y: pd.Series) -> dict[str, float]:
    predictions = model.predict(x)
    if is_classifier(model):
        from iml4e_components.calibration.core import calibration_errors

        proba = model.predict_proba(x)
        binary = len(model.classes_) == 2
        result = {
            "accuracy": float(skm.accuracy_score(y, predictions)),
            "f1": float(
                skm.f1_score(
                    y, predictions, average="binary" if binary else "macro", pos_label=model.classes_[-1]
                )
            ),
            "log_loss": float(skm.log_loss(y, proba, labels=model.classes_)),
        }
        if binary and y.nunique() == 2:
            result["roc_auc"] = float(skm.roc_auc_score(y, proba[:, 1]))
        errors = calibration_errors(proba, y.to_numpy(), model.classes_)
        result.update({"ece": errors.ece, "mce": errors.mce})
        return result
    residuals = np.asarray(y, dtype=float) - np.asarray(predictions, dtype=float)
    return {
        "rmse": float(np.sqrt(np.mean(residuals**2))),
        "mae": float(np.mean(np.abs(residuals))),
        "r2": float(skm.r2_score(y, predictions)) if len(y) > 1 else float("nan"),
    }


def _f1(truth: np.ndarray, predicted: np.ndarray, positives: list[int], axis: int) -> np.ndarray:
    """Mean over `positives` of each class's F1 along `axis` (0 where a class is never seen nor predicted)."""
    scores = []
    for label in positives:
        hit, said = truth == label, predicted == label
        tp = np.sum(hit & said, axis=axis)
        wrong = np.sum(hit ^ said, axis=axis)
        scores.append(
            np.divide(2 * tp, 2 * tp + wrong, out=np.zeros(np.shape(tp)), where=(2 * tp + wrong) > 0)
        )
    return np.asarray(np.mean(scores, axis=0))


def intervals(
    model: Any, truth: pd.Series, predicted: np.ndarray, seed: int = 0
) -> dict[str, tuple[float, float]]:
    """95% percentile-bootstrap intervals of the headline metrics (paired resampling of rows)."""
    from scipy.stats import bootstrap

    if len(truth) < 2:
        return {}
    if is_classifier(model):
        classes = list(model.classes_)
        codes = {label: index for index, label in enumerate(classes)}
        y = np.array([codes.get(v, -1) for v in truth])
        p = np.array([codes.get(v, -1) for v in predicted])
        positives = [len(classes) - 1] if len(classes) == 2 else list(range(len(classes)))
        statistics = {
            "accuracy": lambda a, b, axis: np.mean(a == b, axis=axis),
            "f1": lambda a, b, axis: _f1(a, b, positives, axis),
        }
    else:
        y, p = np.asarray(truth, dtype=float), np.asarray(predicted, dtype=float)
        statistics = {
            "rmse": lambda a, b, axis: np.sqrt(np.mean((a - b) ** 2, axis=axis)),
            "mae": lambda a, b, axis: np.mean(np.abs(a - b), axis=axis),
        }
    found = {}
    for name, statistic in statistics.items():
        result = bootstrap(
            (y, p),
            statistic,
            paired=True,
            vectorized=True,
            n_resamples=BOOTSTRAP_RESAMPLES,
            method="percentile",
            confidence_level=0.95,
            rng=np.random.default_rng(seed),
        )
        low, high = result.confidence_interval
        found[name] = (float(low), float(high))
    return found


def _with_intervals(scores: dict[str, float], found: dict[str, tuple[float, float]], key: Any) -> None:
    for metric, (low, high) in found.items():
        scores[key(f"{metric}_ci_lower")] = low
        scores[key(f"{metric}_ci_upper")] = high


def slice_key(metric: str, column: str, value: Any) -> str:
    """The metric name of `metric` on rows where `column == value`."""
    return f"{metric}__{column}:{_UNSAFE.sub('_', str(value))}"


def evaluate(
    model: Any, test: pd.DataFrame, target: str, slices: list[str] | None = None
) -> dict[str, float]:
    """Classification or regression metrics on `test`, overall and for each value of each slice column."""
    features = model_features(model)
    require_columns(test, [*features, target], "test data")
    for column in slices or []:
        require_columns(test, [column], "test data (slice column)")
        if test[column].nunique() > MAX_SLICE_VALUES:
            raise ComponentError(
                f"slice column '{column}' has {test[column].nunique()} distinct values; "
                f"slice on a categorical column with at most {MAX_SLICE_VALUES}"
            )
    labelled = test[test[target].notna()]
    if labelled.empty:
        raise ComponentError(f"test data has no rows with a value in target column '{target}'")
    result = _scores(model, labelled[features], labelled[target])
    predicted = pd.Series(model.predict(labelled[features]), index=labelled.index)
    _with_intervals(result, intervals(model, labelled[target], predicted.to_numpy()), lambda name: name)
    headline = ("accuracy", "f1") if is_classifier(model) else ("rmse", "mae")
    for column in slices or []:
        for value, rows in labelled.groupby(column, sort=True):
            if len(rows) < MIN_SLICE_ROWS:
                continue
            scores = _scores(model, rows[features], rows[target])
            for metric in headline:
                result[slice_key(metric, column, value)] = scores[metric]
            found = intervals(model, rows[target], predicted.loc[rows.index].to_numpy())
            _with_intervals(result, found, lambda name, c=column, v=value: slice_key(name, c, v))
    return result


def write_plots(model: Any, test: pd.DataFrame, target: str, folder: str | Path) -> list[Path]:
    """Confusion matrix (JSON and PNG) for classifiers, predicted-vs-actual plot for regressors."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(folder)
    labelled = test[test[target].notna()]
    x, y = labelled[model_features(model)], labelled[target]
    predictions = model.predict(x)
    figure, axes = plt.subplots(figsize=(5, 4))
    written = []
    if is_classifier(model):
        labels = list(model.classes_)
        matrix = skm.confusion_matrix(y, predictions, labels=labels)
        matrix_file = out / "confusion_matrix.json"
        matrix_file.write_text(
            json.dumps({"labels": [str(v) for v in labels], "matrix": matrix.tolist()}, indent=2)
        )
        written.append(matrix_file)
        skm.ConfusionMatrixDisplay(matrix, display_labels=labels).plot(ax=axes, colorbar=False)
        axes.set_title("confusion matrix (test split)")
        image = out / "confusion_matrix.png"
    else:
        axes.scatter(y, predictions, s=6, alpha=0.6)
        low, high = float(np.min(y)), float(np.max(y))
        axes.plot([low, high], [low, high], linestyle="--", color="grey")
        axes.set_xlabel("actual")
        axes.set_ylabel("predicted")
        axes.set_title("predicted vs actual (test split)")
        image = out / "predicted_vs_actual.png"
    figure.tight_layout()
    figure.savefig(image, format="png", dpi=80)
    plt.close(figure)
    written.append(image)
    return written


def evaluate_logged(
    model: Any, test: pd.DataFrame, target: str, run_id: str, slices: list[str] | None = None
) -> dict[str, float]:
    """`evaluate`, then log the metrics and the plots (under `evaluation/`) to MLflow run `run_id`."""
    import tempfile

    import mlflow

    from iml4e_components.tracking.core import log_to_run

    scores = evaluate(model, test, target, slices)
    log_to_run(run_id, metrics=scores)
    client = mlflow.MlflowClient()
    with tempfile.TemporaryDirectory(prefix="iml4e-evaluation-") as folder:
        for path in write_plots(model, test, target, folder):
            client.log_artifact(run_id, str(path), artifact_path="evaluation")
    return scores


def is_better(candidate: float, incumbent: float, metric: str) -> bool:
    """Whether `candidate` beats `incumbent` on `metric` (strictly)."""
    return candidate < incumbent if metric in LOWER_IS_BETTER else candidate > incumbent
