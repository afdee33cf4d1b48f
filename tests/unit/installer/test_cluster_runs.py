"""`run --cluster`: the compiled pipeline is wired to the platform without credential literals."""

# No `from __future__ import annotations`: KFP reads the component annotations at runtime.
from pathlib import Path

import yaml
from kfp import dsl

from iml4e.installer.cluster_runs import MLFLOW_CLIENT_SECRET, compile_for_cluster
from iml4e.installer.config import PlatformConfig


@dsl.component(base_image="python:3.11-slim")
def _produce(n: int) -> int:
    return n + 1


@dsl.component(base_image="python:3.11-slim")
def _consume(value: int) -> str:
    return str(value)


@dsl.pipeline(name="two-steps")
def _two_steps(n: int = 1) -> None:
    _consume(value=_produce(n=n).output)


def test_every_task_gets_endpoints_and_mlflow_credentials_by_reference(tmp_path: Path) -> None:
    package = compile_for_cluster(_two_steps, PlatformConfig(), tmp_path / "p.yaml")
    spec, platform = list(yaml.safe_load_all(package.read_text(encoding="utf-8")))
    executors = set(spec["deploymentSpec"]["executors"])
    wired = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert len(executors) == 2 and set(wired) == executors
    for config in wired.values():
        (secret,) = config["secretAsEnv"]
        assert secret["secretName"] == MLFLOW_CLIENT_SECRET
        assert [item["envVar"] for item in secret["keyToEnv"]] == [
            "MLFLOW_TRACKING_USERNAME",
            "MLFLOW_TRACKING_PASSWORD",
        ]
        (config_map,) = config["configMapAsEnv"]
        keys = {item["envVar"] for item in config_map["keyToEnv"]}
        assert {"MLFLOW_TRACKING_URI", "AWS_ENDPOINT_URL", "IML4E_BUCKET"} <= keys
