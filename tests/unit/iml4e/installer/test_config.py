"""PlatformConfig: defaults, validation messages that name the key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from iml4e.errors import UsageError
from iml4e.installer.config import PlatformConfig, load_config, parse_config


def test_defaults_are_the_standard_profile_with_everything_managed() -> None:
    config = PlatformConfig()
    assert config.profile == "standard"
    assert all(config.managed(s) for s in ("mlflow", "object_store", "prometheus"))
    assert not config.managed("feast")  # only in full


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"profil": "full"}, "unknown key 'profil'"),
        ({"services": {"mlflow": {"uri": "x", "moed": "external"}}}, "unknown key 'services.mlflow.moed'"),
        ({"profile": "huge"}, "profile"),
        ({"services": {"mlflow": {"mode": "external"}}}, "services.mlflow.uri is required"),
        (
            {"services": {"object_store": {"mode": "external", "endpoint": "https://s3"}}},
            "credentials_secret",
        ),
        ({"cluster": {"stage_timeout_seconds": 0}}, "cluster.stage_timeout_seconds"),
        ({"alerting": {"thresholds": {"latency_p99_seconds": 0}}}, "alerting.thresholds.latency_p99_seconds"),
        ({"alerting": {"thresholds": {"server_error_ratio": 1.5}}}, "alerting.thresholds.server_error_ratio"),
        (
            {
                "alerting": {"thresholds": {"monitor_stale_hours": 1}},
                "monitoring": {"drift": {"interval_seconds": 7200}},
            },
            "monitor_stale_hours (1) is not longer than monitoring.drift.interval_seconds (7200 s)",
        ),
    ],
)
def test_bad_config_names_the_key(data: dict[str, object], expected: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse_config(data, "iml4e.yaml")
    message = str(raised.value)
    assert expected in message and message.startswith("iml4e.yaml")
    assert "\n" not in message


def test_load_config_reads_yaml_and_reports_syntax_and_missing_files(tmp_path: Path) -> None:
    good = tmp_path / "iml4e.yaml"
    good.write_text("profile: minimal\nstorage:\n  postgres: 20Gi\n", encoding="utf-8")
    config = load_config(good)
    assert config.profile == "minimal" and config.storage.postgres == "20Gi"
    bad = tmp_path / "bad.yaml"
    bad.write_text("profile: [minimal\n", encoding="utf-8")
    with pytest.raises(UsageError, match="not valid YAML"):
        load_config(bad)
    with pytest.raises(UsageError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")


def test_profile_override_is_validated() -> None:
    assert PlatformConfig().with_profile("full").profile == "full"
    monitored = parse_config(
        {
            "storage": {"postgres": "9Gi"},
            "monitoring": {"drift": {"models": [{"name": "churn", "reference": "s3://b/k.csv"}]}},
        }
    )
    assert monitored.with_profile("full").storage.postgres == "9Gi"  # the rest of the config is kept
    with pytest.raises(
        UsageError, match=r"--profile minimal: .*monitoring\.drift\.models needs served models and Prometheus"
    ):
        monitored.with_profile("minimal")
    with pytest.raises(UsageError, match="unknown profile 'big'"):
        PlatformConfig().with_profile("big")


def test_the_documented_example_config_is_valid_and_renders() -> None:
    import re

    from iml4e.installer.render import render_platform

    doc = (Path(__file__).resolve().parents[4] / "docs" / "reference-architecture.md").read_text(
        encoding="utf-8"
    )
    (block,) = re.findall(r"```yaml\n(# iml4e.yaml\n.*?)```", doc, re.DOTALL)
    import yaml

    config = parse_config(yaml.safe_load(block), "docs/reference-architecture.md")
    assert (
        not config.managed("object_store")
        and not config.managed("mlflow")
        and not config.managed("prometheus")
    )
    rendering = render_platform(config)
    assert rendering.endpoints["AWS_ENDPOINT_URL"] == "https://s3.eu-central-1.amazonaws.com"


def test_what_each_profile_holds_is_read_from_its_overlay(tmp_path: Path) -> None:
    from iml4e.installer.compose import bases_of
    from iml4e.installer.config import profile_parts

    assert profile_parts("minimal") == frozenset()
    assert profile_parts("standard") == {"serving", "monitoring"}
    assert profile_parts("full") == {"serving", "monitoring", "feast", "ray"}
    assert PlatformConfig(profile="standard").managed("prometheus")
    assert not PlatformConfig(profile="standard").managed("feast")
    with pytest.raises(ValueError, match="unknown profile part"):
        PlatformConfig().includes("gpu")
    # An overlay that adds a base through another overlay counts it too.
    for name, resources in {
        "base/a": [],
        "base/b": [],
        "one": ["../base/a"],
        "two": ["../one", "../base/b"],
    }.items():
        (tmp_path / name).mkdir(parents=True)
        (tmp_path / name / "kustomization.yaml").write_text(f"resources: {resources}\n", encoding="utf-8")
    assert bases_of(tmp_path / "two") == {"a", "b"}


@pytest.mark.parametrize(
    ("ray", "expected"),
    [
        ({"mode": "sometimes"}, "services.ray.mode: Input should be 'managed', 'external' or 'off'"),
        ({"mode": "external"}, "services.ray: address is required when mode is external"),
        ({"mode": "external", "address": "http://ray"}, "services.ray: address 'http://ray' is not a Ray"),
        ({"workers": 0}, "services.ray: workers is 0; a managed RayCluster needs at least 1 worker"),
        (
            {"worker": {"memory": "4 GB"}},
            "services.ray.worker.memory: '4 GB' is not a positive Kubernetes quantity",
        ),
        ({"head": {"cpu": "0"}}, "services.ray.head.cpu: '0' is not a positive Kubernetes quantity"),
        ({"worker": {"cpu": "-1"}}, "services.ray.worker.cpu: '-1' is not a positive Kubernetes quantity"),
        ({"workers": 65}, "services.ray.workers"),
        ({"mode": "off", "workers": -1}, "services.ray.workers: Input should be greater than or equal to 0"),
    ],
)
def test_bad_ray_settings_are_refused_in_one_line(ray: dict[str, object], expected: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse_config({"profile": "full", "services": {"ray": ray}}, "iml4e.yaml")
    message = str(raised.value)
    assert message.startswith(f"iml4e.yaml: {expected}"), message
    assert "\n" not in message


def test_ray_is_managed_in_full_only_and_off_or_external_on_request() -> None:
    from iml4e.installer.render import ray_address

    assert not PlatformConfig().managed("ray") and ray_address(PlatformConfig()) is None
    full = parse_config({"profile": "full"})
    assert full.managed("ray")
    assert ray_address(full) == "ray://iml4e-ray-head-svc.iml4e-ray.svc:10001"
    off = parse_config({"profile": "full", "services": {"ray": {"mode": "off", "workers": 0}}})
    assert not off.managed("ray") and ray_address(off) is None  # zero workers are fine when off
    external = parse_config(
        {"profile": "standard", "services": {"ray": {"mode": "external", "address": "ray://10.0.0.7:10001"}}}
    )
    assert ray_address(external) == "ray://10.0.0.7:10001"  # any profile may use a Ray it does not run


def test_a_bad_ray_setting_is_exit_2_without_a_traceback(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from iml4e.cli.app import app

    config = tmp_path / "iml4e.yaml"
    config.write_text("profile: full\nservices:\n  ray:\n    workers: 0\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["render", "-c", str(config), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "services.ray: workers is 0" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()
