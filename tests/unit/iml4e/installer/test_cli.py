"""The cluster commands through the real CLI: offline render, and fast failure without a cluster."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml
from typer.testing import CliRunner

from iml4e.cli.app import app


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when the block ends


def _kubeconfig(tmp_path: Path, port: int) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": f"https://127.0.0.1:{port}"}}],
        "contexts": [{"name": "unreachable", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "unreachable",
        "users": [{"name": "u", "user": {"token": "not-a-secret"}}],
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def test_install_against_an_unreachable_cluster_fails_fast_with_one_line(tmp_path: Path) -> None:
    kubeconfig = _kubeconfig(tmp_path, _closed_port())
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "iml4e", "install", "--kubeconfig", str(kubeconfig)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    took = time.monotonic() - started
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "cannot reach the Kubernetes API" in lines[0] and "connection refused" in lines[0]
    assert "Traceback" not in result.stderr
    assert took < 20, f"took {took:.1f} s"  # seconds (interpreter start included), not minutes


def test_a_missing_kubeconfig_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["doctor", "--kubeconfig", str(tmp_path / "absent")])
    assert result.exit_code == 2
    assert "kubeconfig" in result.output


def test_render_writes_only_kubernetes_objects_one_file_per_stage(tmp_path: Path) -> None:
    out = tmp_path / "rendered"
    result = CliRunner().invoke(app, ["render", "--profile", "standard", "-o", str(out)])
    assert result.exit_code == 0, result.output
    files = sorted(p.name for p in out.iterdir())
    assert files == ["01-namespaces-crds.yaml", "04-services.yaml", "05-custom-resources.yaml"]
    for file in files:  # every document is a Kubernetes object: kubectl apply -f DIR takes the directory
        for document in yaml.safe_load_all((out / file).read_text(encoding="utf-8")):
            assert {"apiVersion", "kind", "metadata"} <= set(document), (file, document)
    assert "upstream kserve" in result.stderr and "not cached" in result.stderr
    services = list(yaml.safe_load_all((out / "04-services.yaml").read_text(encoding="utf-8")))
    assert any(o["kind"] == "Deployment" and o["metadata"]["name"] == "iml4e-mlflow" for o in services)

    minimal = CliRunner().invoke(app, ["render", "--profile", "minimal", "-o", str(out), "--json"])
    assert minimal.exit_code == 0, minimal.output
    assert sorted(p.name for p in out.iterdir()) == [
        "01-namespaces-crds.yaml",
        "04-services.yaml",
    ]  # no stale file
    assert {row["name"] for row in json.loads(minimal.stdout)["upstream"]} >= {"kubeflow-pipelines"}

    (out / "notes.txt").write_text("mine", encoding="utf-8")
    refused = CliRunner().invoke(app, ["render", "-o", str(out)])
    assert refused.exit_code == 2 and "notes.txt" in refused.stderr
    assert (out / "notes.txt").read_text(encoding="utf-8") == "mine"
    upstream = CliRunner().invoke(app, ["render", "--with-upstream", "-o", str(tmp_path / "gitops")])
    assert upstream.exit_code == 2 and "not cached" in upstream.stderr


def test_render_requests_json_and_bad_profile(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["render", "--profile", "minimal", "--requests", "--json"])
    assert result.exit_code == 0, result.output
    # Postgres 100m + SeaweedFS 200m + MLflow 250m (the bucket Job finishes and is not counted).
    assert '"cpu_cores": 0.55' in result.output
    bad = CliRunner().invoke(app, ["render", "--profile", "huge"])
    assert bad.exit_code == 2 and "unknown profile 'huge'" in bad.output


def test_cluster_create_names_what_is_missing(monkeypatch: object) -> None:
    import shutil

    import pytest

    mp = pytest.MonkeyPatch()
    real_which = shutil.which
    mp.setattr(shutil, "which", lambda name: None if name == "kind" else real_which(name))
    try:
        result = CliRunner().invoke(app, ["cluster", "create"])
    finally:
        mp.undo()
    assert result.exit_code == 2
    assert "needs kind" in result.output


def test_render_to_stdout_is_parseable_yaml() -> None:
    result = CliRunner().invoke(app, ["render", "--profile", "full"])
    assert result.exit_code == 0
    documents = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert len(documents) > 40 and all("kind" in d for d in documents)


def test_render_versions_prints_the_matrix() -> None:
    import json

    from iml4e.installer import versions

    result = CliRunner().invoke(app, ["render", "--versions", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == versions.version_matrix()


def test_uninstall_plan_needs_no_user_secret_values() -> None:
    from iml4e.installer.config import parse_config
    from iml4e.installer.operations import uninstall_stages

    config = parse_config(
        {
            "services": {
                "mlflow": {"mode": "external", "uri": "https://m.example.org", "credentials_secret": "ml"},
                "object_store": {
                    "mode": "external",
                    "endpoint": "https://s3.example.org",
                    "credentials_secret": "s3",
                },
            }
        }
    )
    names = {o["metadata"]["name"] for stage in uninstall_stages(config, print) for o in stage.objects}
    assert {"iml4e-mlflow-client", "iml4e-serving-s3"} <= names
