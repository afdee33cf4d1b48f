"""The upstream lock, download cache, sha256 verification, kustomize builds and bundles.

Upstream releases cannot be downloaded here, so each test writes a small local release (YAML or a
source archive) and points a lock entry at it with a file:// URL; the code path is the same.
"""

from __future__ import annotations

import hashlib
import shutil
import tarfile
from pathlib import Path

import pytest
import yaml

from iml4e.errors import Iml4eError
from iml4e.installer import upstream
from iml4e.installer.upstream import LockEntry

CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.org"},
}
CONTROLLER = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "widget-controller", "namespace": "widgets"},
    "spec": {
        "template": {"spec": {"containers": [{"name": "c", "image": "registry.example.org/widget:v1.2.3"}]}}
    },
}
CONFIG = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "widget-config", "namespace": "widgets"},
    "data": {"agent": '{"image": "registry.example.org/agent:v1.2.3"}', "mode": "Serverless"},
}


def _release(tmp_path: Path) -> Path:
    path = tmp_path / "release" / "widgets.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump_all([CRD, CONTROLLER, CONFIG]), encoding="utf-8")
    return path


def _entry(url: str, sha256: str | None = None, **changes: object) -> LockEntry:
    fields: dict[str, object] = {
        "name": "widgets",
        "project": "widgets",
        "version": "v1.2.3",
        "format": "manifest",
        "url": url,
        "sha256": sha256,
        "stage": "controllers",
        "profiles": ("standard",),
    }
    fields.update(changes)
    return LockEntry(**fields)  # type: ignore[arg-type]


def test_the_lock_agrees_with_the_version_matrix_and_every_stage_exists() -> None:
    entries = upstream.read_lock()
    assert {e.project for e in entries} == {"kubeflow-pipelines", "kserve", "cert-manager"}
    assert upstream.check_lock_matches_versions(entries) == []
    assert all(e.url.startswith("https://") for e in entries)
    assert {e.name for e in upstream.lock_for_profile("minimal")} == {
        "kubeflow-pipelines-cluster-scoped",
        "kubeflow-pipelines",
    }


def test_fetch_downloads_verifies_and_then_reuses_the_cache(tmp_path: Path) -> None:
    release = _release(tmp_path)
    digest = hashlib.sha256(release.read_bytes()).hexdigest()
    cache = tmp_path / "cache"
    first = upstream.fetch_entry(_entry(release.as_uri(), digest), cache)
    assert first.downloaded and first.verified and first.sha256 == digest
    release.unlink()  # the source is gone: the cached copy must be used
    second = upstream.fetch_entry(_entry(release.as_uri(), digest), cache)
    assert not second.downloaded and second.manifest == first.manifest


def test_a_digest_mismatch_is_an_error_and_removes_the_download(tmp_path: Path) -> None:
    release = _release(tmp_path)
    cache = tmp_path / "cache"
    with pytest.raises(Iml4eError, match="does not match the lock"):
        upstream.fetch_entry(_entry(release.as_uri(), "0" * 64), cache)
    assert not (upstream.entry_dir(cache, _entry("x")) / "source.yaml").exists()


def test_unreachable_and_insecure_urls_fail_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(Iml4eError, match="iml4e bundle"):
        upstream.fetch_entry(_entry((tmp_path / "absent.yaml").as_uri()), tmp_path / "cache")
    with pytest.raises(Iml4eError, match="must be https"):
        upstream.fetch_entry(_entry("http://example.org/x.yaml"), tmp_path / "cache")


def test_our_patches_are_applied_to_the_upstream_objects(tmp_path: Path) -> None:
    release = _release(tmp_path)
    manifests = tmp_path / "manifests"
    patch = manifests / "upstream-patches" / "widgets.yaml"
    patch.parent.mkdir(parents=True)
    patch.write_text(
        yaml.safe_dump({**CONFIG, "data": {"mode": "Standard"}}),
        encoding="utf-8",
    )
    result = upstream.fetch_entry(
        _entry(release.as_uri(), patches=("upstream-patches/widgets.yaml",)), tmp_path / "c"
    )
    objects = upstream.load_upstream_objects(result, manifests)
    config = next(o for o in objects if o["kind"] == "ConfigMap")
    assert config["data"] == {"agent": CONFIG["data"]["agent"], "mode": "Standard"}
    wrong = manifests / "upstream-patches" / "wrong.yaml"
    wrong.write_text(
        yaml.safe_dump({**CONFIG, "metadata": {"name": "other", "namespace": "widgets"}}), encoding="utf-8"
    )
    result = upstream.fetch_entry(
        _entry(release.as_uri(), patches=("upstream-patches/wrong.yaml",)), tmp_path / "c"
    )
    with pytest.raises(Iml4eError, match="update the patch"):
        upstream.load_upstream_objects(result, manifests)


def test_the_kserve_patch_targets_the_inferenceservice_config() -> None:
    (entry,) = [e for e in upstream.read_lock() if e.name == "kserve"]
    from iml4e.paths import manifests_dir

    (patch,) = yaml.safe_load_all((manifests_dir() / entry.patches[0]).read_text(encoding="utf-8"))
    assert (patch["kind"], patch["metadata"]["namespace"], patch["metadata"]["name"]) == (
        "ConfigMap",
        "kserve",
        "inferenceservice-config",
    )
    assert '"defaultDeploymentMode": "Standard"' in patch["data"]["deploy"]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kustomize builds need kubectl")
def test_kustomize_sources_are_built_with_kubectl(tmp_path: Path) -> None:
    source = tmp_path / "widgets-1.2.3" / "deploy" / "base"
    source.mkdir(parents=True)
    (source / "all.yaml").write_text(yaml.safe_dump_all([CRD, CONTROLLER]), encoding="utf-8")
    (source / "kustomization.yaml").write_text("resources:\n  - all.yaml\n", encoding="utf-8")
    archive = tmp_path / "widgets.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "widgets-1.2.3", arcname="widgets-1.2.3")
    entry = _entry(archive.as_uri(), format="kustomize", path="deploy/base")
    result = upstream.fetch_entry(entry, tmp_path / "cache")
    kinds = [o["kind"] for o in upstream.load_upstream_objects(result)]
    assert sorted(kinds) == ["CustomResourceDefinition", "Deployment"]
    with pytest.raises(Iml4eError, match="has no directory"):
        upstream.fetch_entry(
            _entry(archive.as_uri(), format="kustomize", path="nope", name="w2"), tmp_path / "c2"
        )


def test_bundle_copies_manifests_and_lists_every_image(tmp_path: Path) -> None:
    release = _release(tmp_path)
    result = upstream.fetch_entry(_entry(release.as_uri()), tmp_path / "cache")
    summary = upstream.write_bundle(
        [result], {"docker.io/library/postgres:18.1-bookworm"}, tmp_path / "bundle"
    )
    assert summary["images"] == [
        "docker.io/library/postgres:18.1-bookworm",
        "registry.example.org/agent:v1.2.3",
        "registry.example.org/widget:v1.2.3",
    ]
    assert (tmp_path / "bundle" / "images.txt").read_text(encoding="utf-8").splitlines() == summary["images"]
    # A bundle is a cache: an install reading it needs no network.
    bundled = upstream.cached_manifest(tmp_path / "bundle" / "upstream", result.entry)
    assert bundled is not None and bundled.read_text(encoding="utf-8") == result.manifest.read_text(
        encoding="utf-8"
    )


def test_record_digests_fills_only_missing_values(tmp_path: Path) -> None:
    from iml4e.paths import manifests_dir

    manifests = tmp_path / "manifests"
    manifests.mkdir()
    shutil.copy(manifests_dir() / upstream.LOCK_FILE, manifests / upstream.LOCK_FILE)
    (entry,) = [e for e in upstream.read_lock(manifests) if e.name == "cert-manager"]
    fake = upstream.FetchResult(entry, tmp_path / "m.yaml", "ab" * 32, verified=False, downloaded=True)
    assert upstream.record_digests([fake], manifests) == 1
    recorded = {e.name: e.sha256 for e in upstream.read_lock(manifests)}
    assert recorded["cert-manager"] == "ab" * 32
    assert recorded["kserve"] is None


def test_listing_marks_what_is_cached(tmp_path: Path) -> None:
    release = _release(tmp_path)
    cached = _entry(release.as_uri())
    upstream.fetch_entry(cached, tmp_path / "cache")
    missing = _entry("https://example.org/other.yaml", name="other")
    rows = upstream.listing([cached, missing], tmp_path / "cache")
    assert rows[0]["cached"] and rows[1]["cached"] is None
