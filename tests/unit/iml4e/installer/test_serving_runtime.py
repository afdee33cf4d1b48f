"""The cluster's ServingRuntime runs iml4e's own model server: the arguments it passes are ones the
server accepts, its metrics are where Prometheus is told to look, and its request log goes to the
bucket and prefix the drift monitor reads."""

from __future__ import annotations

from typing import Any

import pytest

from iml4e.errors import UsageError
from iml4e.installer.config import parse_config
from iml4e.installer.render import render_platform
from iml4e.installer.versions import iml4e_image
from iml4e_components.conventions import SERVING_NAMESPACE
from iml4e_components.deployment import core as deployment
from iml4e_components.serving.__main__ import build_parser


def _runtime(config: dict[str, Any]) -> dict[str, Any]:
    objects = render_platform(parse_config(config)).objects
    return next(o for o in objects if o["kind"] == "ServingRuntime")


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_the_runtime_runs_our_server_with_arguments_it_accepts() -> None:
    runtime = _runtime({})
    assert runtime["metadata"]["name"] == deployment.DEFAULT_RUNTIME
    assert runtime["metadata"]["namespace"] == SERVING_NAMESPACE
    container = runtime["spec"]["containers"][0]
    assert container["image"] == iml4e_image()  # pinned by the renderer, not a bare name
    assert container["command"] == ["python", "-m", "iml4e_components.serving"]
    # KServe replaces {{.Name}} with the InferenceService's name before the pod starts.
    args = build_parser().parse_args([a.replace("{{.Name}}", "churn") for a in container["args"]])
    assert (args.model_uri, args.name, args.host) == ("/mnt/models", "churn", "0.0.0.0")
    assert args.port == container["ports"][0]["containerPort"]
    assert set(runtime["spec"]["protocolVersions"]) == {"v1", "v2"}


def test_prometheus_scrapes_the_port_the_server_exposes_metrics_on() -> None:
    runtime = _runtime({})
    container = runtime["spec"]["containers"][0]
    port = str(container["ports"][0]["containerPort"])
    assert runtime["spec"]["annotations"]["prometheus.io/port"] == port
    assert runtime["spec"]["annotations"]["prometheus.io/path"] == "/metrics"
    # The InferenceService the deploy component creates carries the same port.
    service = deployment.build_inference_service("churn", "s3://iml4e/m")
    assert service["metadata"]["annotations"]["prometheus.io/port"] == port
    assert container["readinessProbe"]["httpGet"]["port"] == int(port)


def test_requests_are_logged_where_the_drift_monitor_reads_them() -> None:
    config = {
        "services": {"object_store": {"bucket": "ml-data"}},
        "monitoring": {
            "drift": {
                "request_log_prefix": "served",
                "request_log_sample_rate": 0.25,
                "models": [{"name": "churn", "reference": "s3://ml-data/ref.csv"}],
            }
        },
    }
    objects = render_platform(parse_config(config)).objects
    runtime = next(o for o in objects if o["kind"] == "ServingRuntime")
    monitor = next(
        o for o in objects if o["metadata"]["name"] == "iml4e-drift-monitor" and o["kind"] == "Deployment"
    )
    server_env = _env(runtime["spec"]["containers"][0])
    monitor_env = _env(monitor["spec"]["template"]["spec"]["containers"][0])
    assert server_env["IML4E_REQUEST_LOG_BUCKET"] == "ml-data"
    assert server_env["IML4E_REQUEST_LOG_PREFIX"] == "served"
    for key in ("IML4E_REQUEST_LOG_BUCKET", "IML4E_REQUEST_LOG_PREFIX", "AWS_ENDPOINT_URL"):
        assert server_env[key] == monitor_env[key]
    # Keys come from the generated Secret, never as literal values.
    assert server_env["AWS_SECRET_ACCESS_KEY"] == {
        "secretKeyRef": {"name": "iml4e-serving-s3", "key": "AWS_SECRET_ACCESS_KEY"}
    }
    args = build_parser().parse_args(
        [a.replace("{{.Name}}", "churn") for a in runtime["spec"]["containers"][0]["args"]]
    )
    assert args.log_sample_rate == 0.25


def test_a_sample_rate_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(UsageError, match="request_log_sample_rate"):
        parse_config({"monitoring": {"drift": {"request_log_sample_rate": 1.5}}})


def test_minimal_has_no_kserve_and_no_runtime() -> None:
    objects = render_platform(parse_config({"profile": "minimal"})).objects
    assert not any(o["kind"] == "ServingRuntime" for o in objects)
