"""The rendered Prometheus configuration and rules; rules are checked by promtool when installed.

promtool comes with Debian's `prometheus` package (installed by .ci/run); without it these are skipped.
The YAML shape is always checked.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from iml4e.installer.config import PlatformConfig
from iml4e.installer.render import render_platform

PROMTOOL = shutil.which("promtool")


def _config_maps() -> dict[str, dict[str, Any]]:
    objects = render_platform(PlatformConfig(profile="full")).objects
    return {o["metadata"]["name"]: o["data"] for o in objects if o["kind"] == "ConfigMap"}


def test_rules_and_scrape_config_are_well_formed() -> None:
    maps = _config_maps()
    config = yaml.safe_load(maps["iml4e-prometheus-config"]["prometheus.yml"])
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yaml"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    namespaces = jobs["platform-pods"]["kubernetes_sd_configs"][0]["namespaces"]["names"]
    assert set(namespaces) == {"iml4e", "iml4e-serving", "iml4e-monitoring", "kubeflow"}
    for name, text in maps["iml4e-prometheus-rules"].items():
        groups = yaml.safe_load(text)["groups"]
        assert groups and all(group["rules"] for group in groups), name


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian package prometheus)")
def test_promtool_accepts_the_rendered_rules(tmp_path: Path) -> None:
    # Only the rules: Debian builds promtool without Kubernetes service discovery, so
    # `promtool check config` rejects kubernetes_sd_configs there although Prometheus accepts it.
    files = []
    for name, text in _config_maps()["iml4e-prometheus-rules"].items():
        files.append(tmp_path / name)
        files[-1].write_text(text, encoding="utf-8")
    assert PROMTOOL is not None
    result = subprocess.run(
        [PROMTOOL, "check", "rules", *map(str, files)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
