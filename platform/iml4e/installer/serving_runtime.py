"""The ServingRuntime every InferenceService of an MLflow model runs on: iml4e's own model server.

The cluster runs the same server as `iml4e serve` (`python -m iml4e_components.serving`, from the
iml4e image), so a model behaves the same on a laptop and on the cluster: both KServe protocols
(V1 and the Open Inference Protocol), signature validation with 4xx answers, the
`iml4e_serving_*` metrics the serving dashboards and alert rules read (at /metrics on the HTTP
port), and the request log, written here to the object store where the drift monitor reads it.
A stock MLflow runtime (MLServer) exports none of those metrics and logs no requests, which left
the dashboards empty and the drift monitor with nothing to compare.

KServe's storage initializer downloads the model's artifacts to /mnt/models before the server
starts; `{{.Name}}` is replaced by the InferenceService's name, which is the model name in the
endpoint paths, in the metrics' `model` label and in the request log's key prefix.
"""

from __future__ import annotations

from iml4e.installer.compose import Object
from iml4e.installer.config import PlatformConfig
from iml4e.installer.versions import IML4E_IMAGE_NAME
from iml4e_components.conventions import SERVING_NAMESPACE

NAME = "iml4e-mlflow"
#: The Secret in iml4e-serving with the object store keys (see credentials.plan_secrets).
S3_SECRET = "iml4e-serving-s3"  # nosec B105  # a Secret's name
#: The server's one port: both protocols, health and /metrics.
HTTP_PORT = 8080
MODEL_DIR = "/mnt/models"
#: Scratch space in the container (HOME of the iml4e image): an emptyDir, the root filesystem is read-only.
SCRATCH_DIR = "/tmp"  # nosec B108  # a path inside the container, on the Pod's own emptyDir


def request_log_env(config: PlatformConfig, endpoints: dict[str, str]) -> list[Object]:
    """Environment that points the request log (written by the servers, read by the drift monitor)
    at the platform's object store, with the keys from the namespace's generated Secret."""
    return [
        {"name": "IML4E_REQUEST_LOG_BUCKET", "value": config.services.object_store.bucket},
        {"name": "IML4E_REQUEST_LOG_PREFIX", "value": config.monitoring.drift.request_log_prefix},
        {"name": "AWS_ENDPOINT_URL", "value": endpoints["AWS_ENDPOINT_URL"]},
        {"name": "AWS_DEFAULT_REGION", "value": endpoints["AWS_DEFAULT_REGION"]},
        *(
            {"name": key, "valueFrom": {"secretKeyRef": {"name": S3_SECRET, "key": key}}}
            for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
        ),
    ]


def serving_runtime_objects(config: PlatformConfig, endpoints: dict[str, str]) -> list[Object]:
    """The ServingRuntime (profiles with KServe: standard and full); none for minimal."""
    if not config.includes("serving"):
        return []
    health = {"httpGet": {"path": "/v2/health/ready", "port": HTTP_PORT}}
    container = {
        "name": "kserve-container",
        "image": IML4E_IMAGE_NAME,
        "command": ["python", "-m", "iml4e_components.serving"],
        "args": [
            f"--model-uri={MODEL_DIR}",
            "--name={{.Name}}",
            "--host=0.0.0.0",
            f"--port={HTTP_PORT}",
            f"--log-sample-rate={config.monitoring.drift.request_log_sample_rate}",
        ],
        "env": request_log_env(config, endpoints),
        "ports": [{"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"}],
        "readinessProbe": {**health, "initialDelaySeconds": 5, "periodSeconds": 10},
        "livenessProbe": {
            "httpGet": {"path": "/v2/health/live", "port": HTTP_PORT},
            "initialDelaySeconds": 30,
            "periodSeconds": 30,
            "failureThreshold": 4,
        },
        "resources": {
            "requests": {"cpu": "250m", "memory": "512Mi"},
            "limits": {"cpu": "1", "memory": "2Gi"},
        },
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 1000,
            "runAsGroup": 1000,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        # Scratch space (HOME is /tmp in the iml4e image); the model itself is on KServe's /mnt/models.
        "volumeMounts": [{"name": "tmp", "mountPath": SCRATCH_DIR}],
    }
    runtime: Object = {
        "apiVersion": "serving.kserve.io/v1alpha1",
        "kind": "ServingRuntime",
        "metadata": {
            "name": NAME,
            "namespace": SERVING_NAMESPACE,
            "labels": {"iml4e.io/component": "serving"},
        },
        "spec": {
            "supportedModelFormats": [
                {"name": "mlflow", "autoSelect": True, "priority": 1},
            ],
            "protocolVersions": ["v1", "v2"],
            "annotations": {
                "prometheus.io/scrape": "true",
                "prometheus.io/port": str(HTTP_PORT),
                "prometheus.io/path": "/metrics",
            },
            "containers": [container],
            "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}],
        },
    }
    return [runtime]
