"""The shipped alert rules and Grafana dashboards: valid, about metrics iml4e exports, firing when they should."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from iml4e_components.monitoring.drift import DriftResult, FeatureDrift
from iml4e_components.monitoring.prometheus import DriftGauges
from iml4e_components.serving.metrics import ServingMetrics

MONITORING = Path(__file__).resolve().parents[4] / "manifests" / "base" / "monitoring"
RULES = MONITORING / "alert-rules.yaml"
DASHBOARDS = sorted((MONITORING / "dashboards").glob("*.json"))
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (Debian package 'prometheus')"
)


def _exported_samples() -> list[Any]:
    import numpy as np

    from iml4e_components.monitoring.quality import QualityResult

    registry = CollectorRegistry()
    metrics = ServingMetrics("m", registry)
    metrics.observe_success("v1", 0.01, 1)
    metrics.observe_error("v2", 400, 0.01)
    metrics.observe_predictions(np.array([0, 1]))
    metrics.observe_predictions(np.array([0.5]))
    feature = FeatureDrift("f", "K-S p_value", 0.5, 0.05, 0.5, False)
    gauges = DriftGauges(registry)
    gauges.update("m", DriftResult(False, 0.0, 0.5, {"f": feature}, 10, 10, 10))
    gauges.update_quality("m", QualityResult(4, 0.75, 0.5, 0.5, 0.5, "binary", "1", ["0", "1"]))
    metrics.count_log_dropped(1)
    text = generate_latest(registry).decode()
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def _exported_metric_names() -> set[str]:
    return {sample.name for sample in _exported_samples()}


def test_scrape_target_labels_never_shadow_a_label_iml4e_exports() -> None:
    """A target label named like an exported one renames the exported one to exported_<name>
    (Prometheus' default, honor_labels: false), and rules and dashboards would miss it."""
    documents = yaml.safe_load_all((MONITORING / "prometheus.yaml").read_text())
    config_map = next(d for d in documents if d["metadata"]["name"] == "iml4e-prometheus-config")
    config = yaml.safe_load(config_map["data"]["prometheus.yml"])
    exported = {name for sample in _exported_samples() for name in sample.labels} - {"le"}
    assert "model" in exported
    for job in config["scrape_configs"]:
        assert not job.get("honor_labels"), job["job_name"]  # pods must not overwrite namespace/pod
        targets = {rule["target_label"] for rule in job.get("relabel_configs", []) if "target_label" in rule}
        assert not targets & exported, f"{job['job_name']} sets {sorted(targets & exported)}"
    texts = [RULES.read_text(), *(board.read_text() for board in DASHBOARDS)]
    assert not any("exported_" in text for text in texts)


def _metric_names_in(expr: str) -> set[str]:
    return set(re.findall(r"\b(iml4e_[a-z0-9_]+)", expr))


def _rule_exprs() -> list[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def _dashboard_exprs(path: Path) -> list[str]:
    board = json.loads(path.read_text())
    exprs = [t["expr"] for panel in board["panels"] for t in panel.get("targets", [])]
    exprs += [v["query"]["query"] for v in board.get("templating", {}).get("list", [])]
    return exprs


def test_rules_and_dashboards_use_only_metrics_iml4e_exports() -> None:
    exported = _exported_metric_names()
    used = {name for expr in _rule_exprs() for name in _metric_names_in(expr)}
    for board in DASHBOARDS:
        used |= {name for expr in _dashboard_exprs(board) for name in _metric_names_in(expr)}
    assert used, "no iml4e metric referenced"
    assert used <= exported, f"unknown metrics: {sorted(used - exported)}"


@pytest.mark.parametrize("board", DASHBOARDS, ids=lambda p: p.name)
def test_dashboards_are_provisionable(board: Path) -> None:
    data = json.loads(board.read_text())
    assert data["uid"].startswith("iml4e-") and data["title"]
    ids = [panel["id"] for panel in data["panels"]]
    assert len(ids) == len(set(ids))
    assert all(panel["datasource"]["uid"] == "iml4e-prometheus" for panel in data["panels"])


def test_serving_and_drift_dashboards_ship() -> None:
    assert {p.name for p in DASHBOARDS} >= {"iml4e-serving.json", "iml4e-drift.json"}


@needs_promtool
def test_promtool_accepts_the_rules() -> None:
    done = subprocess.run([str(PROMTOOL), "check", "rules", str(RULES)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


ALERT_TESTS = """
rule_files: [{rules}]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'up{{job="platform-pods", inference_service="churn-svc", pod="p", namespace="iml4e-serving"}}'
        values: '1 1 0 0 0 0 0'
      - series: 'up{{job="platform-pods", inference_service="other", pod="q", namespace="iml4e-serving"}}'
        values: '1 1 1 1 1 1 1'
      - series: 'up{{job="platform-pods", app="drift-monitor", pod="d", namespace="iml4e-serving"}}'
        values: '0 0 0 0 0 0 0'
      - series: 'iml4e_drift_dataset_drift{{model="churn"}}'
        values: '0 0 1 1 1 1 1'
      - series: 'iml4e_drift_dataset_drift{{model="other"}}'
        values: '0 0 0 0 0 0 0'
      - series: 'iml4e_drift_share_drifted_features{{model="churn"}}'
        values: '0 0 0.6 0.6 0.6 0.6 0.6'
      - series: 'iml4e_serving_requests_total{{model="churn", inference_service="churn-svc", protocol="v2", code="200"}}'
        values: '0+600x30'
      - series: 'iml4e_serving_request_errors_total{{model="churn", inference_service="churn-svc", protocol="v2", kind="server"}}'
        values: '0+60x30'
      - series: 'iml4e_serving_request_duration_seconds_bucket{{model="churn", inference_service="churn-svc", protocol="v2", le="0.1"}}'
        values: '0+10x30'
      - series: 'iml4e_serving_request_duration_seconds_bucket{{model="churn", inference_service="churn-svc", protocol="v2", le="0.5"}}'
        values: '0+600x30'
      - series: 'iml4e_serving_request_duration_seconds_bucket{{model="churn", inference_service="churn-svc", protocol="v2", le="+Inf"}}'
        values: '0+600x30'
      - series: 'iml4e_serving_request_duration_seconds_count{{model="churn", inference_service="churn-svc", protocol="v2"}}'
        values: '0+600x30'
      - series: 'iml4e_serving_request_log_dropped_total{{model="churn", inference_service="churn-svc"}}'
        values: '0+30x30'
      - series: 'iml4e_serving_request_log_dropped_total{{model="other", inference_service="other"}}'
        values: '0x30'
    alert_rule_test:
      - eval_time: 1m
        alertname: Iml4eModelEndpointDown
        exp_alerts: []
      - eval_time: 6m
        alertname: Iml4eModelEndpointDown
        exp_alerts:
          - exp_labels: {{severity: critical, job: platform-pods, inference_service: churn-svc, pod: p, namespace: iml4e-serving}}
            exp_annotations:
              summary: Model endpoint churn-svc is down
              description: >-
                Pod p in iml4e-serving has not answered /metrics for 2 minutes;
                check 'kubectl get inferenceservice churn-svc -n iml4e-serving'.
      - eval_time: 1m
        alertname: Iml4eDatasetDrift
        exp_alerts: []
      - eval_time: 3m
        alertname: Iml4eDatasetDrift
        exp_alerts:
          - exp_labels: {{severity: warning, model: churn}}
            exp_annotations:
              summary: Inputs of model churn have drifted from the reference data
              description: >-
                60% of features drifted; read the HTML report and consider retraining (continuous_training).
      - eval_time: 25m
        alertname: Iml4eModelLatencySLOBreach
        exp_alerts:
          - exp_labels: {{severity: warning, model: churn}}
            exp_annotations:
              summary: Model churn p99 latency is 495.9ms (SLO 250ms)
              description: >-
                The 99th percentile of inference latency has stayed above 250 ms for 10 minutes;
                scale the predictor or check its CPU limits.
      - eval_time: 25m
        alertname: Iml4eModelServerErrors
        exp_alerts:
          - exp_labels: {{severity: critical, model: churn}}
            exp_annotations:
              summary: "Model churn: 10% of requests fail with 5xx"
              description: >-
                Read the predictor's log; a model that fails on valid input needs a fix
                or a rollback to the previous champion.
      - eval_time: 25m
        alertname: Iml4eModelBadRequests
        exp_alerts: []
      - eval_time: 10m
        alertname: Iml4eRequestLogDropping
        exp_alerts: []
      - eval_time: 25m
        alertname: Iml4eRequestLogDropping
        exp_alerts:
          - exp_labels: {{severity: warning, model: churn}}
            exp_annotations:
              summary: Model churn drops 0.50 logged requests per second
              description: >-
                The request log cannot keep up or cannot reach its store; check the object store
                and the predictor's log. Drift checks see fewer rows until it recovers.
"""


@needs_promtool
def test_alerts_fire_when_they_should_and_only_then(tmp_path: Path) -> None:
    tests = tmp_path / "alerts-test.yaml"
    tests.write_text(ALERT_TESTS.format(rules=RULES))
    done = subprocess.run([str(PROMTOOL), "test", "rules", str(tests)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
