"""Roll out configuration changes: each pod template carries a checksum of the configuration it reads.

Kubernetes restarts a Deployment's, StatefulSet's or DaemonSet's Pods only when the pod template
changes, and a Job runs again only when it is replaced. A ConfigMap or Secret that changes underneath
them changes neither. So every pod template gets the annotation `iml4e.io/config-checksum`: the
sha256 of the ConfigMaps and Secrets it reads (environment, `envFrom` and volumes) among the objects
being applied. A changed value changes the checksum, so the workload restarts; a Job's template is
immutable, so the installer replaces it and it runs again (`cluster.KubernetesCluster.apply`).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterator
from typing import Any

from iml4e.installer.compose import Object, object_key

CHECKSUM_ANNOTATION = "iml4e.io/config-checksum"
_WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job")


def _references(pod: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(kind, name) of every ConfigMap and Secret a pod spec reads."""
    for container in (pod.get("initContainers") or []) + (pod.get("containers") or []):
        for source in container.get("envFrom") or []:
            if "configMapRef" in source:
                yield "ConfigMap", source["configMapRef"].get("name", "")
            if "secretRef" in source:
                yield "Secret", source["secretRef"].get("name", "")
        for variable in container.get("env") or []:
            value_from = variable.get("valueFrom") or {}
            if "configMapKeyRef" in value_from:
                yield "ConfigMap", value_from["configMapKeyRef"].get("name", "")
            if "secretKeyRef" in value_from:
                yield "Secret", value_from["secretKeyRef"].get("name", "")
    for volume in pod.get("volumes") or []:
        if "configMap" in volume:
            yield "ConfigMap", volume["configMap"].get("name", "")
        if "secret" in volume:
            yield "Secret", volume["secret"].get("secretName", "")
        for source in (volume.get("projected") or {}).get("sources") or []:
            if "configMap" in source:
                yield "ConfigMap", source["configMap"].get("name", "")
            if "secret" in source:
                yield "Secret", source["secret"].get("name", "")


def _payload(obj: Object) -> dict[str, Any]:
    return {key: obj.get(key) for key in ("data", "stringData", "binaryData") if obj.get(key)}


def stamp_config_checksums(objects: list[Object]) -> list[Object]:
    """Copies of `objects`; each workload's pod template annotated with the checksum of its config."""
    config = {object_key(obj): obj for obj in objects if obj.get("kind") in ("ConfigMap", "Secret")}
    stamped = []
    for obj in objects:
        template = (obj.get("spec") or {}).get("template")
        if obj.get("kind") not in _WORKLOADS or not isinstance(template, dict):
            stamped.append(obj)
            continue
        namespace = str((obj.get("metadata") or {}).get("namespace") or "")
        read = sorted(set(_references(template.get("spec") or {})))
        found = [(kind, name, config.get((kind, namespace, name))) for kind, name in read]
        payload = [[kind, name, _payload(item)] for kind, name, item in found if item is not None]
        if not payload:
            stamped.append(obj)
            continue
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()
        copied = copy.deepcopy(obj)
        annotations = copied["spec"]["template"].setdefault("metadata", {}).setdefault("annotations", {})
        annotations[CHECKSUM_ANNOTATION] = digest
        stamped.append(copied)
    return stamped
