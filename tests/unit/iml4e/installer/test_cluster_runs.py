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


def _detect_defaults(package: Path) -> dict[str, object]:
    spec = next(yaml.safe_load_all(package.read_text(encoding="utf-8")))
    parameters = spec["components"]["comp-detect-errors"]["inputDefinitions"]["parameters"]
    return {key: parameters[key]["defaultValue"] for key in ("engine", "ray_address")}


def test_detect_errors_defaults_to_the_clusters_ray_where_ray_is_configured(tmp_path: Path) -> None:
    from iml4e.installer.config import parse_config
    from iml4e_pipelines.tabular_training import tabular_training

    full = compile_for_cluster(tabular_training, parse_config({"profile": "full"}), tmp_path / "full.yaml")
    assert _detect_defaults(full) == {
        "engine": "ray",
        "ray_address": "ray://iml4e-ray-head-svc.iml4e-ray.svc:10001",
    }
    external = parse_config({"services": {"ray": {"mode": "external", "address": "ray://ray.lab:10001"}}})
    package = compile_for_cluster(tabular_training, external, tmp_path / "external.yaml")
    assert _detect_defaults(package) == {"engine": "ray", "ray_address": "ray://ray.lab:10001"}
    for config in (PlatformConfig(), parse_config({"profile": "full", "services": {"ray": {"mode": "off"}}})):
        local = compile_for_cluster(tabular_training, config, tmp_path / "local.yaml")
        assert _detect_defaults(local) == {"engine": "local", "ray_address": ""}


@dsl.pipeline(name="explicit-engine")
def _explicit_engine(dataset: str = "x") -> None:
    from iml4e_components.datasets.component import load_dataset
    from iml4e_components.error_detection.component import detect_errors

    detect_errors(dataset=load_dataset(source=dataset).outputs["dataset"], engine="local")


def test_an_engine_the_pipeline_passes_still_wins(tmp_path: Path) -> None:
    from iml4e.installer.config import parse_config

    package = compile_for_cluster(_explicit_engine, parse_config({"profile": "full"}), tmp_path / "p.yaml")
    spec = next(yaml.safe_load_all(package.read_text(encoding="utf-8")))
    task = spec["root"]["dag"]["tasks"]["detect-errors"]["inputs"]["parameters"]
    assert task["engine"]["runtimeValue"]["constant"] == "local"
    assert _detect_defaults(package)["engine"] == "ray"  # only the default changed
