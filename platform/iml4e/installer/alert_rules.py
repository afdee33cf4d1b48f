"""The shipped alert rules with the thresholds of iml4e.yaml `alerting.thresholds`.

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

from iml4e.errors import UsageError
from iml4e.installer.config import AlertThresholds

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

_RULE_START = re.compile(r"^\s*- (alert|record|name): ", re.MULTILINE)


def _rule_span(text: str, alert: str) -> tuple[int, int]:
    match = re.search(rf"^\s*- alert: {re.escape(alert)}\s*$", text, re.MULTILINE)
    if match is None:
        raise UsageError(
            f"alerting.thresholds are set but {RULES_KEY} has no rule {alert}; "
            "restore the shipped rules or remove alerting.thresholds from iml4e.yaml"
        )
    following = _RULE_START.search(text, match.end())
    return match.start(), following.start() if following else len(text)


def with_thresholds(text: str, thresholds: AlertThresholds) -> str:
    """`text` (the shipped rules, default thresholds) with every threshold set from `thresholds`."""
    defaults = AlertThresholds()
    if thresholds == defaults:
        return text
    for name, places in PLACES.items():
        old_value, new_value = getattr(defaults, name), getattr(thresholds, name)
        for alert, place in places:
            start, end = _rule_span(text, alert)
            block, old = text[start:end], place(old_value)
            if block.count(old) != 1:
                raise UsageError(
                    f"alerting.thresholds are set but rule {alert} in {RULES_KEY} holds {old.strip()!r} "
                    f"{block.count(old)} times, not once; restore the shipped rule or remove alerting.thresholds"
                )
            text = text[:start] + block.replace(old, place(new_value)) + text[end:]
    return text
