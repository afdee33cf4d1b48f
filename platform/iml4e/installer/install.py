"""Staged install: server-side apply stage by stage, each followed by a bounded wait.

Stages (in order): namespaces and CRDs (wait Established) -> cert-manager (wait its webhooks'
Deployments) -> controllers (KFP, KServe; wait Available) -> our services (generated Secrets,
MLflow, Postgres, object store, monitoring, Feast; wait ready) -> custom resources.

Every wait polls until ready or the stage's timeout, never longer; a stage that does not become
ready raises `StageFailed` naming the object, its condition and recent events. Applying is
idempotent (server-side apply), so re-running resumes: finished stages report "unchanged" and
their waits pass at once. Progress goes to an `InstallProgress` (a rich display in the CLI).
The install record (ConfigMap iml4e/iml4e-install) keeps the profile, versions and stages done.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from iml4e.errors import Iml4eError
from iml4e.installer import versions
from iml4e.installer.checksums import stamp_config_checksums
from iml4e.installer.cluster import ApplyOutcome, ClusterApi, describe_object
from iml4e.installer.compose import Object, object_key
from iml4e.installer.config import PlatformConfig
from iml4e.installer.readiness import WAITED_KINDS, readiness
from iml4e.installer.render import (
    MANAGED_BY_LABEL,
    PART_OF_LABEL,
    PLATFORM_NAMESPACE,
    POD_SECURITY_ENFORCE,
    STAGES,
    UPSTREAM_POD_SECURITY,
    Rendering,
    pod_security_labels,
    stage_of,
)

RECORD_NAME = "iml4e-install"
POLL_SECONDS = 2.0


class StageFailed(Iml4eError):
    """A stage did not become ready in time; the message names what and why."""


@dataclass
class Stage:
    name: str
    objects: list[Object] = field(default_factory=list)


class InstallProgress(Protocol):
    def stage_started(self, stage: str, total: int) -> None: ...

    def applied(self, obj: Object, outcome: ApplyOutcome) -> None: ...

    def waiting(self, stage: str, pending: list[str], elapsed: float, timeout: float) -> None: ...

    def stage_finished(self, stage: str, changed: int) -> None: ...


class SilentProgress:
    def stage_started(self, stage: str, total: int) -> None:
        pass

    def applied(self, obj: Object, outcome: ApplyOutcome) -> None:
        pass

    def waiting(self, stage: str, pending: list[str], elapsed: float, timeout: float) -> None:
        pass

    def stage_finished(self, stage: str, changed: int) -> None:
        pass


@dataclass
class InstallReport:
    profile: str
    outcomes: dict[str, dict[str, int]] = field(default_factory=dict)
    dry_run: bool = False
    #: Every object that was (or, in a dry run, would be) created or configured, in apply order.
    changes: list[dict[str, str]] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return sum(
            counts.get("created", 0) + counts.get("configured", 0) for counts in self.outcomes.values()
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "dry_run": self.dry_run,
            "changed": self.changed,
            "stages": self.outcomes,
            "changes": self.changes,
        }


describe = describe_object


def missing_namespaces(objects: list[Object]) -> list[Object]:
    """Namespace objects for the namespaces that `objects` live in but do not declare.

    Some release manifests ship without their Namespace (KServe's release script drops it); whoever
    installs them creates it. These carry our labels, so uninstall removes them like our own.
    """
    declared = {obj["metadata"]["name"] for obj in objects if obj.get("kind") == "Namespace"}
    used = sorted(
        {str(obj["metadata"]["namespace"]) for obj in objects if (obj.get("metadata") or {}).get("namespace")}
        - declared
    )
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": name,
                "labels": {MANAGED_BY_LABEL: "iml4e", PART_OF_LABEL: "iml4e", **pod_security_labels(name)},
            },
        }
        for name in used
    ]


def _with_pod_security(namespace: Object) -> Object:
    labels = (namespace.get("metadata") or {}).get("labels") or {}
    wanted = pod_security_labels(str(namespace["metadata"]["name"]))
    if not wanted or POD_SECURITY_ENFORCE in labels:
        return namespace
    return {**namespace, "metadata": {**namespace["metadata"], "labels": {**labels, **wanted}}}


def plan_stages(
    rendering: Rendering, upstream: list[tuple[str, list[Object]]], generated_secrets: list[Object]
) -> list[Stage]:
    """Order everything into stages: our objects by kind, upstream ones by their lock entry's stage.

    `upstream` holds (declared stage, objects) per lock entry; CRDs and Namespaces always go first.
    Namespaces that upstream objects use but do not declare are added, and every pod template gets
    the checksum of the ConfigMaps and Secrets it reads (a config change restarts it).
    """
    stages = {name: Stage(name) for name in STAGES}
    upstream_objects = [obj for _, objects in upstream for obj in objects]
    everything = upstream_objects + list(rendering.objects)
    stages["namespaces-crds"].objects.extend(missing_namespaces(everything))
    for declared, objects in upstream:
        for obj in objects:
            first = obj.get("kind") in ("CustomResourceDefinition", "Namespace")
            if obj.get("kind") == "Namespace":
                obj = _with_pod_security(obj)
            stages["namespaces-crds" if first else declared].objects.append(obj)
    for obj in rendering.objects:
        name = stage_of(obj)
        if name == "services" and obj.get("kind") == "Namespace":
            name = "namespaces-crds"
        stages[name].objects.append(obj)
    # Secrets first within the services stage: workloads reference them.
    stages["services"].objects[:0] = generated_secrets
    stamped = stamp_config_checksums([obj for stage in stages.values() for obj in stage.objects])
    position = 0
    for stage in stages.values():
        stage.objects = stamped[position : position + len(stage.objects)]
        position += len(stage.objects)
    return [stage for stage in stages.values() if stage.objects]


def record_object(profile: str, completed: list[str], state: str = "installed") -> Object:
    """The install record: kept after a plain uninstall (state `uninstalled`) so `--purge` finds what to remove."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": RECORD_NAME,
            "namespace": PLATFORM_NAMESPACE,
            "labels": {MANAGED_BY_LABEL: "iml4e", PART_OF_LABEL: "iml4e"},
        },
        "data": {
            "profile": profile,
            "state": state,
            "versions": json.dumps(versions.version_matrix(), sort_keys=True),
            "completed_stages": json.dumps(completed),
        },
    }


def read_record(cluster: ClusterApi) -> dict[str, Any] | None:
    """The install record (profile, state, versions, completed stages), or None when there is none."""
    found = cluster.get("v1", "ConfigMap", RECORD_NAME, PLATFORM_NAMESPACE)
    if not found:
        return None
    data = found.get("data") or {}
    return {
        "profile": data.get("profile"),
        "state": data.get("state") or "installed",
        "versions": json.loads(data.get("versions") or "{}"),
        "completed_stages": json.loads(data.get("completed_stages") or "[]"),
    }


def wait_ready(
    cluster: ClusterApi,
    stage: str,
    objects: list[Object],
    timeout: float,
    progress: InstallProgress,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    poll: float = POLL_SECONDS,
) -> None:
    """Poll the waited kinds in `objects` until all are ready; at most `timeout` seconds."""
    pending = [obj for obj in objects if obj.get("kind") in WAITED_KINDS]
    start = clock()
    while True:
        not_ready: list[tuple[Object, str]] = []
        for obj in pending:
            kind, namespace, name = object_key(obj)
            live = cluster.get(obj["apiVersion"], kind, name, namespace or None)
            state = readiness(live) if live else None
            if state is None or not state.ready:
                not_ready.append((obj, state.reason if state else "not found"))
        pending = [obj for obj, _ in not_ready]
        elapsed = clock() - start
        if not pending:
            return
        if elapsed >= timeout:
            obj, reason = not_ready[0]
            _, namespace, name = object_key(obj)
            events = cluster.events_for(namespace, name, obj.get("kind")) if namespace else []
            recent = f"; recent events: {' | '.join(events)}" if events else ""
            more = f" (and {len(not_ready) - 1} more)" if len(not_ready) > 1 else ""
            raise StageFailed(
                f"stage '{stage}' not ready after {timeout:.0f} s: {describe(obj)}: {reason}{recent}{more}; "
                "fix the cause and re-run 'iml4e install' to resume from this stage"
            )
        progress.waiting(stage, [describe(obj) for obj in pending], elapsed, timeout)
        sleep(min(poll, max(timeout - elapsed, 0.0)))


#: Apply failures that mean "an admission webhook is not serving yet" (cert-manager, KServe).
_WEBHOOK_NOT_READY = ("failed calling webhook", "no endpoints available for service", "connection refused")


def apply_when_webhooks_answer(
    cluster: ClusterApi,
    obj: Object,
    dry_run: bool,
    deadline: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> ApplyOutcome:
    """Apply `obj`; while a webhook it needs is still starting, retry until the stage's deadline."""
    from iml4e.errors import ServiceError

    while True:
        try:
            return cluster.apply(obj, dry_run=dry_run)
        except ServiceError as exc:
            waiting_for_webhook = any(marker in str(exc) for marker in _WEBHOOK_NOT_READY)
            if not waiting_for_webhook or clock() + POLL_SECONDS > deadline:
                raise
            sleep(POLL_SECONDS)


def _check_namespaces(cluster: ClusterApi, stages: list[Stage]) -> set[str]:
    """Namespaces the install will create; fails at once on one that is still terminating.

    On an upstream namespace that already exists, a Pod Security level someone set there is kept (the
    object to apply is changed to carry it): turning on KServe's local model cache, for one, needs a
    privileged `kserve` namespace, and a re-install must not take that back.
    """
    absent = set()
    objects = stages[0].objects if stages else []
    for index, obj in enumerate(objects):
        if obj.get("kind") != "Namespace":
            continue
        name = str(obj["metadata"]["name"])
        live = cluster.get("v1", "Namespace", name)
        if live is None:
            absent.add(name)
            continue
        if (live.get("metadata") or {}).get("deletionTimestamp"):
            raise Iml4eError(
                f"namespace {name} is still terminating from an earlier uninstall; wait until "
                f"'kubectl get namespace {name}' finds nothing (or remove the finalizers that hold what is "
                "left in it), then re-run 'iml4e install'"
            )
        level = ((live.get("metadata") or {}).get("labels") or {}).get(POD_SECURITY_ENFORCE)
        if name in UPSTREAM_POD_SECURITY and level:
            labels = {**(obj["metadata"].get("labels") or {}), POD_SECURITY_ENFORCE: level}
            objects[index] = {**obj, "metadata": {**obj["metadata"], "labels": labels}}
    return absent


def run_install(
    cluster: ClusterApi,
    config: PlatformConfig,
    stages: list[Stage],
    progress: InstallProgress | None = None,
    dry_run: bool = False,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> InstallReport:
    """Apply every stage in order and wait for each; returns what changed per stage.

    A dry run asks the API server (server-side dry run) about every object it can: objects in a
    namespace that does not exist yet cannot be checked by the server before their namespace exists,
    so they are reported as created without that check.
    """
    progress = progress or SilentProgress()
    new_namespaces = _check_namespaces(cluster, stages)
    report = InstallReport(config.profile, dry_run=dry_run)
    previous = read_record(cluster) if not dry_run else None
    completed: list[str] = (
        list(previous["completed_stages"]) if previous and previous["state"] == "installed" else []
    )
    for stage in stages:
        progress.stage_started(stage.name, len(stage.objects))
        counts = {"created": 0, "configured": 0, "unchanged": 0}
        deadline = clock() + config.cluster.stage_timeout_seconds
        for applied, obj in enumerate(stage.objects):
            namespace = (obj.get("metadata") or {}).get("namespace")
            try:
                if dry_run and namespace in new_namespaces:
                    outcome: ApplyOutcome = "created"
                else:
                    outcome = apply_when_webhooks_answer(cluster, obj, dry_run, deadline, clock, sleep)
            except Iml4eError as exc:
                done = f"{applied} of {len(stage.objects)} objects of stage '{stage.name}' were applied"
                raise type(exc)(f"{exc} ({done}; re-running resumes)") from None
            counts[outcome] += 1
            if outcome != "unchanged":
                report.changes.append({"object": describe(obj), "outcome": outcome, "stage": stage.name})
            progress.applied(obj, outcome)
        report.outcomes[stage.name] = counts
        if not dry_run:
            wait_ready(
                cluster,
                stage.name,
                stage.objects,
                config.cluster.stage_timeout_seconds,
                progress,
                clock,
                sleep,
            )
            if stage.name not in completed:
                completed.append(stage.name)
            cluster.apply(record_object(config.profile, completed))
        progress.stage_finished(stage.name, counts["created"] + counts["configured"])
    return report
