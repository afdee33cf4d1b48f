"""Confidence calibration: expected/maximum calibration error, reliability diagram, and choosing
temperature scaling, isotonic regression or Platt scaling on a held-out split.

The calibrators are scikit-learn's (`CalibratedClassifierCV` over the frozen, already trained
model), so the calibrated model stays a plain scikit-learn object that MLflow saves and serves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from iml4e_components.datasets.core import require_columns
from iml4e_components.errors import ComponentError

#: Calibration methods by their iml4e name -> scikit-learn's `CalibratedClassifierCV(method=...)`.
METHODS: dict[str, str] = {"temperature": "temperature", "isotonic": "isotonic", "platt": "sigmoid"}
#: The choice that keeps the model as trained (selected when no calibrator lowers the ECE).
UNCALIBRATED = "none"


@dataclass(frozen=True)
class CalibrationErrors:
    ece: float
    mce: float
    #: Per non-empty bin: lower edge, upper edge, mean confidence, accuracy, count.
    bins: list[tuple[float, float, float, float, int]]


@dataclass(frozen=True)
class CalibrationResult:
    model: Any
    method: str
    before: CalibrationErrors
    after: CalibrationErrors
    candidates: dict[str, float] = field(default_factory=dict)

    def metrics(self) -> dict[str, float]:
        return {
            "calibration_ece_before": self.before.ece,
            "calibration_ece_after": self.after.ece,
            "calibration_mce_before": self.before.mce,
            "calibration_mce_after": self.after.mce,
            **{f"calibration_ece_{name}": value for name, value in self.candidates.items()},
        }


def calibration_errors(
    proba: np.ndarray, labels: np.ndarray, classes: np.ndarray, n_bins: int = 10
) -> CalibrationErrors:
    """ECE and MCE of the top-label confidence over `n_bins` equal-width bins."""
    if len(labels) == 0:
        raise ComponentError(
            "cannot measure calibration on an empty set; give the calibration split some rows"
        )
    proba = np.asarray(proba, dtype=float)
    confidence = proba.max(axis=1)
    correct = np.asarray(classes)[proba.argmax(axis=1)] == np.asarray(labels)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, n_bins - 1)
    ece, mce, table = 0.0, 0.0, []
    for b in range(n_bins):
        members = which == b
        count = int(members.sum())
        if count == 0:
            continue
        mean_conf, accuracy = float(confidence[members].mean()), float(correct[members].mean())
        gap = abs(accuracy - mean_conf)
        ece += gap * count / len(labels)
        mce = max(mce, gap)
        table.append((float(edges[b]), float(edges[b + 1]), mean_conf, accuracy, count))
    return CalibrationErrors(ece=float(ece), mce=float(mce), bins=table)


def model_errors(
    model: Any, frame: pd.DataFrame, target: str, features: list[str], n_bins: int = 10
) -> CalibrationErrors:
    return calibration_errors(
        model.predict_proba(frame[features]), frame[target].to_numpy(), model.classes_, n_bins
    )


def calibrate(
    model: Any,
    calibration: pd.DataFrame,
    target: str,
    features: list[str],
    methods: list[str] | None = None,
    seed: int = 42,
    n_bins: int = 10,
) -> CalibrationResult:
    """Fit each method on one half of `calibration`, keep the one with the lowest ECE on the other.

    The chosen calibrator is then refitted on the whole calibration split. `none` (the model as
    trained) competes too, so calibration never makes the held-out ECE worse.
    """
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator
    from sklearn.model_selection import train_test_split

    if not hasattr(model, "predict_proba"):
        raise ComponentError(
            "calibrate_confidence needs a classifier with predicted probabilities; this model is a regressor"
        )
    chosen_methods = methods or list(METHODS)
    unknown = [m for m in chosen_methods if m not in METHODS]
    if unknown:
        raise ComponentError(
            f"unknown calibration method {', '.join(map(repr, unknown))}; choose from: {', '.join(METHODS)}"
        )
    require_columns(calibration, [*features, target], "calibration data")
    labelled = calibration[calibration[target].notna()]
    counts = labelled[target].value_counts()
    if len(labelled) < 20 or len(counts) < 2 or counts.min() < 2:
        raise ComponentError(
            f"the calibration split has {len(labelled)} labelled rows and {len(counts)} classes; "
            "it needs at least 20 rows with two or more of each class (raise calibration_size)"
        )
    fit_half, select_half = train_test_split(
        labelled, test_size=0.5, random_state=seed, stratify=labelled[target]
    )

    def fitted(method: str, frame: pd.DataFrame) -> Any:
        calibrated = CalibratedClassifierCV(FrozenEstimator(model), method=METHODS[method])
        return calibrated.fit(frame[features], frame[target].to_numpy())

    before = model_errors(model, select_half, target, features, n_bins)
    candidates = {UNCALIBRATED: before.ece}
    on_half = {method: fitted(method, fit_half) for method in chosen_methods}
    for method, calibrated in on_half.items():
        candidates[method] = model_errors(calibrated, select_half, target, features, n_bins).ece
    best = min(candidates, key=lambda name: (candidates[name], name != UNCALIBRATED))
    if best == UNCALIBRATED:
        return CalibrationResult(model=model, method=best, before=before, after=before, candidates=candidates)
    after = model_errors(on_half[best], select_half, target, features, n_bins)
    final = fitted(best, labelled)
    return CalibrationResult(model=final, method=best, before=before, after=after, candidates=candidates)


def plot_reliability(
    before: CalibrationErrors, after: CalibrationErrors, method: str, path: str | Path
) -> Path:
    """A reliability diagram (accuracy against confidence per bin) before and after, as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(5, 5))
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    for errors, label in ((before, "as trained"), (after, f"calibrated ({method})")):
        axes.plot(
            [b[2] for b in errors.bins],
            [b[3] for b in errors.bins],
            marker="o",
            label=f"{label}, ECE {errors.ece:.3f}",
        )
    axes.set_xlabel("confidence")
    axes.set_ylabel("accuracy")
    axes.set_title("reliability diagram")
    axes.legend(loc="upper left")
    target = Path(path)
    figure.savefig(target, format="png", dpi=80)
    plt.close(figure)
    return target


@dataclass(frozen=True)
class LoggedCalibration:
    model: Any
    method: str
    model_uri: str
    metrics: dict[str, float]


def calibrate_logged(
    model: Any,
    calibration: pd.DataFrame,
    target: str,
    run_id: str,
    model_uri: str,
    methods: list[str] | None = None,
    seed: int = 42,
) -> LoggedCalibration:
    """`calibrate`, then log metrics, the reliability diagram and (if it changed) the model to MLflow."""
    import tempfile

    from iml4e_components.tracking.core import log_to_run
    from iml4e_components.training.core import model_features

    if not hasattr(model, "predict_proba"):
        log_to_run(run_id, params={"calibration_method": "not_applicable"})
        return LoggedCalibration(model=model, method="not_applicable", model_uri=model_uri, metrics={})
    result = calibrate(model, calibration, target, model_features(model), methods, seed)
    metrics = result.metrics()
    import mlflow

    with tempfile.TemporaryDirectory(prefix="iml4e-calibration-") as folder:
        plot = plot_reliability(result.before, result.after, result.method, Path(folder) / "reliability.png")
        mlflow.MlflowClient().log_artifact(run_id, str(plot), artifact_path="calibration")
    log_to_run(run_id, metrics=metrics, params={"calibration_method": result.method})
    uri = model_uri
    if result.method != UNCALIBRATED:
        from iml4e_components.training.mlflow_model import log_sklearn_model

        uri = log_sklearn_model(run_id, result.model, calibration, name="calibrated_model")
    return LoggedCalibration(model=result.model, method=result.method, model_uri=uri, metrics=metrics)
