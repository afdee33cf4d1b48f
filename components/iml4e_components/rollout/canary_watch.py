"""The canary watch: read what was served since the last look, judge, and act on the first decision.

One loop for every target: a `RequestSource` (`rollout.log_tail`: the local request log, or the
object store the cluster's model servers upload to) says what is new, `act` carries out the decision
(the local server's split, or the InferenceService's patch). The caller refuses what cannot be
watched before it starts, and records the decision after (`record_decision`: MLflow tags, OpenLineage).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from iml4e_components.rollout.analysis import PROMOTE, ROLLBACK, Decision, RequestWindow, Thresholds, judge
from iml4e_components.rollout.log_tail import RequestSource

#: Carries out `rollback` or `promote`; returns what changed (JSON-ready).
Act = Callable[[str], dict[str, Any]]


@dataclass(frozen=True)
class WatchResult:
    """The last decision; when it is a rollback or promotion, when it was made and what `act` did."""

    decision: Decision
    decided_at: float
    outcome: dict[str, Any] = field(default_factory=dict)

    @property
    def decided(self) -> bool:
        return self.decision.action in (ROLLBACK, PROMOTE)

    def undecided(self, what: str, timeout: float | None, unchanged: str) -> str:
        """Why the watch of `what` ended without a decision, what was left as it was, and the fix."""
        return (
            f"no decision on {what} within {timeout or 0:g} s ({'; '.join(self.decision.reasons)}); "
            f"{unchanged}: send more traffic or watch longer"
        )


def watch_canary(
    source: RequestSource,
    thresholds: Thresholds,
    act: Act | None,
    interval: float = 1.0,
    progress: Callable[[Decision], None] | None = None,
    timeout: float | None = None,
) -> WatchResult:
    """Judge the canary on the traffic from now on, every `interval` seconds, until the first
    rollback or promotion (carried out by `act` unless it is None) or until `timeout` seconds have
    passed without one (then nothing is done and the result is not `decided`)."""
    source.skip_existing()
    window = RequestWindow(thresholds.window_seconds, since=time.time())
    started = time.monotonic()
    while True:
        window.add(source.new_records())
        window.add_labels(source.new_labels())
        decision = judge(window.figures(time.time()), thresholds, time.monotonic() - started)
        if progress is not None:
            progress(decision)
        if decision.action in (ROLLBACK, PROMOTE):
            decided_at = time.time()
            return WatchResult(decision, decided_at, act(decision.action) if act is not None else {})
        if timeout is not None and time.monotonic() - started >= timeout:
            return WatchResult(decision, time.time())
        time.sleep(interval)


def record_decision(registered: tuple[str, str] | None, canary_uri: str, result: dict[str, Any]) -> None:
    """The decision in `result` (`name`, `decided_at` and a `Decision.as_dict()`) with its figures as
    tags on the canary's model version and run when it is `registered` (model, version), and as an
    OpenLineage event (job `rollout_decision`)."""
    import json

    from iml4e_components.lineage.emit import lineage_step

    figures = {
        f"{variant}.{key}": value
        for variant, values in result["figures"].items()
        for key, value in values.items()
        if value is not None
    }
    if registered is not None:
        from iml4e_components.rollout.registry_marks import tag_decision

        tag_decision(
            *registered,
            {
                "decision": result["action"],
                "reasons": "; ".join(result["reasons"]),
                "served_as": result["name"],
                "decided_at": result["decided_at"],
                "figures": json.dumps(figures, sort_keys=True),
            },
        )
    with lineage_step("rollout_decision") as step:
        step.annotate(
            model_name=registered[0] if registered else None,
            model_version=registered[1] if registered else None,
            model_uri=canary_uri,
            served_as=result["name"],
            decision=result["action"],
            reasons=result["reasons"],
            figures=result["figures"],
            thresholds=result["thresholds"],
        )
