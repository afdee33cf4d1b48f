"""Alert thresholds from iml4e.yaml reach the rendered rules, in the expressions and in the messages."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from iml4e.errors import UsageError
from iml4e.installer.alert_rules import PLACES, RULES_CONFIG_MAP, RULES_KEY, with_thresholds
from iml4e.installer.config import AlertThresholds, PlatformConfig
from iml4e.installer.render import render_platform

SHIPPED = Path(__file__).resolve().parents[4] / "manifests" / "base" / "monitoring" / RULES_KEY
PROMTOOL = shutil.which("promtool")

CHANGED = AlertThresholds(
    endpoint_down_minutes=1,
    latency_p99_seconds=0.6,
    server_error_ratio=0.3,
    bad_request_ratio=0.05,
    feature_drift_hours=12,
    monitor_stale_hours=24,
)


def _rendered_rules(thresholds: AlertThresholds) -> str:
    config = PlatformConfig.model_validate({"alerting": {"thresholds": thresholds.model_dump()}})
    maps = [o for o in render_platform(config).objects if o["metadata"]["name"] == RULES_CONFIG_MAP]
    return str(maps[0]["data"][RULES_KEY])


def test_default_thresholds_render_the_shipped_file_unchanged() -> None:
    assert _rendered_rules(AlertThresholds()) == SHIPPED.read_text(encoding="utf-8")


def test_every_threshold_changes_its_places_and_nothing_else() -> None:
    shipped = SHIPPED.read_text(encoding="utf-8")
    rendered = _rendered_rules(CHANGED)
    removed = [line for line in shipped.splitlines() if line not in rendered.splitlines()]
    added = [line for line in rendered.splitlines() if line not in shipped.splitlines()]
    assert len(removed) == len(added) == sum(map(len, PLACES.values()))  # each place on a line of its own
    for name, places in PLACES.items():
        new_value = getattr(CHANGED, name)
        for _alert, place in places:
            assert place(new_value) in rendered, (name, place(new_value))
    assert "for: 1m\n" in rendered and "for 1 minute;" in rendered  # singular
    assert "(SLO 600ms)" in rendered and "> 0.6\n" in rendered
    assert "for: 12h\n" in rendered and "> 24 * 3600\n" in rendered


def test_thresholds_that_cannot_be_placed_are_refused_not_skipped() -> None:
    """A rules file the user replaced (or a table out of date) must not keep a default silently."""
    text = SHIPPED.read_text(encoding="utf-8").replace("for: 6h", "for: 5h")
    with pytest.raises(
        UsageError, match=r"rule Iml4eFeatureDrift in alert-rules\.yaml holds 'for: 6h' 0 times"
    ):
        with_thresholds(text, CHANGED)
    without = SHIPPED.read_text(encoding="utf-8").replace(
        "- alert: Iml4eModelServerErrors", "- alert: Renamed"
    )
    with pytest.raises(UsageError, match="no rule Iml4eModelServerErrors; restore the shipped rules"):
        with_thresholds(without, CHANGED)
    assert with_thresholds(without, AlertThresholds()) == without  # own rules, no thresholds: left alone


ALERTS = """
rule_files: [{rules}]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'iml4e_serving_requests_total{{model="churn"}}'
        values: '0+600x30'
      - series: 'iml4e_serving_request_errors_total{{model="churn", kind="server"}}'
        values: '0+60x30'
      - series: 'iml4e_serving_request_errors_total{{model="churn", kind="client"}}'
        values: '0+60x30'
      - series: 'iml4e_serving_request_duration_seconds_bucket{{model="churn", le="0.1"}}'
        values: '0+10x30'
      - series: 'iml4e_serving_request_duration_seconds_bucket{{model="churn", le="0.5"}}'
        values: '0+600x30'
      - series: 'iml4e_serving_request_duration_seconds_bucket{{model="churn", le="+Inf"}}'
        values: '0+600x30'
      - series: 'iml4e_serving_request_duration_seconds_count{{model="churn"}}'
        values: '0+600x30'
    alert_rule_test:
{expectations}
"""


#: What each alert says when it fires on the series above (p99 about 496 ms, 10% 5xx, 10% 4xx).
FIRING = {
    "Iml4eModelLatencySLOBreach": (
        "warning",
        "Model churn p99 latency is 495.9ms (SLO 250ms)",
        "The 99th percentile of inference latency has stayed above 250 ms for 10 minutes; "
        "scale the predictor or check its CPU limits.",
    ),
    "Iml4eModelServerErrors": (
        "critical",
        "'Model churn: 10% of requests fail with 5xx'",
        "Read the predictor's log; a model that fails on valid input needs a fix or a rollback to the previous champion.",
    ),
    "Iml4eModelBadRequests": (
        "warning",
        "'Model churn: 10% of requests are malformed'",
        "Clients send inputs that do not match the model's signature; compare them with GET /v2/models/churn.",
    ),
}


def _expectation(alert: str, fires: bool) -> str:
    head = f"      - eval_time: 25m\n        alertname: {alert}\n"
    if not fires:
        return head + "        exp_alerts: []\n"
    severity, summary, description = FIRING[alert]
    return (
        head + f"        exp_alerts:\n          - exp_labels: {{severity: {severity}, model: churn}}\n"
        f"            exp_annotations:\n              summary: {summary}\n"
        f"              description: >-\n                {description}\n"
    )


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian package 'prometheus')")
@pytest.mark.parametrize(
    ("thresholds", "latency", "server", "client"),
    [(AlertThresholds(), True, True, False), (CHANGED, False, False, True)],
    ids=["defaults", "changed"],
)
def test_thresholds_decide_what_fires(
    tmp_path: Path, thresholds: AlertThresholds, latency: bool, server: bool, client: bool
) -> None:
    rules = tmp_path / RULES_KEY
    rules.write_text(_rendered_rules(thresholds), encoding="utf-8")
    body = (
        _expectation("Iml4eModelLatencySLOBreach", latency)
        + _expectation("Iml4eModelServerErrors", server)
        + _expectation("Iml4eModelBadRequests", client)
    )
    tests = tmp_path / "tests.yaml"
    tests.write_text(ALERTS.format(rules=rules, expectations=body), encoding="utf-8")
    assert PROMTOOL is not None
    done = subprocess.run([PROMTOOL, "test", "rules", str(tests)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
