"""The model server's Prometheus metrics: requests, latency, errors, rows and the predictions' distribution."""

from __future__ import annotations

from typing import Any

import numpy as np
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

#: Latency buckets (seconds), fine below 10 ms where a tabular model answers.
LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.0075,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)
#: Distinct class labels counted per model; more are counted as "other" (bounded label cardinality).
MAX_CLASSES = 50


class ServingMetrics:
    """Metrics of one served model; label children are bound once, so the request path only increments."""

    def __init__(self, model: str, registry: CollectorRegistry | None = None) -> None:
        registry = registry if registry is not None else REGISTRY
        self.model = model
        self.registry = registry
        self._requests = Counter(
            "iml4e_serving_requests",
            "Inference requests answered, by model, protocol and HTTP status code",
            ["model", "protocol", "code"],
            registry=registry,
        )
        self._errors = Counter(
            "iml4e_serving_request_errors",
            "Inference requests that failed, by kind: client (4xx) or server (5xx)",
            ["model", "protocol", "kind"],
            registry=registry,
        )
        self._latency = Histogram(
            "iml4e_serving_request_duration_seconds",
            "Time from receiving an inference request to sending its answer",
            ["model", "protocol"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._rows = Counter(
            "iml4e_serving_rows_predicted", "Rows predicted", ["model", "protocol"], registry=registry
        )
        self._classes = Counter(
            "iml4e_serving_predictions",
            "Predicted class labels (classification models)",
            ["model", "prediction"],
            registry=registry,
        )
        self._values = Histogram(
            "iml4e_serving_prediction_value",
            "Predicted values (regression models)",
            ["model"],
            buckets=(-1000, -100, -10, -1, -0.5, 0, 0.25, 0.5, 0.75, 1, 10, 100, 1000),
            registry=registry,
        )
        self._log_dropped = Counter(
            "iml4e_serving_request_log_dropped",
            "Sampled requests the request log dropped: its queue was full or the write/upload failed",
            ["model"],
            registry=registry,
        ).labels(model)
        self._latency_by: dict[str, Any] = {p: self._latency.labels(model, p) for p in ("v1", "v2")}
        self._rows_by: dict[str, Any] = {p: self._rows.labels(model, p) for p in ("v1", "v2")}
        self._ok_by: dict[str, Any] = {p: self._requests.labels(model, p, "200") for p in ("v1", "v2")}
        self._class_children: dict[str, Any] = {}

    def observe_success(self, protocol: str, seconds: float, rows: int) -> None:
        self._ok_by[protocol].inc()
        self._latency_by[protocol].observe(seconds)
        self._rows_by[protocol].inc(rows)

    def observe_error(self, protocol: str, status: int, seconds: float) -> None:
        self._requests.labels(self.model, protocol, str(status)).inc()
        self._errors.labels(self.model, protocol, "client" if status < 500 else "server").inc()
        self._latency_by.get(protocol, self._latency.labels(self.model, protocol)).observe(seconds)

    def count_log_dropped(self, count: int) -> None:
        """Called from the request log's thread (prometheus_client counters are thread-safe)."""
        self._log_dropped.inc(count)

    def observe_predictions(self, outputs: np.ndarray[Any, Any]) -> None:
        """Count class labels, or record values in a histogram for real-valued outputs."""
        flat = outputs.reshape(-1) if outputs.ndim > 1 else outputs
        if flat.dtype.kind == "f":
            for value in flat.tolist():
                self._values.labels(self.model).observe(value)
            return
        labels, counts = np.unique(flat, return_counts=True)
        for label, count in zip(labels.tolist(), counts.tolist(), strict=True):
            self._class_child(str(label)).inc(count)

    def _class_child(self, label: str) -> Any:
        child = self._class_children.get(label)
        if child is None:
            if len(self._class_children) >= MAX_CLASSES:
                label = "other"
                child = self._class_children.get(label)
            if child is None:
                child = self._classes.labels(self.model, label)
                self._class_children[label] = child
        return child
