"""The Kubernetes API as the installer sees it: a small protocol and its real implementation.

`KubernetesCluster` talks to a real API server through the `kubernetes` Python client (dynamic
client, server-side apply with field manager `iml4e`). Connecting checks the server version first
with a short timeout and no retries, so an unreachable cluster fails in seconds with one line.
Its tests run against a real API server (tests/controlplane, the envtest-style control plane).
"""

from __future__ import annotations

import base64
import os
import socket
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from iml4e.errors import ServiceError, UsageError
from iml4e.installer.compose import Object

FIELD_MANAGER = "iml4e"
ApplyOutcome = Literal["created", "configured", "unchanged"]


@dataclass(frozen=True)
class ClusterInfo:
    context: str
    server: str
    version: tuple[int, int]
    git_version: str


class ClusterApi(Protocol):
    """What the installer, doctor and lifecycle commands need from a cluster."""

    info: ClusterInfo

    def apply(self, obj: Object, dry_run: bool = False) -> ApplyOutcome: ...

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Object | None: ...

    def list_objects(
        self, api_version: str, kind: str, namespace: str | None = None, label_selector: str | None = None
    ) -> list[Object]: ...

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> bool: ...

    def events_for(self, namespace: str, name: str, kind: str | None = None) -> list[str]: ...


def secret_values(secret: Object | None) -> dict[str, str] | None:
    """Decoded `data` of a Secret object, or None when there is no Secret."""
    if secret is None:
        return None
    return {key: base64.b64decode(value).decode("utf-8") for key, value in (secret.get("data") or {}).items()}


def _one_line(exc: BaseException) -> str:
    text = str(getattr(exc, "reason", None) or exc)
    for marker in (
        "Connection refused",
        "timed out",
        "Name or service not known",
        "certificate verify failed",
    ):
        if marker.lower() in text.lower():
            return marker.lower()
    return text.splitlines()[0][:160] if text else type(exc).__name__


def _kubeconfig_paths(kubeconfig: str | None) -> list[Path]:
    if kubeconfig:
        return [Path(kubeconfig).expanduser()]
    configured = os.environ.get("KUBECONFIG")
    if configured:
        return [Path(part).expanduser() for part in configured.split(os.pathsep) if part]
    return [Path("~/.kube/config").expanduser()]


def api_server_address(kubeconfig: str | None, context: str | None) -> tuple[str, str, str]:
    """(context, server URL, cluster) from the kubeconfig YAML, without the kubernetes client."""
    import yaml

    documents = []
    for path in _kubeconfig_paths(kubeconfig):
        try:
            documents.append(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
        except (OSError, yaml.YAMLError):
            continue
    if not documents:
        raise UsageError(
            "no readable kubeconfig (KUBECONFIG or ~/.kube/config); pass --kubeconfig, "
            "or create a cluster with 'iml4e cluster create'"
        )
    name = context or next((str(d["current-context"]) for d in documents if d.get("current-context")), "")
    contexts = {
        str(c.get("name")): c.get("context") or {} for d in documents for c in d.get("contexts") or []
    }
    clusters = {
        str(c.get("name")): c.get("cluster") or {} for d in documents for c in d.get("clusters") or []
    }
    if name not in contexts:
        raise UsageError(f"kubeconfig has no context '{name}'; pick one of {sorted(contexts)} with --context")
    cluster = str(contexts[name].get("cluster", ""))
    server = str(clusters.get(cluster, {}).get("server", ""))
    if not server:
        raise UsageError(f"context '{name}' names cluster '{cluster}' without a server; fix the kubeconfig")
    return name, server, cluster


def probe_api_server(server: str, context: str, timeout: float) -> None:
    """A TCP connect to the API server, before loading the (slow to import) kubernetes client."""
    parsed = urllib.parse.urlparse(server)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname or "", port), timeout=timeout):
            pass
    except OSError as exc:
        raise ServiceError(
            f"cannot reach the Kubernetes API at {server} ({_one_line(exc)}) for context "
            f"'{context}'; start the cluster or pick another context (--context)"
        ) from None


class KubernetesCluster:
    """A real cluster, reached through a kubeconfig context."""

    def __init__(
        self, kubeconfig: str | None = None, context: str | None = None, timeout: float = 5.0
    ) -> None:
        context_name, server, _ = api_server_address(kubeconfig, context)
        probe_api_server(server, context_name, timeout)

        from kubernetes import client, config
        from kubernetes.config.config_exception import ConfigException

        self._timeout = timeout
        configuration = client.Configuration()
        try:
            config.load_kube_config(
                config_file=kubeconfig, context=context, client_configuration=configuration
            )
            _, active = config.list_kube_config_contexts(config_file=kubeconfig)
        except (ConfigException, FileNotFoundError, OSError) as exc:
            raise UsageError(
                f"no usable kubeconfig ({_one_line(exc)}); set KUBECONFIG, pass --kubeconfig, "
                "or create a cluster with 'iml4e cluster create'"
            ) from None
        configuration.retries = 0
        self._api_client = client.ApiClient(configuration)
        context_name = context or str(active.get("name", context_name))
        try:
            code = client.VersionApi(self._api_client).get_code(_request_timeout=(timeout, timeout))
        except Exception as exc:
            if getattr(exc, "status", None) == 401:
                raise ServiceError(
                    f"the Kubernetes API at {configuration.host} refused the credentials of context "
                    f"'{context_name}' (401 Unauthorized: the token or certificate has expired or is not "
                    "valid); log in again to refresh the kubeconfig, or pick another context (--context)"
                ) from None
            raise ServiceError(
                f"cannot reach the Kubernetes API at {configuration.host} ({_one_line(exc)}) for context "
                f"'{context_name}'; start the cluster or pick another context (--context)"
            ) from None
        minor = int("".join(ch for ch in str(code.minor) if ch.isdigit()) or 0)
        self.info = ClusterInfo(
            context_name, configuration.host, (int(code.major), minor), str(code.git_version)
        )
        self._dynamic: Any = None

    def custom_objects(self) -> Any:
        """A `kubernetes.client.CustomObjectsApi` with this connection's credentials (custom resources
        such as KServe's InferenceService, read and patched as plain data)."""
        from kubernetes import client

        return client.CustomObjectsApi(self._api_client)

    def _resource(self, api_version: str, kind: str) -> Any:
        from kubernetes.dynamic import DynamicClient
        from kubernetes.dynamic.exceptions import ResourceNotFoundError

        if self._dynamic is None:
            self._dynamic = DynamicClient(self._api_client)
        try:
            return self._dynamic.resources.get(api_version=api_version, kind=kind)
        except ResourceNotFoundError:
            # A CRD applied by an earlier stage: refresh discovery once, then give up.
            self._dynamic.resources.invalidate_cache()
            return self._dynamic.resources.get(api_version=api_version, kind=kind)

    def apply(self, obj: Object, dry_run: bool = False) -> ApplyOutcome:
        from kubernetes.dynamic.exceptions import DynamicApiError, NotFoundError, ResourceNotFoundError

        meta = obj["metadata"]
        where = describe_object(obj)
        try:
            resource = self._resource(obj["apiVersion"], obj["kind"])
        except ResourceNotFoundError:
            if dry_run:
                return "created"  # its CRD is applied by an earlier stage of the real install
            raise ServiceError(
                f"the cluster does not know {obj['apiVersion']} {obj['kind']} ({where}); its CRD is missing: "
                "re-run 'iml4e install' so the CRD stage runs first"
            ) from None
        namespace = meta.get("namespace")
        try:
            try:
                before = self._raw("get", resource, name=meta["name"], namespace=namespace)
            except NotFoundError:
                before = None
            after = self._server_side_apply(resource, obj, namespace, dry_run)
        except DynamicApiError as exc:
            reason = api_error_reason(exc)
            if exc.status == 422 and obj["kind"] == "Job" and "immutable" in reason:
                # A Job's pod template is immutable: its inputs changed, so the Job is replaced and runs again.
                if dry_run:
                    return "configured"
                resource.delete(name=meta["name"], namespace=namespace, propagation_policy="Background")
                self._server_side_apply(resource, obj, namespace, dry_run)
                return "configured"
            raise ServiceError(f"applying {where} failed: {reason}; {fix_for(reason)}") from None
        if before is None:
            return "created"
        return "unchanged" if content(before) == content(after) else "configured"

    def _raw(self, verb: str, resource: Any, **params: Any) -> Object:
        """A request whose JSON answer is returned as plain data.

        The dynamic client's default wraps every field of the answer in objects, which costs seconds of
        CPU for the large CRDs (KServe's) that an install applies and reads back.
        """
        import json

        params.setdefault("_request_timeout", self._timeout)
        response = getattr(self._dynamic, verb)(resource, serialize=False, **params)
        data: Object = json.loads(response.data)
        return data

    def _server_side_apply(self, resource: Any, obj: Object, namespace: str | None, dry_run: bool) -> Object:
        return self._raw(
            "server_side_apply",
            resource,
            body=obj,
            namespace=namespace,
            field_manager=FIELD_MANAGER,
            force_conflicts=True,
            dry_run="All" if dry_run else None,
            _request_timeout=self._timeout * 6,
        )

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Object | None:
        from kubernetes.dynamic.exceptions import NotFoundError, ResourceNotFoundError

        try:
            resource = self._resource(api_version, kind)
            return self._raw("get", resource, name=name, namespace=namespace)
        except (NotFoundError, ResourceNotFoundError):
            return None

    def list_objects(
        self, api_version: str, kind: str, namespace: str | None = None, label_selector: str | None = None
    ) -> list[Object]:
        from kubernetes.dynamic.exceptions import NotFoundError, ResourceNotFoundError

        try:
            resource = self._resource(api_version, kind)
            found = self._raw("get", resource, namespace=namespace, label_selector=label_selector)
        except (NotFoundError, ResourceNotFoundError):
            return []
        items: list[Object] = found.get("items") or []
        return items

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> bool:
        from kubernetes.dynamic.exceptions import NotFoundError, ResourceNotFoundError

        try:
            resource = self._resource(api_version, kind)
            resource.delete(
                name=name,
                namespace=namespace,
                propagation_policy="Foreground",
                _request_timeout=self._timeout,
            )
        except (NotFoundError, ResourceNotFoundError):
            return False
        return True

    def events_for(self, namespace: str, name: str, kind: str | None = None) -> list[str]:
        """The newest events of object `kind` `name` and of what it owns (ReplicaSets, Pods), oldest first."""
        events = self.list_objects("v1", "Event", namespace=namespace)
        uids = self._owned_uids(namespace, name, kind) if kind else set()

        def related(event: Object) -> bool:
            involved = event.get("involvedObject") or {}
            if involved.get("uid") in uids:
                return True
            return involved.get("name") == name and (kind is None or involved.get("kind") == kind)

        chosen = sorted(
            (e for e in events if related(e)),
            key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""),
        )
        return [f"{e.get('reason')}: {e.get('message')}" for e in chosen[-3:]]

    def _owned_uids(self, namespace: str, name: str, kind: str) -> set[str]:
        """uids of the object and of everything it owns, two levels down (Deployment -> ReplicaSet -> Pod)."""
        found = self.list_objects(*_API_OF_KIND.get(kind, ("v1", kind)), namespace=namespace)
        uids = {str(o["metadata"]["uid"]) for o in found if (o.get("metadata") or {}).get("name") == name}
        for api_version, owned_kind in (("apps/v1", "ReplicaSet"), ("v1", "Pod")):
            for owned in self.list_objects(api_version, owned_kind, namespace=namespace):
                owners = (owned.get("metadata") or {}).get("ownerReferences") or []
                if any(owner.get("uid") in uids for owner in owners):
                    uids.add(str(owned["metadata"]["uid"]))
        return uids


_API_OF_KIND = {
    "Deployment": ("apps/v1", "Deployment"),
    "StatefulSet": ("apps/v1", "StatefulSet"),
    "DaemonSet": ("apps/v1", "DaemonSet"),
    "Job": ("batch/v1", "Job"),
}

#: Metadata the API server sets on every write; not part of what an apply changes.
_VOLATILE_METADATA = (
    "resourceVersion",
    "generation",
    "managedFields",
    "creationTimestamp",
    "uid",
    "selfLink",
)


def content(obj: Object) -> Object:
    """What an apply can change: the object without its status and the server's bookkeeping."""
    kept = {key: value for key, value in obj.items() if key != "status"}
    kept["metadata"] = {
        key: value for key, value in (obj.get("metadata") or {}).items() if key not in _VOLATILE_METADATA
    }
    return kept


def describe_object(obj: Object) -> str:
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace")
    return f"{obj.get('kind')} {namespace + '/' if namespace else ''}{meta.get('name')}"


def _cause_detail(message: str) -> str:
    """'Invalid value: <the whole value>: field is immutable' -> 'field is immutable'."""
    text = " ".join(message.split())
    if text.startswith("Invalid value:") and ": " in text[len("Invalid value:") :]:
        text = text.rsplit(": ", 1)[-1]
    return text[:200]


def api_error_reason(exc: Any) -> str:
    """The API server's own reason for refusing a request, as one line.

    For an invalid object the Status names each field and its problem (`details.causes`); those are
    given instead of the message, which repeats the whole offending value.
    """
    import json

    body = getattr(exc, "body", None)
    status: dict[str, Any] = {}
    if body:
        try:
            status = json.loads(body)
        except (ValueError, TypeError):
            status = {"message": str(body)}
    causes = (status.get("details") or {}).get("causes") or []
    if causes:
        kind = (status.get("details") or {}).get("kind", "")
        name = (status.get("details") or {}).get("name", "")
        parts = [
            f"{c.get('field', '')}: {_cause_detail(str(c.get('message', '')))}".lstrip(": ") for c in causes
        ]
        return f"{kind} {name} is invalid: {'; '.join(parts)}".strip()
    message = str(status.get("message") or "")
    if not message:
        summary = getattr(exc, "summary", None)
        message = str(summary() if callable(summary) else exc)
    return " ".join(message.split())[:400]


def fix_for(reason: str) -> str:
    """What the user can do about an API server's refusal."""
    if "because it is being terminated" in reason:
        namespace = reason.split("in namespace", 1)[-1].split()[0] if "in namespace" in reason else ""
        return (
            f"namespace {namespace} is still terminating from an earlier uninstall; wait until "
            f"'kubectl get namespace {namespace}' finds nothing (or remove the finalizers that hold it), then re-run"
        )
    if "forbidden" in reason.lower():
        return "the kubeconfig's user lacks the permission; use a cluster-admin context (--context)"
    return "fix the cause and re-run 'iml4e install'"


def connect(config: Any) -> KubernetesCluster:
    """Connect with the cluster settings of a `PlatformConfig` (fails fast when unreachable)."""
    settings = config.cluster
    return KubernetesCluster(settings.kubeconfig, settings.context, settings.connect_timeout_seconds)
