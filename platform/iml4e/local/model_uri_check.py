"""Check that a model URI names a servable MLflow model before any model server is started.

A `models:/` URI is resolved in the registry (name, then alias, version, stage or latest), a `runs:/`
URI through the run and its logged models, a local path on disk; each must end at a directory that
holds an `MLmodel` file. Only metadata and artifact listings are read: nothing is downloaded.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from iml4e.errors import ServiceError, UsageError

#: The forms `iml4e serve` takes, for messages.
FORMS = "models:/NAME@ALIAS, models:/NAME/VERSION, runs:/RUN_ID/PATH or a local model directory"
#: Bounded requests while checking: an unreachable server fails in seconds, not after minutes of retries.
_QUICK_REQUESTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")


def check_model_uri(model_uri: str, tracking_uri: str | None, role: str = "") -> None:
    """Raise `UsageError` (one line: the problem and the fix) unless `model_uri` names an MLflow model.

    `tracking_uri` is the server `models:/` and `runs:/` URIs are resolved against; `role` (such as
    "canary") starts the message. An MLflow server that does not answer raises `ServiceError`."""
    try:
        _check(model_uri, tracking_uri)
    except UsageError as exc:
        raise UsageError(f"{role} {model_uri}: {exc}" if role else str(exc)) from None


def _check(model_uri: str, tracking_uri: str | None) -> None:
    scheme = urllib.parse.urlparse(model_uri).scheme
    if not scheme or _WINDOWS_DRIVE.match(model_uri):
        _check_model_directory(Path(model_uri), model_uri)
    elif scheme == "file":
        _check_model_directory(Path(urllib.parse.unquote(urllib.parse.urlparse(model_uri).path)), model_uri)
    elif scheme in ("models", "runs"):
        if not tracking_uri:
            raise UsageError(
                f"{model_uri} needs an MLflow server to resolve it; run 'iml4e up' or set MLFLOW_TRACKING_URI"
            )
        with _quick_requests():
            client = _client(tracking_uri)
            try:
                if scheme == "models":
                    location, described = _registered_model_location(client, model_uri, tracking_uri)
                else:
                    location, described = _run_model_location(client, model_uri, tracking_uri)
                if not _holds_mlmodel(location, tracking_uri):
                    raise UsageError(
                        f"{described} holds no MLmodel file at {location}, so it is not an MLflow model; "
                        f"serve another version or run ({FORMS})"
                    )
            except Exception as exc:
                if not _unreachable(exc):
                    raise
                raise ServiceError(
                    f"the MLflow server at {tracking_uri} does not answer; start it with 'iml4e up' "
                    "or set MLFLOW_TRACKING_URI to a running server"
                ) from None
    else:
        _check_known_scheme(model_uri, scheme)


def _check_model_directory(path: Path, model_uri: str) -> None:
    if not path.exists():
        raise UsageError(
            f"model path {path} does not exist; pass a directory that holds an MLmodel file, "
            "or a registered model such as models:/NAME@champion"
        )
    if not (path / "MLmodel").is_file():
        raise UsageError(
            f"{path} holds no MLmodel file, so it is not an MLflow model directory; pass the directory "
            "that mlflow saved the model into (the one holding MLmodel)"
        )


def _check_known_scheme(model_uri: str, scheme: str) -> None:
    """Another scheme must be one of MLflow's artifact stores (its content is checked by the server)."""
    from mlflow.exceptions import MlflowException
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    try:
        get_artifact_repository(model_uri)
    except MlflowException:
        raise UsageError(
            f"model URI {model_uri} has the scheme '{scheme}', which MLflow cannot read; use {FORMS}"
        ) from None
    except Exception:  # a known scheme whose client library or settings are missing: the server says
        return


def _client(tracking_uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri, registry_uri=tracking_uri)


@contextmanager
def _quick_requests() -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in _QUICK_REQUESTS}
    os.environ.update({key: value for key, value in _QUICK_REQUESTS.items() if saved[key] is None})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)


def _unreachable(exc: BaseException) -> bool:
    """Whether `exc` comes from a connection that failed or timed out (MLflow wraps those)."""
    import requests

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _not_found(exc: Exception) -> bool:
    """Whether an MLflow error says the thing asked for does not exist (any other error is raised)."""
    from mlflow.exceptions import MlflowException

    return isinstance(exc, MlflowException) and exc.error_code in (
        "RESOURCE_DOES_NOT_EXIST",
        "INVALID_PARAMETER_VALUE",
        "NOT_FOUND",
    )


def _or_refuse(fetch: Callable[[], Any], refusal: str) -> Any:
    """What `fetch` returns; `UsageError(refusal)` when MLflow says it does not exist."""
    try:
        return fetch()
    except Exception as exc:
        if not _not_found(exc):
            raise
        raise UsageError(refusal) from None


def _registered_model_location(client: Any, model_uri: str, registry: str) -> tuple[str, str]:
    """Where the registered model version of a `models:/` URI keeps its files, and how to name it."""
    path = urllib.parse.urlparse(model_uri).path.lstrip("/")
    parts = path.split("/")
    if not path or len(parts) > 2 or not parts[0].strip() or (len(parts) == 2 and not parts[1].strip()):
        raise UsageError(f"{model_uri} is not a model URI; use {FORMS}")
    if len(parts) == 1 and "@" not in path:
        return _logged_model_location(client, parts[0], registry)
    name, alias = parts[0].rsplit("@", 1) if len(parts) == 1 else (parts[0], None)
    if alias is not None and not alias.strip():
        raise UsageError(f"{model_uri} names no alias after '@'; use models:/{name}@champion or similar")
    registered = _or_refuse(
        lambda: client.get_registered_model(name),
        f"no registered model '{name}' in the registry at {registry}; see 'iml4e models list' for "
        "the registered ones, or register it first (a training pipeline's register step does)",
    )
    aliases: dict[str, str] = dict(registered.aliases or {})
    known = "aliases: " + (", ".join(f"@{a} = version {v}" for a, v in sorted(aliases.items())) or "none")
    if alias is not None:
        if alias not in aliases:
            raise UsageError(
                f"model '{name}' has no alias '{alias}' in the registry at {registry} ({known}); "
                f"set it on a version in the MLflow UI or pass models:/{name}/VERSION "
                f"(see 'iml4e models show {name}')"
            )
        version = aliases[alias]
    elif parts[1].isdigit():
        version = parts[1]
        _or_refuse(
            lambda: client.get_model_version(name, version),
            f"model '{name}' has no version {version} in the registry at {registry}; pass one of its "
            f"versions or aliases ({known}; see 'iml4e models show {name}')",
        )
    else:
        stage = None if parts[1].lower() == "latest" else parts[1]
        version = _latest_version(client, name, stage, known, registry)
    described = f"version {version} of model '{name}'"
    return str(client.get_model_version_download_uri(name, version)), described


def _latest_version(client: Any, name: str, stage: str | None, known: str, registry: str) -> str:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # stages are deprecated in MLflow; they still resolve
        latest = client.get_latest_versions(name, None if stage is None else [stage])
    if not latest:
        where = f" in stage '{stage}'" if stage else ""
        raise UsageError(
            f"model '{name}' has no version{where} in the registry at {registry} ({known}); pass a version or an alias "
            f"(see 'iml4e models show {name}')"
        )
    return str(max(int(v.version) for v in latest))


def _logged_model_location(client: Any, model_id: str, tracking: str) -> tuple[str, str]:
    logged = _or_refuse(
        lambda: client.get_logged_model(model_id),
        f"no logged model with id '{model_id}' at {tracking}; for a registered model pass "
        f"models:/{model_id}@ALIAS or models:/{model_id}/VERSION",
    )
    return str(logged.artifact_location), f"logged model '{model_id}'"


def _run_model_location(client: Any, model_uri: str, tracking: str) -> tuple[str, str]:
    """Where the model a `runs:/RUN_ID/PATH` URI names keeps its files: a model logged by the run
    (MLflow 3 keeps those apart from the run's artifacts), else the run's own artifacts."""
    run_id, _, path = urllib.parse.urlparse(model_uri).path.lstrip("/").partition("/")
    path = path.strip("/")
    if not run_id:
        raise UsageError(f"{model_uri} names no run; use runs:/RUN_ID/model")
    run = _or_refuse(
        lambda: client.get_run(run_id),
        f"no run '{run_id}' on the MLflow server at {tracking}; copy the run id from the MLflow UI "
        "or serve a registered model (models:/NAME@ALIAS)",
    )
    models = _models_of_run(client, run.info.experiment_id, run_id)
    if not path:
        raise UsageError(
            f"{model_uri} names no model path in the run; use runs:/{run_id}/PATH "
            f"(its models: {', '.join(models) or 'none'})"
        )
    first, _, rest = path.partition("/")
    if first in models:
        location = models[first].rstrip("/") + (f"/{rest}" if rest else "")
        return location, f"model '{path}' of run {run_id}"
    location = f"{run.info.artifact_uri.rstrip('/')}/{path}"
    if not _listing(location, tracking):
        raise UsageError(
            f"run {run_id} has no model at '{path}' (its models: {', '.join(models) or 'none'}); "
            f"pass runs:/{run_id}/NAME with one of them"
        )
    return location, f"artifact '{path}' of run {run_id}"


def _models_of_run(client: Any, experiment_id: str, run_id: str) -> dict[str, str]:
    """The models logged by run `run_id`: name -> artifact location."""
    found: dict[str, str] = {}
    token = None
    while True:
        page = client.search_logged_models(experiment_ids=[experiment_id], page_token=token)
        found |= {m.name: m.artifact_location for m in page if m.source_run_id == run_id}
        token = page.token
        if not token:
            return found


def _listing(location: str, tracking: str) -> list[str]:
    import mlflow.artifacts

    try:
        return [
            entry.path
            for entry in mlflow.artifacts.list_artifacts(artifact_uri=location, tracking_uri=tracking)
        ]
    except Exception as exc:
        if _not_found(exc) or isinstance(exc, OSError):
            return []
        raise


def _holds_mlmodel(location: str, tracking: str) -> bool:
    return any(Path(entry).name == "MLmodel" for entry in _listing(location, tracking))
