"""Drift monitoring: compare served inputs with reference data (Evidently), export Prometheus gauges."""

from iml4e_components.monitoring.drift import DriftResult, FeatureDrift, compute_drift
from iml4e_components.serving.request_log import PREDICTION_COLUMN, REQUEST_TIME_COLUMN, read_request_log

__all__ = [
    "PREDICTION_COLUMN",
    "REQUEST_TIME_COLUMN",
    "DriftResult",
    "FeatureDrift",
    "compute_drift",
    "read_request_log",
]
