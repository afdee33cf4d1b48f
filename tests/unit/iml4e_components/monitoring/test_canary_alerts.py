"""The canary alert rules, run by promtool on synthetic series: they fire on a canary worse than its
primary by more than the iml4e.yaml `rollout` margins, and not on one within them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from iml4e.installer.alert_rules import ROLLOUT_PLACES, with_thresholds
from iml4e.installer.config import AlertThresholds, Rollout

RULES = Path(__file__).resolve().parents[4] / "manifests" / "base" / "monitoring" / "alert-rules.yaml"
PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (Debian package 'prometheus')"
)


def _series(name: str, model: str, variant: str, per_minute: float, **labels: str) -> dict[str, str]:
    every = {
        "model": model,
        "variant": variant,
        "version": "1" if variant == "primary" else "2",
        "protocol": "v2",
    }
    text = ", ".join(f'{key}="{value}"' for key, value in {**every, **labels}.items())
    return {"series": f"{name}{{{text}}}", "values": f"0+{per_minute:g}x40"}


def _traffic(model: str, variant: str, requests: int, errors: int, slow: bool) -> list[dict[str, str]]:
    """Per minute: `requests` answered, `errors` of them 5xx; all in the 50 ms bucket, or (slow) all
    between 50 and 500 ms."""
    bucket = "iml4e_serving_request_duration_seconds_bucket"
    series = [
        _series("iml4e_serving_requests_total", model, variant, requests, code="200"),
        _series(bucket, model, variant, 0 if slow else requests, le="0.05"),
        _series(bucket, model, variant, requests, le="0.5"),
        _series(bucket, model, variant, requests, le="+Inf"),
        _series("iml4e_serving_request_duration_seconds_count", model, variant, requests),
    ]
    if errors:
        series.append(_series("iml4e_serving_request_errors_total", model, variant, errors, kind="server"))
    return series


INPUT = [
    # A canary failing on 20% of its requests beside a primary that never fails.
    *_traffic("broken", "primary", 900, 0, slow=False),
    *_traffic("broken", "canary", 100, 20, slow=False),
    # Both fail on 1%: the canary is no worse.
    *_traffic("steady", "primary", 900, 9, slow=False),
    *_traffic("steady", "canary", 100, 1, slow=False),
    # A canary ten times slower at p99 than its primary.
    *_traffic("slow", "primary", 900, 0, slow=False),
    *_traffic("slow", "canary", 100, 0, slow=True),
]


def _firing(severity: str, model: str, summary: str, description: str) -> dict[str, Any]:
    return {
        "exp_labels": {"severity": severity, "model": model},
        "exp_annotations": {"summary": summary, "description": description},
    }


ERRORS_FIRING = _firing(
    "critical",
    "broken",
    "Canary of model broken: 20% of its requests fail with 5xx",
    "The canary fails more than 1 point more often than the primary; roll it back with "
    "'iml4e rollout rollback broken' (or the promote/rollback patch on its InferenceService).",
)
LATENCY_FIRING = _firing(
    "warning",
    "slow",
    "Canary of model slow: p99 latency 495.5ms",
    "The canary's p99 latency is above 2 times the primary's plus 25 ms; compare the "
    "variants on the serving dashboard and roll the canary back if it stays.",
)


def _promtool_test(tmp_path: Path, rules_text: str, alerts: list[dict[str, Any]]) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(rules_text, encoding="utf-8")
    tests = tmp_path / "tests.yaml"
    tests.write_text(
        yaml.safe_dump(
            {
                "rule_files": [str(rules)],
                "evaluation_interval": "1m",
                "tests": [{"interval": "1m", "input_series": INPUT, "alert_rule_test": alerts}],
            }
        ),
        encoding="utf-8",
    )
    done = subprocess.run([str(PROMTOOL), "test", "rules", str(tests)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_canary_worse_than_the_margins_fires_and_one_within_them_does_not(tmp_path: Path) -> None:
    _promtool_test(
        tmp_path,
        RULES.read_text(encoding="utf-8"),
        [
            # Pending for 3 minutes first: nothing has fired yet.
            {"eval_time": "2m", "alertname": "Iml4eCanaryServerErrors", "exp_alerts": []},
            {"eval_time": "2m", "alertname": "Iml4eCanaryLatency", "exp_alerts": []},
            # Then the broken and the slow canaries fire; the steady one never does.
            {"eval_time": "15m", "alertname": "Iml4eCanaryServerErrors", "exp_alerts": [ERRORS_FIRING]},
            {"eval_time": "15m", "alertname": "Iml4eCanaryLatency", "exp_alerts": [LATENCY_FIRING]},
        ],
    )


def test_the_margins_come_from_iml4e_yaml(tmp_path: Path) -> None:
    """Margins wide enough for both canaries: the rendered rules stay silent, and their messages say
    the configured figures."""
    wide = Rollout(max_error_ratio_increase=0.25, max_p99_latency_ratio=20, p99_latency_slack_ms=100)
    rendered = with_thresholds(RULES.read_text(encoding="utf-8"), AlertThresholds(), wide)
    for name, places in ROLLOUT_PLACES.items():
        for _alert, place in places:
            assert place(getattr(wide, name)) in rendered
    assert "more than 25 points more often" in rendered and "plus 100 ms;" in rendered
    _promtool_test(
        tmp_path,
        rendered,
        [
            {"eval_time": "15m", "alertname": "Iml4eCanaryServerErrors", "exp_alerts": []},
            {"eval_time": "15m", "alertname": "Iml4eCanaryLatency", "exp_alerts": []},
        ],
    )


def test_margins_that_cannot_be_met_are_refused() -> None:
    from iml4e.errors import UsageError
    from iml4e.installer.config import parse_config

    with pytest.raises(
        UsageError, match=r"rollout\.max_p99_latency_ratio: Input should be greater than or equal to 1"
    ):
        parse_config({"rollout": {"max_p99_latency_ratio": 0.5}})


def _panel_expr(title: str) -> str:
    import json

    board = json.loads((RULES.parent / "dashboards" / "iml4e-serving.json").read_text(encoding="utf-8"))
    (panel,) = [p for p in board["panels"] if p["title"] == title]
    return str(panel["targets"][0]["expr"]).replace("$model", "broken|slow")


def _sample(model: str, variant: str, value: float) -> dict[str, Any]:
    version = "1" if variant == "primary" else "2"
    return {"labels": f'{{model="{model}", variant="{variant}", version="{version}"}}', "value": value}


def test_the_serving_dashboard_breaks_each_model_down_by_variant(tmp_path: Path) -> None:
    """The dashboard's variant panels, evaluated by promtool on the same series as the alerts
    (rounded to 4 decimals: promtool compares samples exactly)."""
    rules = tmp_path / "none.yaml"
    rules.write_text("groups: []\n", encoding="utf-8")
    tests = tmp_path / "tests.yaml"
    checks = [
        (
            "Canary rollout: requests per second by variant",
            [
                _sample(m, v, rps)
                for m in ("broken", "slow")
                for v, rps in (("primary", 15), ("canary", 1.6667))
            ],
        ),
        (
            "Canary rollout: 5xx error ratio by variant",
            [
                _sample("broken", "primary", 0),
                _sample("broken", "canary", 0.2),
                _sample("slow", "primary", 0),
                _sample("slow", "canary", 0),
            ],
        ),
        (
            "Canary rollout: p99 latency by variant",
            [
                _sample("broken", "primary", 0.0495),
                _sample("broken", "canary", 0.0495),
                _sample("slow", "primary", 0.0495),
                _sample("slow", "canary", 0.4955),
            ],
        ),
    ]
    tests.write_text(
        yaml.safe_dump(
            {
                "rule_files": [str(rules)],
                "evaluation_interval": "1m",
                "tests": [
                    {
                        "interval": "1m",
                        "input_series": INPUT,
                        "promql_expr_test": [
                            {
                                "expr": f"round({_panel_expr(title)}, 0.0001)",
                                "eval_time": "15m",
                                "exp_samples": samples,
                            }
                            for title, samples in checks
                        ],
                    }
                ],
            }
        ),
        encoding="utf-8",
    )
    done = subprocess.run([str(PROMTOOL), "test", "rules", str(tests)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
