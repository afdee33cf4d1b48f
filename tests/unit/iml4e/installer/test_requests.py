"""Resource requests summed from rendered manifests, and the README figures that quote them."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

from iml4e.installer.config import PROFILES, PlatformConfig
from iml4e.installer.render import render_platform
from iml4e.installer.requests import profile_requests, quantity_cpu, quantity_memory, sum_requests
from iml4e.installer.upstream import entry_dir, lock_for_profile

README = Path(__file__).resolve().parents[4] / "README.md"


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


def _readme_row(profile: str) -> re.Match[str]:
    number = r"([0-9.]+) cores / (\d+) MiB / (\d+)"
    row = re.search(rf"^\| {profile}[^|]*\|[^|]*\| {number} \| {number} \|$", README.read_text("utf-8"), re.M)
    assert row, f"README has no requests row for {profile}"
    return row


def _assert_quoted(row: re.Match[str], first: int, cpu: float, memory: float, pods: int) -> None:
    assert float(row.group(first)) == pytest.approx(cpu, abs=0.005)
    assert int(row.group(first + 1)) == round(memory / 1024**2)
    assert int(row.group(first + 2)) == pods


def test_readme_quotes_the_computed_figures() -> None:
    for profile in PROFILES:
        totals = sum_requests(render_platform(PlatformConfig(profile=profile)).objects)
        _assert_quoted(_readme_row(profile), 1, totals.cpu, totals.memory, totals.pods)


def test_readme_quotes_the_figures_with_the_pinned_upstream_releases() -> None:
    bundle = Path(os.environ.get("IML4E_UPSTREAM_BUNDLE") or README.parents[1] / "shared" / "k8s")
    if not (bundle / "upstream").is_dir():
        if os.environ.get("IML4E_REQUIRE_CONTROLPLANE"):
            pytest.fail(f"no upstream bundle at {bundle} (set IML4E_UPSTREAM_BUNDLE)")
        pytest.skip(f"no upstream bundle at {bundle} (set IML4E_UPSTREAM_BUNDLE)")
    for profile in PROFILES:
        config = PlatformConfig(profile=profile)
        totals, counted = profile_requests(config, bundle / "upstream")
        assert counted == [entry.name for entry in lock_for_profile(profile)]
        _assert_quoted(_readme_row(profile), 4, totals.cpu, totals.memory, totals.pods)


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


def test_a_ray_cluster_counts_its_head_and_each_worker() -> None:
    from iml4e.installer.config import parse_config

    config = parse_config({"profile": "full", "services": {"ray": {"workers": 3}}})
    (ray_cluster,) = [o for o in render_platform(config).objects if o["kind"] == "RayCluster"]
    totals = sum_requests([ray_cluster])
    assert totals.pods == 4
    assert totals.cpu == pytest.approx(0.5 + 3 * 1.0)
    assert totals.memory == 1024**3 + 3 * 4 * 1024**3
    off = parse_config({"profile": "full", "services": {"ray": {"mode": "off"}}})
    with_ray = sum_requests(render_platform(parse_config({"profile": "full"})).objects)
    assert with_ray.pods - sum_requests(render_platform(off).objects).pods == 3  # head + 2 workers
