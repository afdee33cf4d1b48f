"""Drift results as Prometheus gauges: a registry to expose on a port or write to a textfile.

Evidently no longer ships a Prometheus exporter, so the monitor publishes its own gauges:
per-feature drift score and p-value, share of drifted features, the dataset drift flag, rows
compared and the time of the last run, each labelled with the model's name; and, once labels have
arrived, the model's classification quality on the labeled logged rows.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, write_to_textfile

from iml4e_components.monitoring.drift import DriftResult
from iml4e_components.monitoring.quality import QualityResult
from iml4e_components.output_files import write_atomically


class DriftGauges:
    """The monitor's gauges in their own registry; `update` sets them from one drift run."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        labels = ["model", "feature"]
        self.feature_score = Gauge(
            "iml4e_drift_feature_score",
            "Drift score of one feature (a p-value or a distance; see the method label of iml4e_drift_feature_info)",
            labels,
            registry=self.registry,
        )
        self.feature_p_value = Gauge(
            "iml4e_drift_feature_p_value",
            "p-value of the feature's drift test (absent when the test is a distance)",
            labels,
            registry=self.registry,
        )
        self.feature_drifted = Gauge(
            "iml4e_drift_feature_drifted",
            "1 when the feature drifted in the last run",
            labels,
            registry=self.registry,
        )
        self.feature_info = Gauge(
            "iml4e_drift_feature_threshold",
            "Threshold the feature's drift test used",
            [*labels, "method"],
            registry=self.registry,
        )
        self.share = Gauge(
            "iml4e_drift_share_drifted_features",
            "Share of the model's input features that drifted",
            ["model"],
            registry=self.registry,
        )
        self.dataset_drift = Gauge(
            "iml4e_drift_dataset_drift",
            "1 when the dataset as a whole drifted",
            ["model"],
            registry=self.registry,
        )
        self.rows = Gauge(
            "iml4e_drift_rows_compared",
            "Served rows in the window compared",
            ["model"],
            registry=self.registry,
        )
        self.last_run = Gauge(
            "iml4e_drift_last_run_timestamp_seconds",
            "When the last drift run finished, seconds since the epoch",
            ["model"],
            registry=self.registry,
        )

        self.quality = {
            metric: Gauge(
                f"iml4e_quality_{metric}",
                f"{what} of the model's predictions on logged requests that have a label",
                ["model"],
                registry=self.registry,
            )
            for metric, what in (
                ("accuracy", "Accuracy"),
                ("precision", "Precision (of the positive class for two classes, else macro average)"),
                ("recall", "Recall (of the positive class for two classes, else macro average)"),
                ("f1", "F1 score (of the positive class for two classes, else macro average)"),
            )
        }
        self.labeled_rows = Gauge(
            "iml4e_quality_labeled_rows",
            "Logged rows in the window that have a label (what the quality gauges are computed on)",
            ["model"],
            registry=self.registry,
        )

    def update_quality(self, model: str, result: QualityResult) -> None:
        for metric, gauge in self.quality.items():
            gauge.labels(model).set(getattr(result, metric))
        self.labeled_rows.labels(model).set(result.labeled_rows)

    def update(self, model: str, result: DriftResult, finished_at: float | None = None) -> None:
        for name, feature in result.features.items():
            self.feature_score.labels(model, name).set(feature.score)
            if feature.p_value is not None:
                self.feature_p_value.labels(model, name).set(feature.p_value)
            else:
                with contextlib.suppress(KeyError):  # the test behind this feature changed to a distance
                    self.feature_p_value.remove(model, name)
            self.feature_drifted.labels(model, name).set(1.0 if feature.drifted else 0.0)
            self.feature_info.labels(model, name, feature.method).set(feature.threshold)
        self.share.labels(model).set(result.drift_share)
        self.dataset_drift.labels(model).set(1.0 if result.dataset_drift else 0.0)
        self.rows.labels(model).set(result.rows_compared)
        self.last_run.labels(model).set(finished_at if finished_at is not None else time.time())

    def write_textfile(self, path: str | Path) -> Path:
        """Write the gauges in the Prometheus text format (atomically) for node-exporter's textfile collector."""
        return write_atomically(
            path, lambda tmp: write_to_textfile(str(tmp), self.registry), "drift gauges", create_parent=True
        )

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        """Expose the gauges over HTTP at http://host:port/metrics (loopback unless told otherwise)."""
        from prometheus_client import start_http_server

        start_http_server(port, addr=host, registry=self.registry)
