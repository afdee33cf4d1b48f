"""Upstream manifests (KFP, KServe, cert-manager, KubeRay): the lock, the download cache, verification, bundles.

Nothing here runs at render time: `render` only lists upstream parts by reference. `fetch_upstream`
downloads each locked entry (https:// or file:// URLs) into the cache, checks the sha256 recorded in
the lock (a mismatch is an error, never a warning), builds kustomize sources with
`kubectl kustomize`, and `load_upstream_objects` composes the cached manifests with our patches.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import re
import shutil
import subprocess
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from iml4e.errors import Iml4eError, UsageError
from iml4e.installer import versions
from iml4e.installer.compose import Object, merge_patch, object_key
from iml4e.installer.image_digests import LOCK_FILE
from iml4e_components.output_files import write_atomically, write_text_atomically

BUILT_MANIFEST = "manifest.yaml"
DOWNLOAD_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class LockEntry:
    name: str
    project: str
    version: str
    format: Literal["manifest", "kustomize"]
    url: str
    sha256: str | None
    stage: str
    profiles: tuple[str, ...]
    path: str | None = None
    patches: tuple[str, ...] = ()
    #: The namespace its namespaced objects are moved to (None: where the release puts them).
    namespace: str | None = None
    #: The services.* entry that must be managed for it to be installed (None: the profile decides).
    service: str | None = None

    def applies_to(self, profile: str) -> bool:
        return profile in self.profiles

    def reference(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "url": self.url, "sha256": self.sha256}


def read_lock(manifests: Path | None = None) -> list[LockEntry]:
    from iml4e.installer.render import STAGES
    from iml4e.paths import manifests_dir

    file = (manifests or manifests_dir()) / LOCK_FILE
    data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    entries = []
    for raw in data.get("upstream", []):
        entry = LockEntry(
            name=raw["name"],
            project=raw["project"],
            version=str(raw["version"]),
            format=raw["format"],
            url=raw["url"],
            sha256=raw.get("sha256"),
            stage=raw["stage"],
            profiles=tuple(raw["profiles"]),
            path=raw.get("path"),
            patches=tuple(raw.get("patches") or ()),
            namespace=raw.get("namespace"),
            service=raw.get("service"),
        )
        if entry.stage not in STAGES:
            raise UsageError(f"{file}: {entry.name}.stage '{entry.stage}' is not one of {', '.join(STAGES)}")
        if entry.format == "kustomize" and not entry.path:
            raise UsageError(
                f"{file}: {entry.name} has format kustomize but no path; add the kustomization path"
            )
        entries.append(entry)
    return entries


def lock_for_profile(profile: str, manifests: Path | None = None) -> list[LockEntry]:
    return [entry for entry in read_lock(manifests) if entry.applies_to(profile)]


def lock_for_config(config: Any, manifests: Path | None = None) -> list[LockEntry]:
    """The entries an install of `config` (a PlatformConfig) needs: its profile's, less those of
    services that are not managed (KubeRay with services.ray.mode external or off)."""
    return [
        entry
        for entry in lock_for_profile(config.profile, manifests)
        if entry.service is None or config.managed(entry.service)
    ]


def check_lock_matches_versions(entries: list[LockEntry]) -> list[str]:
    """Entries whose version differs from the version matrix (empty when they agree)."""
    return [
        f"{e.name}: lock {e.version} != versions.UPSTREAM[{e.project!r}] {versions.UPSTREAM.get(e.project)}"
        for e in entries
        if versions.UPSTREAM.get(e.project) != e.version
    ]


def default_cache_dir() -> Path:
    from iml4e.paths import state_dir

    return state_dir() / "upstream"


def entry_dir(cache: Path, entry: LockEntry) -> Path:
    return cache / entry.name / entry.version


def cached_manifest(cache: Path, entry: LockEntry) -> Path | None:
    """The built manifest of `entry` in `cache`, if it is there."""
    path = entry_dir(cache, entry) / BUILT_MANIFEST
    return path if path.is_file() else None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download(url: str, target: Path, timeout: float) -> None:
    if not url.startswith(("https://", "file://", "http://127.0.0.1", "http://localhost")):
        raise UsageError(f"upstream URL {url} must be https:// or file://; fix manifests/{LOCK_FILE}")

    def copy_response(tmp: Path) -> None:
        # The scheme is checked above: https, file, or a loopback http server.
        with urllib.request.urlopen(url, timeout=timeout) as response, tmp.open("wb") as handle:  # nosec B310
            shutil.copyfileobj(response, handle)

    try:
        write_atomically(target, copy_response, f"download of {url}", create_parent=True)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise Iml4eError(
            f"cannot download {url} ({reason}); check the network, or install from a bundle "
            "made elsewhere with 'iml4e bundle -o DIR' (upstream.bundle_dir in iml4e.yaml)"
        ) from None


def _build_kustomize(archive: Path, path: str, target: Path) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise Iml4eError(
            "building Kubeflow Pipelines' manifests needs kubectl (its kustomize); install kubectl"
        )
    with tempfile.TemporaryDirectory(prefix="iml4e-upstream-") as tmp:
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        roots = [p for p in Path(tmp).iterdir() if p.is_dir()]
        if len(roots) != 1 or not (roots[0] / path).is_dir():
            raise Iml4eError(f"{archive.name} has no directory {path}; fix the lock entry's path")
        result = subprocess.run(
            [kubectl, "kustomize", str(roots[0] / path)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            raise Iml4eError(
                f"kubectl kustomize {path} failed: {kustomize_error(result.stderr)}; check the lock entry"
            )
        write_text_atomically(target, result.stdout, "built manifest", create_parent=True)


def kustomize_error(stderr: str) -> str:
    """The line of kustomize's output that says why it failed (it prints deprecation warnings first)."""
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    causes = [line for line in lines if line.lower().startswith("error")]
    cause = causes[-1] if causes else next((x for x in reversed(lines) if "warning" not in x.lower()), "")
    return cause or (lines[-1] if lines else "no output")


@dataclass(frozen=True)
class FetchResult:
    entry: LockEntry
    manifest: Path
    sha256: str
    verified: bool
    downloaded: bool


def fetch_entry(entry: LockEntry, cache: Path, timeout: float = DOWNLOAD_TIMEOUT_SECONDS) -> FetchResult:
    """Make `entry` available in `cache` (download, verify, build); reuses a verified cached copy."""
    directory = entry_dir(cache, entry)
    directory.mkdir(parents=True, exist_ok=True)
    source = directory / ("source.tar.gz" if entry.format == "kustomize" else "source.yaml")
    manifest = directory / BUILT_MANIFEST
    if not source.is_file() and manifest.is_file() and entry.sha256 is None:
        # A bundle may carry only the built manifest (`iml4e bundle` copies the source when it has
        # one); with no digest in the lock there is nothing to verify it against, so it is used as is,
        # and there is no source digest to record either (sha256 "").
        return FetchResult(entry, manifest, "", verified=False, downloaded=False)
    downloaded = False
    if not source.is_file():
        _download(entry.url, source, timeout)
        downloaded = True
    digest = sha256_of(source)
    if entry.sha256 and digest != entry.sha256:
        source.unlink(missing_ok=True)
        raise Iml4eError(
            f"{entry.name} {entry.version}: sha256 {digest[:12]}... does not match the lock "
            f"({entry.sha256[:12]}...); the download was removed, retry, or fix manifests/{LOCK_FILE} "
            "if upstream re-published the file"
        )
    if downloaded or not manifest.is_file():
        if entry.format == "kustomize":
            _build_kustomize(source, entry.path or ".", manifest)
        else:
            shutil.copyfile(source, manifest)
    return FetchResult(entry, manifest, digest, verified=entry.sha256 is not None, downloaded=downloaded)


def fetch_upstream(
    entries: list[LockEntry],
    cache: Path,
    on_progress: Callable[[LockEntry], None] | None = None,
    timeout: float = DOWNLOAD_TIMEOUT_SECONDS,
) -> list[FetchResult]:
    results = []
    for entry in entries:
        if on_progress:
            on_progress(entry)
        results.append(fetch_entry(entry, cache, timeout))
    return results


def record_digests(results: list[FetchResult], manifests: Path | None = None) -> int:
    """Write the sha256 of each fetched file into the lock where it is still null; returns how many."""
    from iml4e.paths import manifests_dir

    file = (manifests or manifests_dir()) / LOCK_FILE
    text = file.read_text(encoding="utf-8")
    recorded = 0
    for result in results:
        if result.entry.sha256 or not result.sha256:
            continue
        pattern = re.compile(
            rf"(- name: {re.escape(result.entry.name)}\n(?:    .*\n)*?    sha256: )null", re.MULTILINE
        )
        text, count = pattern.subn(rf"\g<1>{result.sha256}", text, count=1)
        recorded += count
    write_text_atomically(file, text, create_parent=True)
    return recorded


def listing(entries: list[LockEntry], cache: Path) -> list[dict[str, Any]]:
    """Each upstream part by reference, with where its cached copy is (or that it is not cached)."""
    rows = []
    for entry in entries:
        cached = cached_manifest(cache, entry)
        rows.append({**entry.reference(), "stage": entry.stage, "cached": str(cached) if cached else None})
    return rows


def read_manifest(path: Path) -> list[Object]:
    """The objects of a multi-document YAML manifest (a fresh copy the caller may change).

    An install reads each upstream manifest twice (the doctor sums its requests, the stages apply it),
    and building Python objects from KServe's 7 MB of YAML is most of a re-install's time, so each
    file is parsed once per process (keyed by its size and modification time)."""
    stat = path.stat()
    return copy.deepcopy(_parsed_manifest(path, stat.st_mtime_ns, stat.st_size))


@functools.lru_cache(maxsize=16)
def _parsed_manifest(path: Path, mtime_ns: int, size: int) -> list[Object]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: about ten times faster
    return [doc for doc in yaml.load_all(path.read_text(encoding="utf-8"), Loader=loader) if doc]


def move_to_namespace(objects: list[Object], namespace: str) -> list[Object]:
    """Namespaced objects moved to `namespace`, and the bindings' service-account subjects with them
    (what kustomize's `namespace:` does; KubeRay's release manifest puts its operator in `default`)."""
    for obj in objects:
        metadata = obj.setdefault("metadata", {})
        if metadata.get("namespace"):
            metadata["namespace"] = namespace
        if obj.get("kind") not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        for subject in obj.get("subjects") or []:
            if subject.get("kind") == "ServiceAccount":
                subject["namespace"] = namespace
    return objects


def load_upstream_objects(result: FetchResult, manifests: Path | None = None) -> list[Object]:
    """The cached manifest's objects, moved to the entry's namespace if it names one, with our patches
    (manifests/upstream-patches/...) applied."""
    from iml4e.paths import manifests_dir

    root = manifests or manifests_dir()
    objects = read_manifest(result.manifest)
    if result.entry.namespace:
        objects = move_to_namespace(objects, result.entry.namespace)
    index = {object_key(obj): position for position, obj in enumerate(objects)}
    for patch_path in result.entry.patches:
        for patch in yaml.safe_load_all((root / patch_path).read_text(encoding="utf-8")):
            if not patch:
                continue
            key = object_key(patch)
            if key not in index:
                raise Iml4eError(
                    f"{patch_path} patches {key[0]} {key[1]}/{key[2]}, which {result.entry.name} "
                    f"{result.entry.version} does not contain; update the patch for this version"
                )
            objects[index[key]] = merge_patch(objects[index[key]], patch)
    return objects


_IMAGE_IN_TEXT = re.compile(r"""(?:image|Image)["']?\s*[:=]\s*["']?([a-z0-9.\-/_:@]+[:@][\w.\-]+)""")


def images_in_manifest(text: str) -> set[str]:
    """Image references in a manifest: container `image:` fields and images inside JSON config blobs."""
    return {match for match in _IMAGE_IN_TEXT.findall(text) if "/" in match or ":" in match}


def write_bundle(results: list[FetchResult], our_images: set[str], out_dir: Path) -> dict[str, Any]:
    """Copy fetched manifests + the lock into `out_dir` and write images.txt (every image, sorted)."""

    out_dir.mkdir(parents=True, exist_ok=True)
    images = set(our_images)
    for result in results:
        target_dir = entry_dir(out_dir / "upstream", result.entry)
        target_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(result.manifest, target_dir / BUILT_MANIFEST)
        source = result.manifest.parent / (
            "source.tar.gz" if result.entry.format == "kustomize" else "source.yaml"
        )
        if source.is_file():
            shutil.copyfile(source, target_dir / source.name)
        images |= images_in_manifest(result.manifest.read_text(encoding="utf-8"))
    image_list = sorted(images)
    write_text_atomically(out_dir / "images.txt", "\n".join(image_list) + "\n", create_parent=True)
    return {"directory": str(out_dir), "manifests": len(results), "images": image_list}
