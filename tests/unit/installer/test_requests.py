"""Resource requests summed from rendered manifests, and the README figures that quote them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from iml4e.installer.config import PROFILES, PlatformConfig
from iml4e.installer.render import render_platform
from iml4e.installer.requests import profile_requests, quantity_cpu, quantity_memory, sum_requests
from iml4e.installer.upstream import entry_dir, lock_for_profile

README = Path(__file__).resolve().parents[3] / "README.md"


@pytest.mark.parametrize(
    ("text", "cores"), [("250m", 0.25), ("1", 1.0), ("0.5", 0.5), ("1500m", 1.5), ("", 0.0)]
)
def test_cpu_quantities(text: str, cores: float) -> None:
    assert quantity_cpu(text) == cores


@pytest.mark.parametrize(
    ("text", "size"),
    [("512Mi", 512 * 1024**2), ("1Gi", 1024**3), ("1G", 10**9), ("8039452Ki", 8039452 * 1024)],
)
def test_memory_quantities(text: str, size: float) -> None:
    assert quantity_memory(text) == size


def test_replicas_multiply_and_jobs_do_not_count() -> None:
    objects = render_platform(PlatformConfig(profile="full")).objects
    single = [o for o in objects if o["metadata"]["name"] == "iml4e-mlflow" and o["kind"] == "Deployment"]
    assert single[0]["spec"]["replicas"] == 2
    assert sum_requests(single).cpu == pytest.approx(0.5)
    jobs = [o for o in objects if o["kind"] == "Job"]
    assert jobs and sum_requests(jobs).pods == 0


def test_readme_quotes_the_computed_figures() -> None:
    text = README.read_text(encoding="utf-8")
    for profile in PROFILES:
        totals = sum_requests(render_platform(PlatformConfig(profile=profile)).objects)
        row = re.search(
            rf"^\| {profile}[^|]*\|[^|]*\| ([0-9.]+) cores \| (\d+) MiB \| (\d+) \|$", text, re.MULTILINE
        )
        assert row, f"README has no requests row for {profile}"
        assert float(row.group(1)) == pytest.approx(totals.cpu, abs=0.005)
        assert int(row.group(2)) == round(totals.memory / 1024**2)
        assert int(row.group(3)) == totals.pods


def test_cached_upstream_parts_are_added(tmp_path: Path) -> None:
    config = PlatformConfig(profile="minimal")
    ours, counted = profile_requests(config, tmp_path)
    assert counted == []
    entry = next(e for e in lock_for_profile("minimal") if e.name == "kubeflow-pipelines")
    cached = entry_dir(tmp_path, entry) / "manifest.yaml"
    cached.parent.mkdir(parents=True)
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "ml-pipeline", "namespace": "kubeflow"},
        "spec": {"replicas": 1, "template": {"spec": {"containers": [
            {"name": "api", "image": "x:1", "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}
        ]}}},
    }  # fmt: skip
    cached.write_text(yaml.safe_dump(deployment), encoding="utf-8")
    total, counted = profile_requests(config, tmp_path)
    assert counted == ["kubeflow-pipelines"]
    assert total.cpu == pytest.approx(ours.cpu + 0.5)
    assert total.memory == ours.memory + 1024**3
