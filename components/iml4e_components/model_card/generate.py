"""Fill a model card from what the pipeline recorded in MLflow: parameters, metrics (overall, per
slice, calibration), dataset digests, error-detection counts and the code version.

Metric names understood (from the MLflow run or a KFP Metrics artifact):
- `accuracy`, `f1`, ... overall; `calibration_error` is reported as `ece`;
- per slice: `<metric>/<slice>` (e.g. `accuracy/region=north`), `slice/<slice>/<metric>` or
  `<metric>__<slice>`;
- confidence intervals: `<metric>_ci_lower` and `<metric>_ci_upper` (also per slice);
- error-detection counts: names starting with `errors`, `detected_errors`, `error_count` or
  `error_detection/` go to the training data's `error_counts`, not to the performance metrics.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime

from iml4e_components import __version__
from iml4e_components.errors import ComponentError
from iml4e_components.model_card.card import (
    ConfidenceInterval,
    Dataset,
    ModelCard,
    ModelDetails,
    ModelParameters,
    PerformanceMetric,
    QuantitativeAnalysis,
    Version,
)

_ERROR_COUNT = re.compile(r"^(errors?|detected_errors?|error_counts?|n_errors)([/_.].*)?$|^error_detection/")
_ALIASES = {"calibration_error": "ece", "expected_calibration_error": "ece"}
_SKIPPED_PREFIXES = ("training_", "system/", "registered_version")


def _split_name(key: str) -> tuple[str, str]:
    """(metric, slice) of a metric key; slice is "" for overall values."""
    if key.startswith("slice/") and key.count("/") >= 2:
        _, rest = key.split("/", 1)
        slice_name, _, metric = rest.rpartition("/")
        return metric, slice_name
    if "/" in key:
        metric, _, slice_name = key.partition("/")
        return metric, slice_name
    if "__" in key:
        metric, _, slice_name = key.partition("__")
        return metric, slice_name
    return key, ""


def performance_from_metrics(
    metrics: Mapping[str, float],
) -> tuple[list[PerformanceMetric], dict[str, float]]:
    """Card performance metrics and error-detection counts from flat metric names."""
    values: dict[tuple[str, str], float] = {}
    bounds: dict[tuple[str, str], dict[str, float]] = {}
    errors: dict[str, float] = {}
    for key, raw in sorted(metrics.items()):
        try:
            value = float(raw)
        except (TypeError, ValueError):
            continue
        if _ERROR_COUNT.match(key):
            errors[key] = value
            continue
        if key.startswith(_SKIPPED_PREFIXES):
            continue
        metric, slice_name = _split_name(key)
        for suffix, bound in (("_ci_lower", "lower_bound"), ("_ci_upper", "upper_bound")):
            if metric.endswith(suffix):
                base = _ALIASES.get(metric[: -len(suffix)], metric[: -len(suffix)])
                bounds.setdefault((base, slice_name), {})[bound] = value
                break
        else:
            values[(_ALIASES.get(metric, metric), slice_name)] = value
    performance = []
    for (metric, slice_name), value in values.items():
        interval = bounds.get((metric, slice_name), {})
        performance.append(
            PerformanceMetric(
                type=metric,
                value=value,
                slice=slice_name,
                confidence_interval=ConfidenceInterval(**interval) if len(interval) == 2 else None,
            )
        )
    performance.sort(key=lambda m: (m.type, m.slice != "", m.slice))
    return performance, errors


def card_from_run(
    run_id: str,
    model_uri: str,
    model_name: str,
    metrics: Mapping[str, float] | None = None,
    model_version: str = "",
    now: datetime | None = None,
) -> ModelCard:
    """A card with everything the MLflow run `run_id` knows; `metrics` (e.g. the pipeline's Metrics
    artifact) add to and override the run's metrics."""
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        run = mlflow.MlflowClient().get_run(run_id)
    except MlflowException as exc:
        raise ComponentError(
            f"MLflow run '{run_id}' not found at {mlflow.get_tracking_uri()}: {exc.message}; "
            "pass the run id the pipeline's tracking step returned"
        ) from exc
    params = dict(run.data.params)
    tags = dict(run.data.tags)
    performance, errors = performance_from_metrics({**run.data.metrics, **(metrics or {})})
    estimator = params.get("estimator", "")
    target = params.get("target", "")
    data: list[Dataset] = []
    for item in run.inputs.dataset_inputs if run.inputs else []:
        context = next((t.value for t in item.tags if t.key == "mlflow.data.context"), "")
        data.append(
            Dataset(
                name=item.dataset.name,
                description=f"{context or 'input'} data, {item.dataset.source_type} source",
                digest=tags.get("iml4e.train_digest", "") if context == "training" else item.dataset.digest,
            )
        )
    if not data and tags.get("iml4e.train_digest"):
        data.append(Dataset(name="train", description="training data", digest=tags["iml4e.train_digest"]))
    if data and errors:
        data[0].error_counts = errors
    moment = now or datetime.now(UTC)
    return ModelCard(
        model_details=ModelDetails(
            name=model_name,
            overview=f"{estimator or 'model'} predicting '{target}'." if target else "",
            version=Version(name=model_version or f"run-{run_id[:8]}", date=moment.date().isoformat()),
            documentation=f"MLflow model {model_uri}, trained in MLflow run {run_id}.",
            code_version=tags.get("mlflow.source.git.commit", "")
            or tags.get("iml4e.code_version", "")
            or f"iml4e_components {__version__}",
        ),
        model_parameters=ModelParameters(
            model_architecture=f"scikit-learn pipeline: preprocessing + {estimator}" if estimator else "",
            data=data,
            training_parameters={k: str(v) for k, v in sorted(params.items())},
        ),
        quantitative_analysis=QuantitativeAnalysis(performance_metrics=performance, evaluated_at=moment),
    )
