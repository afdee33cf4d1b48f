"""A stand-in for the kubelet, for the control-plane tests only.

It stands in because no container runtime runs here: nothing can start a container, so nothing real
could report a Pod as running. Everything else in these tests is the real control plane; this class
does, through the API server, only what a kubelet (and a volume provisioner) would report:

- registers a Node with capacity, and keeps its Lease and Ready condition fresh;
- provisions a PersistentVolume for each claim of its default StorageClass (`standin`), and deletes
  it once released, as a dynamic provisioner with reclaim policy Delete does;
- marks bound Pods Running and Ready, completes the Pods of Jobs, and force-removes deleted Pods.

`withhold` picks Pods that it keeps Running but not Ready, so the installer's bounded waits can be
exercised against real Deployments, ReplicaSets and Jobs.
"""

from __future__ import annotations

import contextlib
import datetime
import threading
from collections.abc import Callable
from typing import Any

NODE_NAME = "standin-node"
STORAGE_CLASS = "standin"
PROVISIONER = "standin.iml4e.test/hostpath"
POLL_SECONDS = 0.3
HEARTBEAT_SECONDS = 10.0


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class KubeletStandIn:
    def __init__(
        self,
        api_client: Any,
        node_name: str = NODE_NAME,
        cpu: str = "16",
        memory: str = "64Gi",
        architecture: str = "amd64",
    ) -> None:
        from kubernetes import client

        self.core = client.CoreV1Api(api_client)
        self.coordination = client.CoordinationV1Api(api_client)
        self.storage = client.StorageV1Api(api_client)
        self.node_name = node_name
        self.cpu, self.memory, self.architecture = cpu, memory, architecture
        #: Pods for which this returns True stay Running but never become Ready.
        self.withhold: Callable[[Any], bool] = lambda pod: False
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_heartbeat = 0.0
        self._ips = 0

    # -- Node, Lease, StorageClass -------------------------------------------------------------------
    def _node_conditions(self) -> list[dict[str, str]]:
        now = _now()
        healthy = {
            "MemoryPressure": "False",
            "DiskPressure": "False",
            "PIDPressure": "False",
            "Ready": "True",
        }
        return [
            {
                "type": kind,
                "status": status,
                "reason": "StandIn",
                "message": "kubelet stand-in",
                "lastHeartbeatTime": now,
                "lastTransitionTime": now,
            }
            for kind, status in healthy.items()
        ]

    def register(self) -> None:
        resources = {"cpu": self.cpu, "memory": self.memory, "pods": "250", "ephemeral-storage": "100Gi"}
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.node_name,
                "labels": {
                    "kubernetes.io/hostname": self.node_name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": self.architecture,
                },
            },
            "status": {
                "capacity": resources,
                "allocatable": resources,
                "conditions": self._node_conditions(),
                "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                "nodeInfo": {
                    "architecture": self.architecture,
                    "operatingSystem": "linux",
                    "kubeletVersion": "v1.36.2",
                    "kubeProxyVersion": "",
                    "containerRuntimeVersion": "standin://0",
                    "osImage": "stand-in",
                    "kernelVersion": "",
                    "bootID": "",
                    "machineID": "",
                    "systemUUID": "",
                },
            },
        }
        self.core.create_node(node)
        self.storage.create_storage_class(
            {
                "apiVersion": "storage.k8s.io/v1",
                "kind": "StorageClass",
                "metadata": {
                    "name": STORAGE_CLASS,
                    "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
                },
                "provisioner": PROVISIONER,
                "reclaimPolicy": "Delete",
                "volumeBindingMode": "Immediate",
            }
        )
        self._heartbeat()

    def _heartbeat(self) -> None:
        from kubernetes.client.exceptions import ApiException

        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        lease = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.node_name, "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": self.node_name, "leaseDurationSeconds": 40, "renewTime": now},
        }
        try:
            self.coordination.replace_namespaced_lease(self.node_name, "kube-node-lease", self._leased(lease))
        except ApiException as exc:
            if exc.status != 404:
                raise
            self.coordination.create_namespaced_lease("kube-node-lease", lease)
        self.core.patch_node_status(self.node_name, {"status": {"conditions": self._node_conditions()}})

    def _leased(self, lease: dict[str, Any]) -> dict[str, Any]:
        current = self.coordination.read_namespaced_lease(self.node_name, "kube-node-lease")
        lease["metadata"]["resourceVersion"] = current.metadata.resource_version
        return lease

    # -- volumes -------------------------------------------------------------------------------------
    def _provision(self) -> None:
        for volume in self.core.list_persistent_volume().items:
            if volume.spec.storage_class_name == STORAGE_CLASS and volume.status.phase == "Released":
                self._ignore_conflict(
                    lambda name=volume.metadata.name: self.core.delete_persistent_volume(name)
                )
        for claim in self.core.list_persistent_volume_claim_for_all_namespaces().items:
            if claim.status.phase != "Pending" or claim.spec.volume_name:
                continue
            if (claim.spec.storage_class_name or STORAGE_CLASS) != STORAGE_CLASS:
                continue
            name = f"standin-{claim.metadata.uid}"
            volume = {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": name},
                "spec": {
                    "capacity": {"storage": claim.spec.resources.requests["storage"]},
                    "accessModes": claim.spec.access_modes,
                    "persistentVolumeReclaimPolicy": "Delete",
                    "storageClassName": STORAGE_CLASS,
                    "claimRef": {
                        "namespace": claim.metadata.namespace,
                        "name": claim.metadata.name,
                        "uid": claim.metadata.uid,
                    },
                    "hostPath": {"path": f"/nonexistent/standin/{claim.metadata.uid}"},
                },
            }
            self._ignore_conflict(self.core.create_persistent_volume, volume)

    # -- pods ----------------------------------------------------------------------------------------
    def _pod_status(self, pod: Any, ready: bool, finished: bool) -> dict[str, Any]:
        now = _now()
        ip = pod.status.pod_ip  # an assigned address and start time may not change
        if not ip:
            self._ips += 1
            ip = f"10.244.{self._ips // 250 % 250}.{self._ips % 250 + 1}"
        started = pod.status.start_time.strftime("%Y-%m-%dT%H:%M:%SZ") if pod.status.start_time else now
        state: dict[str, Any] = (
            {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now, "finishedAt": now}}
            if finished
            else {"running": {"startedAt": now}}
        )
        flag = "True" if ready and not finished else "False"
        return {
            "phase": "Succeeded" if finished else "Running",
            "hostIP": "127.0.0.1",
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "startTime": started,
            "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
                {"type": "Initialized", "status": "True", "lastTransitionTime": now},
                {"type": "ContainersReady", "status": flag, "lastTransitionTime": now},
                {"type": "Ready", "status": flag, "lastTransitionTime": now},
            ],
            "containerStatuses": [
                {
                    "name": container.name,
                    "image": container.image,
                    "imageID": "",
                    "ready": flag == "True",
                    "started": not finished,
                    "restartCount": 0,
                    "state": state,
                }
                for container in pod.spec.containers
            ],
        }

    def _sync_pods(self) -> None:
        pods = self.core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={self.node_name}").items
        for pod in pods:
            namespace, name = pod.metadata.namespace, pod.metadata.name
            if pod.metadata.deletion_timestamp is not None:
                self._ignore_conflict(
                    self.core.delete_namespaced_pod, name, namespace, grace_period_seconds=0
                )
                continue
            owners = {owner.kind for owner in pod.metadata.owner_references or []}
            finished = "Job" in owners
            if pod.status.phase in ("Succeeded", "Failed"):
                continue
            ready = not self.withhold(pod)
            is_ready = any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])
            if pod.status.phase == "Running" and is_ready == ready:
                continue
            body = {"status": self._pod_status(pod, ready, finished)}
            self._ignore_conflict(self.core.patch_namespaced_pod_status, name, namespace, body)

    @staticmethod
    def _ignore_conflict(call: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Calls that race with the controllers (the object went, or changed meanwhile) are retried next round."""
        from kubernetes.client.exceptions import ApiException

        try:
            call(*args, **kwargs)
        except ApiException as exc:
            if exc.status not in (404, 409, 422):
                raise

    # -- loop ----------------------------------------------------------------------------------------
    def step(self) -> None:
        import time

        if time.monotonic() - self._last_heartbeat >= HEARTBEAT_SECONDS:
            self._heartbeat()
            self._last_heartbeat = time.monotonic()
        self._provision()
        self._sync_pods()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except Exception as exc:  # keep standing in; the tests read `errors` when something is off
                self.errors.append(f"{type(exc).__name__}: {str(exc)[:300]}")
                del self.errors[:-20]
            self._stop.wait(POLL_SECONDS)

    def start(self, timeout: float = 60.0) -> KubeletStandIn:
        """Register, start standing in, and wait until the node controller has lifted its startup taints."""
        import time

        self.register()
        self._thread = threading.Thread(target=self._run, name="kubelet-standin", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            taints = self.core.read_node(self.node_name).spec.taints or []
            if not any(t.key.startswith("node.kubernetes.io/") for t in taints):
                return self
            time.sleep(0.5)
        raise RuntimeError(f"node {self.node_name} still tainted after {timeout:.0f} s: {taints}")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            with contextlib.suppress(RuntimeError):
                self._thread.join(timeout=10)
