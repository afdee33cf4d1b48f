"""A RayCluster's health as `iml4e status` reports it: read from what the KubeRay operator writes."""

from __future__ import annotations

from typing import Any

import pytest

from iml4e.installer.readiness import readiness


def _ray_cluster(status: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": "iml4e-ray"},
        "status": status,
    }


@pytest.mark.parametrize(
    ("status", "ready", "reason"),
    [
        ({}, False, "not reconciled yet; is the KubeRay operator (namespace kuberay) running?"),
        (
            {"state": "ready", "readyWorkerReplicas": 2, "desiredWorkerReplicas": 2},
            True,
            "ready, 2/2 workers",
        ),
        (
            {
                "desiredWorkerReplicas": 2,
                "conditions": [
                    {
                        "type": "HeadPodReady",
                        "status": "False",
                        "reason": "HeadPodNotFound",
                        "message": "no head",
                    }
                ],
            },
            False,
            "head not ready (HeadPodNotFound: no head)",
        ),
        (
            {"conditions": [{"type": "ReplicaFailure", "status": "True", "reason": "FailedCreateWorkerPod"}]},
            False,
            "replica failure (FailedCreateWorkerPod)",
        ),
        ({"readyWorkerReplicas": 1, "desiredWorkerReplicas": 2}, False, "starting, 1/2 workers ready"),
    ],
)
def test_ray_cluster_readiness_comes_from_the_operators_status(
    status: dict[str, Any], ready: bool, reason: str
) -> None:
    state = readiness(_ray_cluster(status))
    assert (state.ready, state.reason) == (ready, reason)
