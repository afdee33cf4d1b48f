"""Canary rollouts on the cluster: what a KServe InferenceService serves, and its promotion or rollback.

The InferenceService is the one the deployment component renders (KServe v0.20 Standard mode, one
`spec.canary` entry; `iml4e_components.deployment.core`). Promotion and rollback send that module's
JSON merge patches onto the object read, then move MLflow's aliases as the local rollout does
(`iml4e_components.rollout.registry_marks`): `champion` to the promoted version, `challenger` cleared.
MLflow is reached only at a tracking URI the user gave (`--tracking-uri`) or configured
(`services.mlflow.uri`, external mode); the managed server's address is inside the cluster. When the
aliases cannot move, the cluster change still happens and the result says why they did not.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from iml4e.errors import ServiceError, UsageError
from iml4e.installer.config import Mode, PlatformConfig
from iml4e_components.deployment import core

if TYPE_CHECKING:
    from iml4e_components.rollout.analysis import Decision
    from iml4e_components.serving.log_store import ObjectStoreLogStore

#: The condition KServe writes for the primary's predictor, and for the canary's.
_PRIMARY_READY, _CANARY_READY = "PredictorReady", "CanaryPredictorReady"


def cluster_tracking_uri(settings: PlatformConfig, given: str | None) -> tuple[str | None, str]:
    """(the cluster's MLflow tracking URI, or None with why it is not known here)."""
    if given:
        return given, ""
    mlflow = settings.services.mlflow
    if mlflow.mode is Mode.external and mlflow.uri:
        return mlflow.uri, ""
    return None, (
        "the cluster's MLflow is managed by iml4e and its address is inside the cluster; pass "
        "--tracking-uri URL (the URL 'iml4e open mlflow' prints) to move the aliases"
    )


def rollout_status(api: Any, name: str, namespace: str) -> dict[str, Any]:
    """What InferenceService `namespace/name` serves: primary and canary with their model URI,
    storage URI, version, traffic share and readiness."""
    return describe(core.read_inference_service(name, namespace, api))


def describe(service: dict[str, Any]) -> dict[str, Any]:
    meta = service.get("metadata") or {}
    status = service.get("status") or {}
    ready, why = core.is_ready(service) if status.get("conditions") else (None, "no status yet")
    return {
        "name": meta.get("name"),
        "namespace": meta.get("namespace"),
        "url": status.get("url", ""),
        "ready": ready,
        "ready_reason": why,
        "variants": variants(service),
    }


def variants(service: dict[str, Any]) -> list[dict[str, Any]]:
    """The primary and (when there is one) the canary of `service`, each as one row of facts."""
    spec = service.get("spec") or {}
    annotations = (service.get("metadata") or {}).get("annotations") or {}
    status = service.get("status") or {}
    split = core.traffic_split(service)
    primary = spec.get("predictor") or {}
    rows = [
        _variant(
            "primary",
            primary,
            str(annotations.get(core.MODEL_URI_ANNOTATION, "")),
            split["primary"]["traffic"],
            _condition(status, _PRIMARY_READY),
        )
    ]
    for entry, share in zip(spec.get("canary") or [], split["canaries"], strict=True):
        reported = share.get("ready")
        rows.append(
            _variant(
                "canary",
                entry.get("predictor") or {},
                str(annotations.get(core.CANARY_URI_ANNOTATION, "")),
                share["traffic"],
                reported if reported is not None else _condition(status, _CANARY_READY),
            )
        )
    return rows


def _variant(
    variant: str, predictor: dict[str, Any], model_uri: str, traffic: int, ready: bool | None
) -> dict[str, Any]:
    return {
        "variant": variant,
        "predictor": predictor.get("name", ""),
        "model_uri": model_uri,
        "storage_uri": (predictor.get("model") or {}).get("storageUri", ""),
        "version": model_version(str(predictor.get("name", "")), model_uri),
        "traffic": traffic,
        "ready": ready,
    }


def model_version(predictor_name: str, model_uri: str) -> str:
    """The registered version a variant serves, as far as the object says: its predictor's name
    (`v<version>`, `core.canary_name`) or a `models:/name/<version>` URI; "" when neither says."""
    named = re.fullmatch(r"v(\d+)", predictor_name)
    if named:
        return named.group(1)
    pinned = re.fullmatch(r"models:/[^@/]+/(\d+)", model_uri)
    return pinned.group(1) if pinned else ""


def _condition(status: dict[str, Any], kind: str) -> bool | None:
    found = next((c for c in status.get("conditions") or [] if c.get("type") == kind), None)
    return None if found is None else found.get("status") == "True"


def change_rollout(
    api: Any, name: str, namespace: str, action: str, tracking_uri: str | None, unknown_why: str
) -> dict[str, Any]:
    """Promote or roll back the canary of `namespace/name` (the patch applies onto the object read,
    so a change in between is refused, not mixed), then move the MLflow aliases when it can."""
    current = core.read_inference_service(name, namespace, api)
    # Refuses a service without a canary before anything changes (the patch itself is core's).
    if action == "promote":
        core.promote_patch(current)
    else:
        core.rollback_patch(current)
    canary = next(v for v in variants(current) if v["variant"] == "canary")
    # Resolved before the patch: `models:/M@challenger` still names the canary's version now.
    registered, why = _registered(str(canary["model_uri"]), tracking_uri, unknown_why)
    after = core.apply_rollout(name, action, namespace, api, current=current)
    registry = _move_aliases(action, registered, why, tracking_uri)
    done = "promoted" if action == "promote" else "rolled_back"
    return {
        "name": name,
        "namespace": namespace,
        "action": action,
        done: canary,
        "serving": variants(after),
        "registry": registry,
    }


def _registered(
    canary_uri: str, tracking_uri: str | None, unknown_why: str
) -> tuple[tuple[str, str] | None, str]:
    """(registered model, version) of the canary, or None with why the aliases cannot move."""
    if not tracking_uri:
        return None, unknown_why
    if not canary_uri.startswith("models:/"):
        return None, (
            f"the canary's model URI ({canary_uri or f'no {core.CANARY_URI_ANNOTATION} annotation'}) "
            "is not a registered model version"
        )
    unreachable = _unreachable(tracking_uri)
    if unreachable:
        return None, f"MLflow at {tracking_uri} did not answer ({unreachable}); check --tracking-uri"
    _use_registry(tracking_uri)
    from iml4e_components.rollout.registry_marks import registered_version

    found = registered_version(canary_uri)
    if found is None:
        return None, f"MLflow at {tracking_uri} does not know {canary_uri}; check --tracking-uri"
    return found, ""


def _unreachable(tracking_uri: str) -> str:
    """Why MLflow's health endpoint does not answer at `tracking_uri` ("" when it does): a few seconds
    here instead of the MLflow client's minutes of retries."""
    import httpx

    try:
        answer = httpx.get(f"{tracking_uri.rstrip('/')}/health", timeout=5.0)
    except httpx.HTTPError as exc:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return "" if answer.status_code < 400 else f"HTTP {answer.status_code}"


def _use_registry(tracking_uri: str) -> None:
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)


def _move_aliases(
    action: str, registered: tuple[str, str] | None, why: str, tracking_uri: str | None
) -> dict[str, Any]:
    from iml4e_components.rollout.registry_marks import (
        CHALLENGER,
        CHAMPION,
        clear_challenger,
        promote_version,
    )

    alias = CHAMPION if action == "promote" else CHALLENGER
    if registered is None:
        return {"moved": False, "alias": alias, "reason": why}
    from mlflow.exceptions import MlflowException

    model, version = registered
    try:
        if action == "promote":
            promote_version(model, version)
        else:
            clear_challenger(model)
    except MlflowException as exc:
        return {
            "moved": False,
            "alias": alias,
            "model": model,
            "version": version,
            "reason": f"MLflow at {tracking_uri} refused it ({exc.message.splitlines()[0]})",
        }
    return {"moved": True, "alias": alias, "model": model, "version": version, "tracking_uri": tracking_uri}


def watch_rollout(
    api: Any,
    name: str,
    namespace: str,
    settings: PlatformConfig,
    tracking_uri: str | None,
    unknown_why: str,
    act: bool = True,
    progress: Callable[[Decision], None] | None = None,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Judge the canary of InferenceService `namespace/name` on the requests its model servers log
    to the object store from now on (`iml4e_components.rollout.canary_watch`), then promote or roll
    it back as `change_rollout` does (unless `act` is False); the decision is recorded as locally
    (MLflow tags when the canary's version is known at `tracking_uri`, an OpenLineage event)."""
    from iml4e_components.rollout.canary_watch import record_decision, watch_canary
    from iml4e_components.rollout.log_tail import ObjectStoreTail

    service = core.read_inference_service(name, namespace, api)
    canary = next((v for v in variants(service) if v["variant"] == "canary"), None)
    if canary is None:
        raise UsageError(
            f"InferenceService {namespace}/{name} has no canary to watch; deploy one first with rollout=canary"
        )
    if not canary["traffic"] > 0:
        raise UsageError(
            f"the canary of InferenceService {namespace}/{name} takes 0% of the requests, so it can never "
            "reach rollout.min_requests; give it a trafficPercent above 0"
        )
    store = cluster_request_log(settings)
    # Resolved before any change: `models:/M@challenger` names the canary's version only until then.
    registered, _ = _registered(str(canary["model_uri"]), tracking_uri, unknown_why)

    def carry_out(action: str) -> dict[str, Any]:
        return change_rollout(api, name, namespace, action, tracking_uri, unknown_why)

    rollout = settings.rollout
    watched = watch_canary(
        ObjectStoreTail(store, name),
        rollout.thresholds(),
        carry_out if act else None,
        rollout.interval_seconds,
        progress,
        timeout,
    )
    if not watched.decided:
        raise ServiceError(
            watched.undecided(
                f"the canary of InferenceService {namespace}/{name}",
                timeout,
                "the InferenceService is unchanged",
            )
        )
    result = {
        "name": name,
        "namespace": namespace,
        "canary": canary,
        "request_log": store.describe(name),
        "decided_at": watched.decided_at,
        "acted": act,
        **watched.decision.as_dict(),
        "serving": watched.outcome.get("serving"),
        "registry": watched.outcome.get("registry"),
    }
    record_decision(registered, str(canary["model_uri"]), result)
    return result


def cluster_request_log(settings: PlatformConfig) -> ObjectStoreLogStore:
    """The object store the cluster's model servers log requests to, reached from here: the bucket
    and prefix of `IML4E_REQUEST_LOG_BUCKET`/`_PREFIX` (as the servers and the drift monitor read
    them), else of iml4e.yaml (`services.object_store.bucket`, `monitoring.drift.request_log_prefix`);
    endpoint and keys from `AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`."""
    from iml4e_components.object_store import client_from_env
    from iml4e_components.serving.log_store import BUCKET_ENV, PREFIX_ENV, ObjectStoreLogStore

    bucket = os.environ.get(BUCKET_ENV, "").strip() or settings.services.object_store.bucket
    prefix = (
        (os.environ.get(PREFIX_ENV, "") or settings.monitoring.drift.request_log_prefix).strip().strip("/")
    )
    return ObjectStoreLogStore(client_from_env(f"the request log (s3://{bucket}/{prefix})"), bucket, prefix)
