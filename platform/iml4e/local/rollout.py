"""Canary rollouts of a locally served model: status, promote, roll back, and the automatic watch.

The model server holds both variants and splits requests by id (`iml4e_components.serving.traffic_split`);
this module changes the split through `serving.change_split`, keeps the state record in step (so
`up` after `down` serves the same split), moves MLflow's aliases (`challenger` marks the canary,
`champion` moves only on promotion), and for `watch` feeds the request log to the analysis
(`iml4e_components.rollout.analysis`) and records each decision in MLflow and OpenLineage.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from iml4e.errors import ServiceError, UsageError
from iml4e.local.services import state_lock, status_of
from iml4e.local.serving import (
    PREFIX,
    change_split,
    remember_split,
    served_split,
    service_name,
    use_registry,
)
from iml4e.local.state import PlatformState, ServiceRecord, load_state, save_state
from iml4e_components.rollout.analysis import PROMOTE, ROLLBACK, Decision, Thresholds


def served_record(state: PlatformState, name: str) -> ServiceRecord:
    """The running server of `name`; a usage error when it is not served."""
    record = state.services.get(service_name(name))
    if record is None or not status_of(record).healthy:
        served = ", ".join(n.removeprefix(PREFIX) for n in state.services if n.startswith(PREFIX)) or "none"
        raise UsageError(
            f"no running model server named '{name}' (served: {served}); "
            f"start one with 'iml4e serve MODEL_URI --name {name} --canary CANARY_URI'"
        )
    return record


def served_canary(
    record: ServiceRecord, name: str, action: str, split: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The canary `record` serves (model URI, version); a usage error naming `action` when none."""
    canary = (split if split is not None else served_split(record)).get("canary")
    if not canary:
        raise UsageError(
            f"'{name}' serves no canary to {action}; serve one with "
            f"'iml4e serve MODEL_URI --name {name} --canary CANARY_URI --canary-traffic 10'"
        )
    return dict(canary)


def rollout_status(name: str) -> dict[str, Any]:
    """What `name` serves now: primary and canary (URI, version), the canary's share, its last error."""
    with state_lock() as root:
        record = served_record(load_state(root), name)
    return {"name": name, "url": record.url, **served_split(record)}


def promote(name: str) -> dict[str, Any]:
    """The canary becomes the primary for every request; `champion` moves to its version."""
    with state_lock() as root:
        state = load_state(root)
        record = served_record(state, name)
        canary = served_canary(record, name, "promote")
        after = change_split(record, None, 0.0, promote=True, root=root)
        canary_uri = str(canary["model_uri"])
        primary_uri = str(record.extra.get("model_uri"))
        registered = _registered(record, canary_uri)
        if registered is not None:
            from iml4e_components.rollout.registry_marks import promote_version

            promote_version(*registered)
        record.extra["model_uri"] = promoted_uri(primary_uri, canary_uri, registered)
        remember_split(state, record, None, 0.0)
        save_state(state, root)
    return {"name": name, "action": PROMOTE, "promoted": canary, "serving": after}


def rollback(name: str) -> dict[str, Any]:
    """The primary answers every request again; the `challenger` alias is cleared."""
    with state_lock() as root:
        state = load_state(root)
        record = served_record(state, name)
        canary = served_canary(record, name, "roll back")
        after = change_split(record, None, 0.0, root=root)
        registered = _registered(record, str(canary["model_uri"]))
        if registered is not None:
            from iml4e_components.rollout.registry_marks import clear_challenger

            clear_challenger(registered[0])
        remember_split(state, record, None, 0.0)
        save_state(state, root)
    return {"name": name, "action": ROLLBACK, "rolled_back": canary, "serving": after}


def promoted_uri(primary_uri: str, canary_uri: str, registered: tuple[str, str] | None) -> str:
    """The primary's URI after a promotion: `models:/M@champion` stays (the alias moved to the
    canary's version), a canary served as `models:/M@challenger` becomes `models:/M@champion`
    (that alias is cleared), any other canary URI is served as it is."""
    if registered is not None:
        champion = f"models:/{registered[0]}@champion"
        if primary_uri == champion or canary_uri == f"models:/{registered[0]}@challenger":
            return champion
    return canary_uri


def _registered(record: ServiceRecord, model_uri: str) -> tuple[str, str] | None:
    if not model_uri.startswith("models:/") or not use_registry(str(record.extra.get("tracking_uri", ""))):
        return None
    from iml4e_components.rollout.registry_marks import registered_version

    return registered_version(model_uri)


def watch(
    name: str,
    thresholds: Thresholds,
    interval: float = 1.0,
    progress: Callable[[Decision], None] | None = None,
    act: bool = True,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Judge the canary of `name` on the traffic from now on until it is rolled back or promoted.

    Every `interval` seconds the new request-log lines and labels join the window; the first
    rollback or promotion decided is carried out (unless `act` is False), written to the canary's
    MLflow version and run as tags and as an OpenLineage event, and returned with its figures."""
    from iml4e_components.rollout.canary_watch import watch_canary
    from iml4e_components.rollout.log_tail import LogTail

    with state_lock() as root:
        record = served_record(load_state(root), name)
    split = served_split(record)
    canary = served_canary(record, name, "watch", split)
    if not float(split.get("canary_traffic", 0.0)) > 0:
        raise UsageError(
            f"the canary of '{name}' takes 0% of the requests, so it can never reach "
            f"rollout.min_requests; serve it with --canary-traffic above 0"
        )

    def carry_out(action: str) -> dict[str, Any]:
        return rollback(name) if action == ROLLBACK else promote(name)

    watched = watch_canary(
        LogTail(root, name), thresholds, carry_out if act else None, interval, progress, timeout
    )
    decision = watched.decision
    if not watched.decided:
        raise ServiceError(watched.undecided(f"the canary of '{name}'", timeout, "the split is unchanged"))
    outcome, decided_at = watched.outcome, watched.decided_at
    result = {
        "name": name,
        "canary": canary,
        "decided_at": decided_at,
        "acted": act,
        **decision.as_dict(),
        "serving": outcome.get("serving"),
    }
    record_decision(record, str(canary["model_uri"]), result)
    return result


def record_decision(record: ServiceRecord, canary_uri: str, result: dict[str, Any]) -> None:
    """The decision and its figures as tags on the canary's model version and run, and as an
    OpenLineage event (`iml4e_components.rollout.canary_watch.record_decision`)."""
    from iml4e_components.rollout import canary_watch

    canary_watch.record_decision(_registered(record, canary_uri), canary_uri, result)
