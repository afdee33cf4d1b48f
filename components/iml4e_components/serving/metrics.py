"""The model server's Prometheus metrics: requests, latency, errors, rows and the predictions' distribution.

Each series carries the `variant` that answered (`primary`, or `canary` during a canary rollout) and
that variant's model `version` (empty when the model is not from the registry), so a dashboard or
an alert rule can compare a canary with the primary.
"""

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
            ["model", "variant", "version", "protocol", "code"],
            registry=registry,
        )
        self._errors = Counter(
            "iml4e_serving_request_errors",
            "Inference requests that failed, by kind: client (4xx) or server (5xx)",
            ["model", "variant", "version", "protocol", "kind"],
            registry=registry,
        )
        self._latency = Histogram(
            "iml4e_serving_request_duration_seconds",
            "Time from receiving an inference request to sending its answer",
            ["model", "variant", "version", "protocol"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._rows = Counter(
            "iml4e_serving_rows_predicted",
            "Rows predicted",
            ["model", "variant", "version", "protocol"],
            registry=registry,
        )
        self._classes = Counter(
            "iml4e_serving_predictions",
            "Predicted class labels (classification models)",
            ["model", "variant", "prediction"],
            registry=registry,
        )
        self._values = Histogram(
            "iml4e_serving_prediction_value",
            "Predicted values (regression models)",
            ["model", "variant"],
            buckets=(-1000, -100, -10, -1, -0.5, 0, 0.25, 0.5, 0.75, 1, 10, 100, 1000),
            registry=registry,
        )
        self._log_dropped = Counter(
            "iml4e_serving_request_log_dropped",
            "Sampled requests the request log dropped: its queue was full or the write/upload failed",
            ["model"],
            registry=registry,
        ).labels(model)
        self._bound: dict[tuple[str, str, str], tuple[Any, Any, Any]] = {}
        self._class_children: dict[tuple[str, str], Any] = {}

    def _children(self, protocol: str, variant: str, version: str | None) -> tuple[Any, Any, Any]:
        """The (200 count, latency, rows) children of one protocol, variant and version, bound once."""
        key = (protocol, variant, version or "")
        bound = self._bound.get(key)
        if bound is None:
            labels = (self.model, variant, version or "", protocol)
            bound = self._bound[key] = (
                self._requests.labels(*labels, "200"),
                self._latency.labels(*labels),
                self._rows.labels(*labels),
            )
        return bound

    def observe_success(
        self, protocol: str, seconds: float, rows: int, variant: str = "primary", version: str | None = None
    ) -> None:
        ok, latency, predicted = self._children(protocol, variant, version)
        ok.inc()
        latency.observe(seconds)
        predicted.inc(rows)

    def observe_error(
        self, protocol: str, status: int, seconds: float, variant: str = "primary", version: str | None = None
    ) -> None:
        labels = (self.model, variant, version or "", protocol)
        self._requests.labels(*labels, str(status)).inc()
        self._errors.labels(*labels, "client" if status < 500 else "server").inc()
        self._latency.labels(*labels).observe(seconds)

    def count_log_dropped(self, count: int) -> None:
        """Called from the request log's thread (prometheus_client counters are thread-safe)."""
        self._log_dropped.inc(count)

    def observe_predictions(self, outputs: np.ndarray[Any, Any], variant: str = "primary") -> None:
        """Count class labels, or record values in a histogram for real-valued outputs."""
        flat = outputs.reshape(-1) if outputs.ndim > 1 else outputs
        if flat.dtype.kind == "f":
            values = self._values.labels(self.model, variant)
            for value in flat.tolist():
                values.observe(value)
            return
        labels, counts = np.unique(flat, return_counts=True)
        for label, count in zip(labels.tolist(), counts.tolist(), strict=True):
            self._class_child(variant, str(label)).inc(count)

    def _class_child(self, variant: str, label: str) -> Any:
        child = self._class_children.get((variant, label))
        if child is None:
            if sum(1 for v, _ in self._class_children if v == variant) >= MAX_CLASSES:
                label = "other"
                child = self._class_children.get((variant, label))
            if child is None:
                child = self._classes.labels(self.model, variant, label)
                self._class_children[(variant, label)] = child
        return child
