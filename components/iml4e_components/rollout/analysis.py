"""Canary analysis: per-variant figures over a sliding window of served requests, and the decision.

The figures of each variant (`primary`, `canary`) over the last `window_seconds`: requests, server
error ratio (5xx), malformed-request ratio (4xx), p99 latency, and, on the rows that have a late
label (joined by request id and row), accuracy and macro F1. `judge` compares the canary with the
primary: nothing is judged before both have `min_requests`, except an error or malformed-request ratio
that is above its limit with 99.87% confidence already; a breach of any threshold rolls back at once;
`promote_after_seconds` of watching without a breach promotes.

Plain functions on records (dicts as the request log holds them), so the local `iml4e rollout
watch` and a monitor reading the object store share them.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from iml4e_components.errors import ComponentError
from iml4e_components.serving.traffic_split import CANARY, PRIMARY, VARIANTS

WAIT, CONTINUE, ROLLBACK, PROMOTE = "wait", "continue", "rollback", "promote"
#: Before `min_requests`, a canary is rolled back only when its error ratio is above the limit with
#: this one-sided confidence (z-score of 99.87%); see `_certain_breaches`.
EARLY_Z = 3.0
#: ... and only once it has failed at least this many requests.
EARLY_MIN_FAILURES = 3


@dataclass(frozen=True)
class Thresholds:
    """When a canary is judged, what counts as worse than the primary, and when it is promoted."""

    window_seconds: float = 60.0
    min_requests: int = 100
    max_error_ratio_increase: float = 0.01
    max_malformed_ratio_increase: float = 0.02
    max_p99_latency_ratio: float = 2.0
    p99_latency_slack_ms: float = 25.0
    min_labelled_rows: int = 50
    max_accuracy_drop: float = 0.05
    max_f1_drop: float = 0.05
    promote_after_seconds: float = 300.0

    def __post_init__(self) -> None:
        problems = [problem for problem in self._impossible() if problem]
        if problems:
            raise ComponentError(f"rollout thresholds can never pass: {problems[0]}")

    def _impossible(self) -> Iterable[str]:
        yield "" if self.window_seconds > 0 else "window_seconds must be above 0"
        yield "" if self.min_requests >= 1 else "min_requests must be at least 1"
        yield "" if self.min_labelled_rows >= 1 else "min_labelled_rows must be at least 1"
        yield "" if self.promote_after_seconds > 0 else "promote_after_seconds must be above 0"
        margins = (
            "max_error_ratio_increase",
            "max_malformed_ratio_increase",
            "max_accuracy_drop",
            "max_f1_drop",
        )
        for name in margins:
            if not 0 <= getattr(self, name) < 1:
                yield f"{name} must be from 0 up to (not including) 1; a canary as good as the primary fails below 0"
        if self.max_p99_latency_ratio < 1 or self.p99_latency_slack_ms < 0:
            yield "max_p99_latency_ratio must be at least 1 and p99_latency_slack_ms at least 0"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class VariantFigures:
    """One variant's figures over the window (None where there is nothing to compute them on)."""

    requests: int
    server_errors: int
    malformed: int
    error_ratio: float | None
    malformed_ratio: float | None
    p99_latency_ms: float | None
    labelled_rows: int = 0
    accuracy: float | None = None
    f1_macro: float | None = None
    version: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Decision:
    """What to do now, why, and the figures that decided it."""

    action: str
    reasons: list[str]
    figures: dict[str, VariantFigures]
    watched_seconds: float
    thresholds: Thresholds

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "reasons": self.reasons,
            "watched_seconds": round(self.watched_seconds, 3),
            "figures": {variant: figures.as_dict() for variant, figures in self.figures.items()},
            "thresholds": self.thresholds.as_dict(),
        }


@dataclass
class _Served:
    ts: float
    variant: str
    status: int
    latency_ms: float
    outputs: list[Any]
    version: str | None


@dataclass
class RequestWindow:
    """The served requests of the last `window_seconds` (from `since` on) and their labels."""

    window_seconds: float
    since: float = 0.0
    _requests: deque[tuple[str, _Served]] = field(default_factory=deque)
    _by_id: dict[str, _Served] = field(default_factory=dict)
    _labels: dict[tuple[str, int], str] = field(default_factory=dict)

    def add(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Take request-log records (those without a variant, or older than `since`, are left out);
        returns how many were taken."""
        taken = 0
        for record in records:
            variant = record.get("variant")
            ts = record.get("ts")
            request_id = record.get("id")
            if variant not in VARIANTS or not isinstance(ts, int | float) or ts < self.since:
                continue
            outputs = record.get("outputs")
            served = _Served(
                float(ts),
                str(variant),
                int(record.get("status", 200)),
                float(record.get("latency_ms", 0.0)),
                outputs if isinstance(outputs, list) else [],
                None if record.get("version") is None else str(record.get("version")),
            )
            key = request_id if isinstance(request_id, str) and request_id else f"#{id(served)}"
            self._requests.append((key, served))
            self._by_id[key] = served
            taken += 1
        return taken

    def add_labels(self, labels: Iterable[tuple[str, int, str]]) -> None:
        """Ground truth as (request id, row, label); a later label for the same row wins."""
        for request_id, row, label in labels:
            self._labels[(request_id, row)] = label

    def expire(self, now: float) -> None:
        horizon = now - self.window_seconds
        while self._requests and self._requests[0][1].ts < horizon:
            key, served = self._requests.popleft()
            if self._by_id.get(key) is served:
                del self._by_id[key]

    def figures(self, now: float) -> dict[str, VariantFigures]:
        self.expire(now)
        served_by: dict[str, list[_Served]] = {variant: [] for variant in VARIANTS}
        for _, served in self._requests:
            served_by[served.variant].append(served)
        truth: dict[str, tuple[list[str], list[str]]] = {variant: ([], []) for variant in VARIANTS}
        for (request_id, row), label in self._labels.items():
            answered = self._by_id.get(request_id)
            if answered is None or answered.status != 200 or row >= len(answered.outputs):
                continue
            expected, predicted = truth[answered.variant]
            expected.append(_class_name(label))
            predicted.append(_class_name(answered.outputs[row]))
        return {variant: _variant_figures(served_by[variant], *truth[variant]) for variant in VARIANTS}


def _variant_figures(served: list[_Served], expected: list[str], predicted: list[str]) -> VariantFigures:
    count = len(served)
    server_errors = sum(1 for s in served if s.status >= 500)
    malformed = sum(1 for s in served if 400 <= s.status < 500)
    accuracy = f1 = None
    if expected:
        from sklearn.metrics import accuracy_score, f1_score

        accuracy = float(accuracy_score(expected, predicted))
        f1 = float(f1_score(expected, predicted, average="macro", zero_division=0))
    return VariantFigures(
        requests=count,
        server_errors=server_errors,
        malformed=malformed,
        error_ratio=server_errors / count if count else None,
        malformed_ratio=malformed / count if count else None,
        p99_latency_ms=float(np.percentile([s.latency_ms for s in served], 99)) if count else None,
        labelled_rows=len(expected),
        accuracy=accuracy,
        f1_macro=f1,
        version=served[-1].version if served else None,
    )


def _class_name(value: Any) -> str:
    """1, 1.0 and "1" are the same class (labels come from CSV text, predictions from the model)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def judge(figures: Mapping[str, VariantFigures], thresholds: Thresholds, watched_seconds: float) -> Decision:
    """Roll back on any breach, promote after `promote_after_seconds` without one, else wait/continue."""
    primary, canary = figures[PRIMARY], figures[CANARY]
    short = [
        f"{variant} has {figures[variant].requests} of the {thresholds.min_requests} requests needed"
        for variant in VARIANTS
        if figures[variant].requests < thresholds.min_requests
    ]
    if short:
        certain = list(_certain_breaches(primary, canary, thresholds))
        if certain and primary.requests >= thresholds.min_requests:
            return Decision(ROLLBACK, certain, dict(figures), watched_seconds, thresholds)
        return Decision(WAIT, short, dict(figures), watched_seconds, thresholds)
    breaches = list(_breaches(primary, canary, thresholds))
    if breaches:
        return Decision(ROLLBACK, breaches, dict(figures), watched_seconds, thresholds)
    if watched_seconds >= thresholds.promote_after_seconds:
        reason = f"no breach in {watched_seconds:.0f} s of watching (promote after {thresholds.promote_after_seconds:g} s)"
        return Decision(PROMOTE, [reason], dict(figures), watched_seconds, thresholds)
    return Decision(CONTINUE, ["no breach so far"], dict(figures), watched_seconds, thresholds)


def _certain_breaches(
    primary: VariantFigures, canary: VariantFigures, thresholds: Thresholds
) -> Iterable[str]:
    """Before the canary has `min_requests`: its 5xx or 4xx ratio breaches the limit already when even
    the lower Wilson bound of that ratio (z = EARLY_Z, one-sided 99.87%) is above the primary's ratio
    plus the margin. A canary failing 20% of its requests is then stopped after about 20 of them,
    while one as good as the primary is never stopped by chance this way (its bound stays below)."""
    pairs = (
        ("error ratio", canary.server_errors, primary.error_ratio, thresholds.max_error_ratio_increase),
        (
            "malformed-request ratio",
            canary.malformed,
            primary.malformed_ratio,
            thresholds.max_malformed_ratio_increase,
        ),
    )
    for what, count, reference, margin in pairs:
        if reference is None or count < EARLY_MIN_FAILURES:
            continue
        bound = wilson_lower_bound(count, canary.requests, EARLY_Z)
        if bound > reference + margin:
            yield (
                f"canary {what} {count / canary.requests:.4f} over {canary.requests} requests (at least "
                f"{bound:.4f} with 99.87% confidence) exceeds the primary's {reference:.4f} by more than {margin:g}"
            )


def wilson_lower_bound(successes: int, trials: int, z: float) -> float:
    """The lower end of the Wilson score interval of a binomial proportion."""
    if trials == 0:
        return 0.0
    share = successes / trials
    spread = z * z / trials
    centre = share + spread / 2
    margin = z * math.sqrt(share * (1 - share) / trials + spread / (4 * trials))
    return max(0.0, (centre - margin) / (1 + spread))


def _breaches(primary: VariantFigures, canary: VariantFigures, thresholds: Thresholds) -> Iterable[str]:
    assert primary.error_ratio is not None and canary.error_ratio is not None  # both have requests
    if canary.error_ratio > primary.error_ratio + thresholds.max_error_ratio_increase:
        yield (
            f"canary error ratio {canary.error_ratio:.4f} exceeds the primary's {primary.error_ratio:.4f} "
            f"by more than {thresholds.max_error_ratio_increase:g}"
        )
    assert primary.malformed_ratio is not None and canary.malformed_ratio is not None
    if canary.malformed_ratio > primary.malformed_ratio + thresholds.max_malformed_ratio_increase:
        yield (
            f"canary malformed-request ratio {canary.malformed_ratio:.4f} exceeds the primary's "
            f"{primary.malformed_ratio:.4f} by more than {thresholds.max_malformed_ratio_increase:g}"
        )
    assert primary.p99_latency_ms is not None and canary.p99_latency_ms is not None
    limit = primary.p99_latency_ms * thresholds.max_p99_latency_ratio + thresholds.p99_latency_slack_ms
    if canary.p99_latency_ms > limit:
        yield f"canary p99 latency {canary.p99_latency_ms:.1f} ms exceeds {limit:.1f} ms"
    if min(primary.labelled_rows, canary.labelled_rows) < thresholds.min_labelled_rows:
        return
    assert primary.accuracy is not None and canary.accuracy is not None
    if canary.accuracy < primary.accuracy - thresholds.max_accuracy_drop:
        yield (
            f"canary accuracy {canary.accuracy:.3f} is below the primary's {primary.accuracy:.3f} "
            f"by more than {thresholds.max_accuracy_drop:g} ({canary.labelled_rows} labelled rows)"
        )
    assert primary.f1_macro is not None and canary.f1_macro is not None
    if canary.f1_macro < primary.f1_macro - thresholds.max_f1_drop:
        yield (
            f"canary macro F1 {canary.f1_macro:.3f} is below the primary's {primary.f1_macro:.3f} "
            f"by more than {thresholds.max_f1_drop:g} ({canary.labelled_rows} labelled rows)"
        )
