"""The drift monitor on the cluster: one Deployment that checks every configured model on an interval.

Why a Deployment and not a CronJob: the monitor's results are Prometheus gauges, and Prometheus
pulls. A CronJob's pod is gone seconds after its check, so nothing would be there to scrape, and
the stack has no Pushgateway to push to. A long-running `python -m iml4e_components.monitoring
--interval N` keeps the gauges of its last round at /metrics, and its pod opts into the
`platform-pods` scrape job with the usual annotations. `iml4e_drift_last_run_timestamp_seconds`
still tells whether checks keep happening (the Iml4eDriftMonitorStale alert).

Why one Deployment for all models, not one per model: a check is a few seconds of work every
`interval_seconds`; one pod (with one reference table per model in memory) costs far less than
a pod per model, every gauge carries the model's name, and a model that fails its check is
reported on stderr without stopping the others.

It runs in iml4e-serving, next to the models: the namespace's Secret `iml4e-serving-s3`
(generated at install) gives it read access to the request logs in the object store, Prometheus
may already reach pods there, and its ServiceAccount has no token and no Role: it never talks to
the Kubernetes API.
"""

from __future__ import annotations

from iml4e.installer.compose import Object
from iml4e.installer.config import PlatformConfig
from iml4e.installer.serving_runtime import SCRATCH_DIR, request_log_env
from iml4e.installer.versions import IML4E_IMAGE_NAME
from iml4e_components.conventions import SERVING_NAMESPACE

NAME = "iml4e-drift-monitor"
METRICS_PORT = 9108
STATE_DIR = "/var/lib/iml4e-monitor"


def drift_monitor_objects(config: PlatformConfig, endpoints: dict[str, str]) -> list[Object]:
    """ServiceAccount + Deployment when `monitoring.drift.models` names models (standard/full); else none."""
    drift = config.monitoring.drift
    if not drift.models or not (config.includes("serving") and config.includes("monitoring")):
        return []
    labels = {"app.kubernetes.io/name": "drift-monitor", "iml4e.io/component": "serving"}
    args = [f"--watch={model.name}={model.reference}" for model in drift.models]
    args += [
        f"--window={drift.window}",
        f"--interval={drift.interval_seconds}",
        f"--metrics-port={METRICS_PORT}",
        "--host=0.0.0.0",
        f"--state-dir={STATE_DIR}",
    ]
    env = request_log_env(config, endpoints)
    container = {
        "name": "monitor",
        "image": IML4E_IMAGE_NAME,
        "command": ["python", "-m", "iml4e_components.monitoring"],
        "args": args,
        "env": env,
        "ports": [{"name": "metrics", "containerPort": METRICS_PORT}],
        "readinessProbe": _metrics_probe(initial_delay=5),
        "livenessProbe": {**_metrics_probe(initial_delay=30), "failureThreshold": 4},
        "resources": {
            "requests": {"cpu": "100m", "memory": "512Mi"},
            "limits": {"cpu": "1", "memory": "2Gi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "state", "mountPath": STATE_DIR},
            {"name": "tmp", "mountPath": SCRATCH_DIR},
        ],
    }
    deployment: Object = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": NAME, "namespace": SERVING_NAMESPACE, "labels": dict(labels)},
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},  # never two monitors writing the same gauges
            "selector": {"matchLabels": {"app.kubernetes.io/name": "drift-monitor"}},
            "template": {
                "metadata": {
                    "labels": dict(labels),
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(METRICS_PORT),
                        "prometheus.io/path": "/metrics",
                    },
                },
                "spec": {
                    "serviceAccountName": NAME,
                    "automountServiceAccountToken": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 1000,
                        "runAsGroup": 1000,
                        "fsGroup": 1000,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                    "volumes": [
                        {"name": "state", "emptyDir": {"sizeLimit": "1Gi"}},
                        {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
                    ],
                },
            },
        },
    }
    account: Object = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": NAME, "namespace": SERVING_NAMESPACE, "labels": dict(labels)},
        "automountServiceAccountToken": False,
    }
    return [account, deployment]


def _metrics_probe(initial_delay: int) -> Object:
    return {
        "httpGet": {"path": "/metrics", "port": "metrics"},
        "initialDelaySeconds": initial_delay,
        "periodSeconds": 30,
    }
