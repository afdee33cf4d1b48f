"""The upstream lock, download cache, sha256 verification, kustomize builds and bundles.

Upstream releases cannot be downloaded here, so each test writes a small local release (YAML or a
source archive) and points a lock entry at it with a file:// URL; the code path is the same.
"""

from __future__ import annotations

import hashlib
import shutil
import tarfile
from dataclasses import replace
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
    assert {e.project for e in entries} == {"kubeflow-pipelines", "kserve", "cert-manager", "kuberay"}
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


def test_a_bundle_holding_only_the_built_manifest_is_used_without_downloading(tmp_path: Path) -> None:
    entry = _entry("https://example.invalid/widgets.tar.gz", format="kustomize", path="config/default")
    built = upstream.entry_dir(tmp_path, entry) / upstream.BUILT_MANIFEST
    built.parent.mkdir(parents=True)
    shutil.copyfile(_release(tmp_path), built)
    result = upstream.fetch_entry(entry, tmp_path, timeout=0.01)  # the URL is never asked
    assert result.manifest == built and not result.downloaded and not result.verified
    assert upstream.record_digests([result], _lock_copy(tmp_path)) == 0  # no source: nothing to record
    with pytest.raises(Iml4eError, match="cannot download"):  # a digest in the lock needs the source
        upstream.fetch_entry(replace(entry, sha256="0" * 64), tmp_path, timeout=0.01)


def _lock_copy(tmp_path: Path) -> Path:
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    repository_manifests = Path(__file__).resolve().parents[4] / "manifests"
    shutil.copyfile(repository_manifests / upstream.LOCK_FILE, manifests / upstream.LOCK_FILE)
    return manifests


def test_an_entry_with_a_namespace_moves_its_objects_and_their_bindings_there(tmp_path: Path) -> None:
    account = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "op", "namespace": "default"},
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "op"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "op"},
        "subjects": [
            {"kind": "ServiceAccount", "name": "op", "namespace": "default"},
            {"kind": "Group", "name": "g"},
        ],
    }
    release = tmp_path / "op.yaml"
    release.write_text(yaml.safe_dump_all([CRD, account, binding]), encoding="utf-8")
    entry = _entry(release.as_uri(), namespace="operators")
    objects = upstream.load_upstream_objects(upstream.fetch_entry(entry, tmp_path / "cache"))
    crd, moved_account, moved_binding = objects
    assert "namespace" not in crd["metadata"]  # cluster-scoped objects stay cluster-scoped
    assert moved_account["metadata"]["namespace"] == "operators"
    assert moved_binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "op", "namespace": "operators"},
        {"kind": "Group", "name": "g"},
    ]


def test_kuberay_is_installed_only_where_ray_is_managed() -> None:
    from iml4e.installer.config import parse_config

    def names(data: dict[str, object]) -> set[str]:
        return {e.name for e in upstream.lock_for_config(parse_config(data))}

    assert "kuberay-operator" in names({"profile": "full"})
    assert "kuberay-operator" not in names({"profile": "standard"})
    assert "kuberay-operator" not in names({"profile": "full", "services": {"ray": {"mode": "off"}}})
    external = {"mode": "external", "address": "ray://ray.example.org:10001"}
    assert "kuberay-operator" not in names({"profile": "full", "services": {"ray": external}})
    (kuberay,) = [e for e in upstream.read_lock() if e.name == "kuberay-operator"]
    assert kuberay.namespace == "kuberay" and kuberay.stage == "controllers"


def test_the_ray_clusters_ray_version_is_the_one_the_iml4e_image_installs() -> None:
    import tomllib

    from iml4e.installer import versions

    root = Path(__file__).resolve().parents[4]
    lock = tomllib.loads((root / "uv.lock").read_text(encoding="utf-8"))
    (ray,) = [package for package in lock["package"] if package["name"] == "ray"]
    assert ray["version"] == versions.RAY_VERSION
    dockerfile = (root / "Dockerfile").read_text(encoding="utf-8")
    assert dockerfile.count("--extra ray") == 2  # both `uv sync` steps of the image install the extra


def test_the_kuberay_operator_watches_only_the_ray_namespace_and_keeps_upstreams_flags() -> None:
    import os

    bundle = Path(
        os.environ.get("IML4E_UPSTREAM_BUNDLE") or Path(__file__).resolve().parents[5] / "shared" / "k8s"
    )
    (entry,) = [e for e in upstream.read_lock() if e.name == "kuberay-operator"]
    if upstream.cached_manifest(bundle / "upstream", entry) is None:
        pytest.skip(f"no {entry.name} {entry.version} in the bundle at {bundle} (set IML4E_UPSTREAM_BUNDLE)")
    result = upstream.fetch_entry(entry, bundle / "upstream")
    released = {o["kind"]: o for o in upstream.read_manifest(result.manifest) if o["kind"] == "Deployment"}[
        "Deployment"
    ]
    patched = [o for o in upstream.load_upstream_objects(result) if o["kind"] == "Deployment"]
    assert [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in patched] == [
        ("kuberay", "kuberay-operator")
    ]
    (before,) = released["spec"]["template"]["spec"]["containers"]
    (after,) = patched[0]["spec"]["template"]["spec"]["containers"]
    assert after["args"] == [*before["args"], "--watch-namespace=iml4e-ray"]  # upstream's flags all kept
