"""The shipped alert rules with the thresholds of iml4e.yaml `alerting.thresholds` and the canary
margins of `rollout`.

manifests/base/monitoring/alert-rules.yaml holds the rules with the default thresholds, so the file is
valid as it is (an external Prometheus can load it). `PLACES` names where each threshold appears: in
which rule, and as what text. `with_thresholds` rewrites those texts inside their rule only and refuses
when one is missing or ambiguous (a rules file replaced by the user, or this table out of date), rather
than install rules that silently keep a default. The text is edited rather than parsed and dumped so that
the comments and block layout reach the ConfigMap.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from pydantic import BaseModel

from iml4e.errors import UsageError
from iml4e.installer.config import AlertThresholds, Rollout

RULES_CONFIG_MAP = "iml4e-prometheus-rules"
RULES_KEY = "alert-rules.yaml"


def _count(value: float, unit: str) -> str:
    return f"{value:g} {unit}" + ("" if value == 1 else "s")


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:g}"


#: threshold -> (alert, text for a value) for each place it appears in alert-rules.yaml.
PLACES: dict[str, list[tuple[str, Callable[[float], str]]]] = {
    "endpoint_down_minutes": [
        ("Iml4eModelEndpointDown", lambda v: f"for: {v:g}m\n"),
        ("Iml4eModelEndpointDown", lambda v: f"/metrics for {_count(v, 'minute')};"),
    ],
    "latency_p99_seconds": [
        ("Iml4eModelLatencySLOBreach", lambda v: f"[5m]))) > {v:g}\n"),
        ("Iml4eModelLatencySLOBreach", lambda v: f"(SLO {_ms(v)}ms)"),
        ("Iml4eModelLatencySLOBreach", lambda v: f"above {_ms(v)} ms"),
    ],
    "server_error_ratio": [("Iml4eModelServerErrors", lambda v: f"[5m])) > {v:g}\n")],
    "bad_request_ratio": [("Iml4eModelBadRequests", lambda v: f"[5m])) > {v:g}\n")],
    "feature_drift_hours": [
        ("Iml4eFeatureDrift", lambda v: f"for: {v:g}h\n"),
        ("Iml4eFeatureDrift", lambda v: f"has drifted for {_count(v, 'hour')}"),
    ],
    "monitor_stale_hours": [("Iml4eDriftMonitorStale", lambda v: f"> {v:g} * 3600\n")],
}

#: rollout margin -> (alert, text for a value) for each place it appears in alert-rules.yaml.
ROLLOUT_PLACES: dict[str, list[tuple[str, Callable[[float], str]]]] = {
    "max_error_ratio_increase": [
        ("Iml4eCanaryServerErrors", lambda v: f") + {v:g}\n"),
        ("Iml4eCanaryServerErrors", lambda v: f"more than {_count(v * 100, 'point')} more often"),
    ],
    "max_p99_latency_ratio": [
        ("Iml4eCanaryLatency", lambda v: f"{v:g} * histogram_quantile(0.99"),
        ("Iml4eCanaryLatency", lambda v: f"above {v:g} times the primary's"),
    ],
    "p99_latency_slack_ms": [
        ("Iml4eCanaryLatency", lambda v: f"[5m]))) + {v / 1000:g}\n"),
        ("Iml4eCanaryLatency", lambda v: f"plus {v:g} ms;"),
    ],
}

_RULE_START = re.compile(r"^\s*- (alert|record|name): ", re.MULTILINE)


def _rule_span(text: str, alert: str, section: str) -> tuple[int, int]:
    match = re.search(rf"^\s*- alert: {re.escape(alert)}\s*$", text, re.MULTILINE)
    if match is None:
        raise UsageError(
            f"{section} is set but {RULES_KEY} has no rule {alert}; "
            f"restore the shipped rules or remove {section} from iml4e.yaml"
        )
    following = _RULE_START.search(text, match.end())
    return match.start(), following.start() if following else len(text)


def with_thresholds(text: str, thresholds: AlertThresholds, rollout: Rollout | None = None) -> str:
    """`text` (the shipped rules, default thresholds) with every threshold set from `thresholds` and
    every canary margin from `rollout`."""
    text = _placed(text, PLACES, AlertThresholds(), thresholds, "alerting.thresholds")
    return _placed(text, ROLLOUT_PLACES, Rollout(), rollout or Rollout(), "rollout")


def _placed(
    text: str,
    places_of: dict[str, list[tuple[str, Callable[[float], str]]]],
    defaults: BaseModel,
    values: BaseModel,
    section: str,
) -> str:
    if values == defaults:
        return text
    for name, places in places_of.items():
        old_value, new_value = getattr(defaults, name), getattr(values, name)
        for alert, place in places:
            start, end = _rule_span(text, alert, section)
            block, old = text[start:end], place(old_value)
            if block.count(old) != 1:
                raise UsageError(
                    f"{section} is set but rule {alert} in {RULES_KEY} holds {old.strip()!r} "
                    f"{block.count(old)} times, not once; restore the shipped rule or remove {section}"
                )
            text = text[:start] + block.replace(old, place(new_value)) + text[end:]
    return text
