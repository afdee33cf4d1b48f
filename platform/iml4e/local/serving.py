"""Served models as managed local services (`serve:<name>`): start, replace, restart, stop.

Each model server is `python -m iml4e_components.serving` on 127.0.0.1, recorded in the state
file like the MLflow server, so `iml4e status` lists it, `iml4e down` stops it and `iml4e up`
restarts the ones that died.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from iml4e.errors import Iml4eError, ServiceError, UsageError
from iml4e.local import processes
from iml4e.local.services import ServiceSpec, start_service, state_lock, status_of, stop_service
from iml4e.local.state import PlatformState, ServiceRecord, load_state, save_state

T = TypeVar("T")
PREFIX = "serve:"
MARKER = "iml4e_components.serving"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
#: Loading a model can take a while on a busy laptop (MLflow import, artifact download).
STARTUP_TIMEOUT = 300.0
#: The share a canary takes when `--canary-traffic` is not given.
DEFAULT_CANARY_TRAFFIC = 10.0
#: Seconds a server may take to apply a new split (loading a canary model can take a while).
SPLIT_TIMEOUT = STARTUP_TIMEOUT


def service_name(name: str) -> str:
    return f"{PREFIX}{name}"


def default_name(model_uri: str) -> str:
    """A served name from the model URI: `models:/churn@champion` -> `churn`, `runs:/abc123/model` -> `model-abc123`."""
    if model_uri.startswith("models:/"):
        base = re.split(r"[@/]", model_uri.removeprefix("models:/"), maxsplit=1)[0]
    elif model_uri.startswith("runs:/"):
        parts = model_uri.removeprefix("runs:/").split("/")
        base = f"{parts[-1] or 'model'}-{parts[0][:8]}"
    else:
        base = Path(model_uri.rstrip("/")).name or "model"
    cleaned = re.sub(r"[^a-z0-9_.-]+", "-", base.lower()).strip("-.") or "model"
    return cleaned[:63]


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise UsageError(
            f"model name '{name}' cannot appear in an endpoint path; use lowercase letters, digits, '-', '_' or '.'"
        )
    return name


def server_spec(
    root: Path,
    model_uri: str,
    name: str,
    port: int,
    host: str,
    tracking_uri: str | None,
    log_sample_rate: float,
    allow_model_control: bool = False,
    canary_uri: str | None = None,
    canary_traffic: float = 0.0,
) -> ServiceSpec:
    command = [
        sys.executable, "-m", "iml4e_components.serving",
        "--model-uri", model_uri,
        "--name", name,
        "--port", str(port),
        "--host", host,
        "--state-dir", str(root),
        "--log-sample-rate", str(log_sample_rate),
    ]  # fmt: skip
    if allow_model_control:
        command.append("--allow-model-control")
    if canary_uri:
        command += ["--canary-uri", canary_uri, "--canary-traffic", str(canary_traffic)]
    env = {"IML4E_HOME": str(root)}
    if tracking_uri:
        env["MLFLOW_TRACKING_URI"] = tracking_uri
    url = f"http://{host}:{port}"
    return ServiceSpec(
        name=service_name(name),
        command=command,
        port=port,
        health_path=f"/v2/models/{name}/ready",
        marker=MARKER,
        data_dir=root / "serving" / name,
        host=host,
        startup_timeout=STARTUP_TIMEOUT,
        env=env,
        extra={
            "model_uri": model_uri,
            "model_name": name,
            "log_sample_rate": log_sample_rate,
            "allow_model_control": allow_model_control,
            "canary_uri": canary_uri or "",
            "canary_traffic": canary_traffic if canary_uri else 0.0,
            "tracking_uri": tracking_uri or "",
            "v1": f"{url}/v1/models/{name}:predict",
            "v2": f"{url}/v2/models/{name}/infer",
            "metrics": f"{url}/metrics",
        },
    )


def check_serving_arguments(
    model_uri: str,
    name: str,
    log_sample_rate: float,
    canary_uri: str | None = None,
    canary_traffic: float | None = None,
) -> None:
    """Refuse what `serve_detached` cannot serve before anything is looked up or started."""
    check_name(name)
    if not model_uri.strip():
        raise UsageError("the model URI is empty; pass one such as models:/churn@champion")
    if not 0.0 <= log_sample_rate <= 1.0:
        raise UsageError(f"--log-sample-rate {log_sample_rate} is out of range; use a number between 0 and 1")
    if canary_traffic is not None and not 0.0 <= canary_traffic <= 100.0:
        raise UsageError(
            f"--canary-traffic {canary_traffic} is out of range; give a percentage from 0 to 100"
        )
    if canary_uri is not None and not canary_uri.strip():
        raise UsageError("the --canary model URI is empty; pass one such as models:/churn@challenger")
    if canary_traffic is not None and canary_uri is None:
        raise UsageError("--canary-traffic needs --canary MODEL_URI, the model that takes that share")


def serve_detached(
    model_uri: str,
    name: str,
    port: int | None = None,
    host: str = "127.0.0.1",
    log_sample_rate: float = 1.0,
    tracking_uri: str | None = None,
    allow_model_control: bool = False,
    canary_uri: str | None = None,
    canary_traffic: float = DEFAULT_CANARY_TRAFFIC,
) -> ServiceRecord:
    """Serve `model_uri` as `serve:<name>` and return once it is ready.

    `tracking_uri` is the MLflow server a `models:/` or `runs:/` URI is resolved against (default:
    `MLFLOW_TRACKING_URI`). The same name, model and settings again return the running server;
    another model URI (or port) replaces it, on the same port unless told otherwise.

    With `canary_uri`, that model answers `canary_traffic` percent of the requests (by request id).
    When only the canary or its share changes, the running server takes the change without a
    restart. A canary that does not load raises `UsageError`; the primary keeps serving every request.

    A URI that names no MLflow model (see `model_uri_check`) raises `UsageError` before anything is
    started or stopped.
    """
    check_serving_arguments(
        model_uri, name, log_sample_rate, canary_uri, canary_traffic if canary_uri else None
    )
    tracking_uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    from iml4e.local.model_uri_check import check_model_uri

    served = _uris_served_as(name)  # those need no check (and the CLI no MLflow import)
    if model_uri not in served:
        check_model_uri(model_uri, tracking_uri)  # before any server (a running one too) is touched
    if canary_uri and canary_uri not in served:
        check_model_uri(canary_uri, tracking_uri, role="canary")
    with state_lock() as root:
        state = load_state(root)
        existing = state.services.get(service_name(name))
        state.stopped.pop(service_name(name), None)  # served anew: `up` has nothing to restart
        if existing is not None:
            same = (
                existing.extra.get("model_uri") == model_uri
                and (port is None or port == existing.port)
                and bool(existing.extra.get("allow_model_control", False)) == allow_model_control
                and float(existing.extra.get("log_sample_rate", 1.0)) == log_sample_rate
            )
            if same and existing.host == host and status_of(existing).healthy:
                if (existing.extra.get("canary_uri") or None) == canary_uri and (
                    canary_uri is None or float(existing.extra.get("canary_traffic", 0.0)) == canary_traffic
                ):
                    return existing
                return _change_split(root, state, existing, canary_uri, canary_traffic)
            stop_service(existing.name, state, root)
        chosen = port or (
            existing.port if existing is not None and processes.port_is_free(existing.port, host) else None
        )
        chosen = chosen or processes.free_port(host)
        spec = server_spec(
            root,
            model_uri,
            name,
            chosen,
            host,
            tracking_uri,
            log_sample_rate,
            allow_model_control,
            canary_uri,
            canary_traffic,
        )
        _write_split(root, name, canary_uri, canary_traffic)
        record = start_service(spec, state, root)
        if canary_uri:
            _check_canary_served(root, state, record, canary_uri, served_split(record))
            mark_challenger(tracking_uri, canary_uri)
        return record


def _uris_served_as(name: str) -> set[str]:
    """The model URIs (primary and canary) the healthy server `serve:<name>` serves now."""
    record = load_state().services.get(service_name(name))
    if record is None or not status_of(record).healthy:
        return set()
    return {str(record.extra.get(key) or "") for key in ("model_uri", "canary_uri")} - {""}


def served_split(record: ServiceRecord) -> dict[str, Any]:
    """What the server reports it serves (`GET /iml4e/rollout`): generation, error, canary_traffic,
    and the primary's and canary's model URI and version."""
    import httpx

    from iml4e_components.serving.traffic_split import STATUS_PATH

    try:
        response = httpx.get(record.url + STATUS_PATH, timeout=10.0)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise ServiceError(
            f"the model server '{record.name}' does not answer ({exc}); see 'iml4e status' and its log {record.log}"
        ) from None
    answer: dict[str, Any] = response.json()
    return answer


def change_split(
    record: ServiceRecord,
    canary_uri: str | None,
    canary_traffic: float,
    promote: bool = False,
    root: Path | None = None,
) -> dict[str, Any]:
    """Make the running server serve another split (see `iml4e_components.serving.traffic_split`); returns
    the split it serves once applied. Requests in flight finish on the variant they started on."""
    import time

    from iml4e_components.serving.traffic_split import (
        RolloutControl,
        control_path,
        read_control,
        write_control,
    )

    name = str(record.extra.get("model_name", record.name.removeprefix(PREFIX)))
    path = control_path(root or Path(record.data_dir).parent.parent, name)
    previous = read_control(path) if path.exists() else None
    current = served_split(record)
    generation = max(previous.generation if previous else 0, int(current.get("generation", 0))) + 1
    write_control(
        path, RolloutControl(generation, canary_uri, canary_traffic if canary_uri else 0.0, promote)
    )
    deadline = time.monotonic() + SPLIT_TIMEOUT
    while True:
        current = served_split(record)
        if int(current.get("generation", 0)) >= generation:
            return current
        if time.monotonic() > deadline:
            raise ServiceError(
                f"the model server '{name}' did not apply the new split within {SPLIT_TIMEOUT:.0f} s; "
                f"read its log {record.log}"
            )
        time.sleep(0.05)


def use_registry(tracking_uri: str | None) -> bool:
    """Point MLflow's client at `tracking_uri`; False when there is none (a path-served model)."""
    if not tracking_uri:
        return False
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    return True


def mark_challenger(tracking_uri: str | None, canary_uri: str) -> None:
    """The `challenger` alias marks the canary's registered version (champion does not move)."""
    if canary_uri.startswith("models:/") and use_registry(tracking_uri):
        from iml4e_components.rollout.registry_marks import mark_challenger as set_alias

        set_alias(canary_uri)


def _write_split(root: Path, name: str, canary_uri: str | None, canary_traffic: float) -> None:
    """The split a server about to start serves (it reads the control file when it starts)."""
    from iml4e_components.serving.traffic_split import (
        RolloutControl,
        control_path,
        read_control,
        write_control,
    )

    path = control_path(root, name)
    try:
        previous = read_control(path)
    except Exception:  # an unreadable old file is replaced
        previous = None
    generation = (previous.generation if previous else 0) + 1
    write_control(path, RolloutControl(generation, canary_uri, canary_traffic if canary_uri else 0.0))


def _change_split(
    root: Path,
    state: PlatformState,
    record: ServiceRecord,
    canary_uri: str | None,
    canary_traffic: float,
) -> ServiceRecord:
    served = change_split(record, canary_uri, canary_traffic, root=root)
    if canary_uri:
        _check_canary_served(root, state, record, canary_uri, served)
        mark_challenger(str(record.extra.get("tracking_uri", "")) or None, canary_uri)
    remember_split(state, record, canary_uri, canary_traffic)
    save_state(state, root)
    return record


def remember_split(
    state: PlatformState, record: ServiceRecord, canary_uri: str | None, canary_traffic: float
) -> None:
    """Keep the split in the state record, so `up` after `down` serves it again."""
    record.extra["canary_uri"] = canary_uri or ""
    record.extra["canary_traffic"] = canary_traffic if canary_uri else 0.0
    state.services[record.name] = record


def _check_canary_served(
    root: Path, state: PlatformState, record: ServiceRecord, canary_uri: str, served: dict[str, Any]
) -> None:
    """A canary that did not load: forget it (the primary serves every request) and say why."""
    canary = served.get("canary") or {}
    if canary.get("model_uri") == canary_uri and not served.get("error"):
        return
    name = str(record.extra.get("model_name"))
    change_split(record, None, 0.0, root=root)
    remember_split(state, record, None, 0.0)
    save_state(state, root)
    reason = served.get("error") or "the server did not load it"
    raise UsageError(
        f"canary {canary_uri} is not served ({reason}); the primary keeps serving every request of '{name}'"
    )


def stop_serving(name: str) -> bool:
    """Stop `serve:<name>` and forget it (`up` will not start it again); returns whether it was running."""
    with state_lock() as root:
        state = load_state(root)
        if state.stopped.pop(service_name(name), None) is not None:
            save_state(state, root)
            return False
        if service_name(name) not in state.services:
            served = (
                ", ".join(n.removeprefix(PREFIX) for n in state.services if n.startswith(PREFIX)) or "none"
            )
            raise UsageError(f"no served model named '{name}' (served: {served}); see 'iml4e status'")
        return stop_service(service_name(name), state, root)


def served_models(state: PlatformState) -> list[ServiceRecord]:
    return [record for name, record in state.services.items() if name.startswith(PREFIX)]


def restart_served_models(tracking_uri: str) -> tuple[list[str], dict[str, str]]:
    """Start again the model servers that `down` stopped, that died, or that run without a ready
    model (unloaded through model control, or hung): same model, same port when it is free.
    Returns the names started and, for those that failed, their logs (they stay recorded)."""
    restarted: list[str] = []
    failed: dict[str, str] = {}
    with state_lock() as root:
        state = load_state(root)
        stopped = [r for n, r in state.stopped.items() if n.startswith(PREFIX)]
        not_ready = [r for r in served_models(state) if not status_of(r).healthy]
        for record in [*stopped, *not_ready]:
            name = str(record.extra.get("model_name", record.name.removeprefix(PREFIX)))
            model_uri = str(record.extra.get("model_uri", ""))
            stop_service(record.name, state, root)
            state.stopped.pop(record.name, None)
            if not model_uri:
                save_state(state, root)
                continue
            port = record.port if processes.port_is_free(record.port, record.host) else processes.free_port()
            recorded_uri = str(record.extra.get("tracking_uri", "")) or None
            if recorded_uri and recorded_uri.startswith("http://127.0.0.1:"):
                recorded_uri = tracking_uri  # the local MLflow server may have moved port
            rate = float(record.extra.get("log_sample_rate", 1.0))
            control = bool(record.extra.get("allow_model_control", False))
            canary = str(record.extra.get("canary_uri", "")) or None
            share = float(record.extra.get("canary_traffic", 0.0))
            spec = server_spec(
                root, model_uri, name, port, record.host, recorded_uri, rate, control, canary, share
            )
            try:
                start_service(spec, state, root)
            except Iml4eError:
                state.services[record.name] = record  # keep it listed (as down) with its log to read
                save_state(state, root)
                failed[record.name] = record.log
                continue
            restarted.append(record.name)
    return restarted, failed


def demo_serving(
    model_uri: str, tracking_uri: str, reference_source: str = "sample:churn", rows: int = 50
) -> dict[str, str]:
    """For `iml4e demo`: serve `model_uri`, answer a few V2 and V1 requests from reference rows, check drift.

    Returns summary lines (what -> where). A failure here becomes a warning and a summary line, so
    the demo still shows what the pipeline produced.
    """
    import httpx

    from iml4e import console
    from iml4e_components.errors import ComponentError

    try:
        with console.err.status("serving the champion locally, sending requests, checking drift..."):
            return _serve_answer_and_check(model_uri, tracking_uri, reference_source, rows)
    except (Iml4eError, ComponentError, httpx.HTTPError, KeyError) as exc:
        console.warn(f"serving the champion failed: {exc}")
        return {"served model": f"failed: {exc} (try 'iml4e serve {model_uri} --detach')"}


def _serve_answer_and_check(
    model_uri: str, tracking_uri: str, reference_source: str, rows: int
) -> dict[str, str]:
    """Requests use the server's own V2 metadata for input names and datatypes, so any tabular model works."""
    import httpx

    from iml4e.paths import state_dir
    from iml4e_components.datasets.core import load_table
    from iml4e_components.monitoring.core import check_drift

    name = default_name(model_uri)
    record = serve_detached(model_uri, name, tracking_uri=tracking_uri)
    reference = load_table(reference_source)
    base = f"{record.url}"
    inputs = httpx.get(f"{base}/v2/models/{name}", timeout=30).json()["inputs"]
    sample = reference.sample(n=min(rows, len(reference)), random_state=0)
    records = sample[[i["name"] for i in inputs]].to_dict(orient="records")
    split = max(1, len(records) * 4 // 5)
    v2_body = {
        "inputs": [
            {
                "name": i["name"],
                "shape": [split],
                "datatype": i["datatype"],
                "data": [r[i["name"]] for r in records[:split]],
            }
            for i in inputs
        ]
    }
    answered = 0
    for url, body in (
        (f"{base}/v2/models/{name}/infer", v2_body),
        (f"{base}/v1/models/{name}:predict", {"instances": records[split:]}),
    ):
        if body.get("instances") == []:
            continue
        response = httpx.post(url, content=_json_bytes(body), timeout=60)
        if response.status_code != 200:
            raise Iml4eError(
                f"the served model refused the demo request ({response.status_code}): {response.text}"
            )
        answered += 1
    check = _wait_for_log_then_check(lambda: check_drift(state_dir(), name, reference))
    verdict = "drift" if check.result.dataset_drift else "no drift"
    return {
        "served model (V2)": str(record.extra.get("v2")),
        "served model (V1)": str(record.extra.get("v1")),
        "requests answered": f"{answered} ({len(records)} rows)",
        "serving metrics": str(record.extra.get("metrics")),
        "drift report": f"{check.report} ({verdict}, {check.result.drift_share:.0%} of features drifted)",
    }


def _json_bytes(body: object) -> bytes:
    import orjson

    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)


def _wait_for_log_then_check(check: Callable[[], T], timeout: float = 10.0) -> T:
    """The server logs requests from a background thread; retry until they are on disk."""
    import time

    from iml4e_components.errors import ComponentError

    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except ComponentError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
