"""What the cluster commands do, below the CLI: find the upstream manifests, plan the stages, check.

The CLI (`iml4e.cli.cluster_commands`) only parses options and prints; everything here is plain
functions on a `PlatformConfig` and a `ClusterApi`, so tests call them directly.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from iml4e.errors import UsageError
from iml4e.installer.cluster import ClusterApi, secret_values
from iml4e.installer.compose import Object
from iml4e.installer.config import PROFILES, PlatformConfig
from iml4e.installer.install import Stage, plan_stages
from iml4e.installer.render import STAGES, Rendering, dump_objects
from iml4e.installer.upstream import (
    FetchResult,
    LockEntry,
    cached_manifest,
    default_cache_dir,
    fetch_entry,
    load_upstream_objects,
    lock_for_config,
)


def cache_dir(config: PlatformConfig) -> Path:
    """Where the upstream manifests are: the bundle's `upstream/`, the configured cache, or the default."""
    if config.upstream.bundle_dir:
        return Path(config.upstream.bundle_dir).expanduser() / "upstream"
    return Path(config.upstream.cache_dir).expanduser() if config.upstream.cache_dir else default_cache_dir()


def check_bundle(config: PlatformConfig, entries: list[LockEntry]) -> None:
    """A bundle is read, never written or downloaded into: every entry must already be in it."""
    if not config.upstream.bundle_dir:
        return
    cache = cache_dir(config)
    missing = [f"{e.name} {e.version}" for e in entries if cached_manifest(cache, e) is None]
    if missing:
        raise UsageError(
            f"the bundle {config.upstream.bundle_dir} has no {', '.join(missing)} "
            f"(looked for {cache}/NAME/VERSION/manifest.yaml); write the bundle again with "
            "'iml4e bundle -o DIR' from this release, or unset upstream.bundle_dir to download"
        )


def fetch(
    config: PlatformConfig, entries: list[LockEntry], on_progress: Callable[[LockEntry], None] | None = None
) -> list[FetchResult]:
    """Every entry from the bundle or the cache (downloading into the cache what is missing)."""
    check_bundle(config, entries)
    cache = cache_dir(config)
    results = []
    for entry in entries:
        if on_progress:
            on_progress(entry)
        results.append(fetch_entry(entry, cache))
    return results


def upstream_objects(results: list[FetchResult]) -> list[tuple[str, list[Object]]]:
    """(declared stage, objects with our patches) per fetched lock entry."""
    return [(result.entry.stage, load_upstream_objects(result)) for result in results]


def secret_reader(cluster: ClusterApi) -> Callable[[str, str], dict[str, str] | None]:
    return lambda namespace, name: (
        secret_values(cluster.get("v1", "Secret", name, namespace)) if name else None
    )


def install_stages(config: PlatformConfig, cluster: ClusterApi, results: list[FetchResult]) -> list[Stage]:
    """The stages an install applies, with the Secrets as they are (or will be) on the cluster."""
    from iml4e.installer.credentials import plan_secrets
    from iml4e.installer.render import render_platform

    secrets = plan_secrets(config, secret_reader(cluster))
    return plan_stages(render_platform(config), upstream_objects(results), secrets)


def uninstall_stages(config: PlatformConfig, warn: Callable[[str], None]) -> list[Stage]:
    """What an install of `config` applied, for deletion; upstream parts that are not cached are skipped."""
    from iml4e.installer.credentials import plan_secrets
    from iml4e.installer.render import render_platform

    cache = cache_dir(config)
    upstream = []
    for entry in lock_for_config(config):
        if cached_manifest(cache, entry) is None:
            warn(f"{entry.name} {entry.version} is not cached; its objects stay (run 'iml4e bundle' first)")
            continue
        upstream.append((entry.stage, load_upstream_objects(fetch_entry(entry, cache))))
    # Only the names matter for deletion: a placeholder stands for every user-given Secret.
    placeholder = dict.fromkeys(("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "username", "password"), "-")
    secrets = plan_secrets(config, lambda namespace, name: placeholder)
    return plan_stages(render_platform(config), upstream, secrets)


def run_doctor(config: PlatformConfig, cluster: ClusterApi) -> list[Any]:
    """Doctor's checks for `config`'s profile, with its requests counted upstream included."""
    from iml4e.installer.doctor import run_checks
    from iml4e.installer.requests import profile_requests

    cache = cache_dir(config)
    needs_build = any(
        e.format == "kustomize" and cached_manifest(cache, e) is None for e in lock_for_config(config)
    )
    totals, _ = profile_requests(config, cache)
    return run_checks(
        cluster, config.profile, (totals.cpu, totals.memory), config.storage.storage_class, needs_build
    )


def images_of_all_profiles(config: PlatformConfig) -> set[str]:
    """Every image iml4e's own objects use, in any profile (for `iml4e bundle`'s images.txt).

    Listed by tag even with images.pin_digests: the bundle is where digests get recorded."""
    from iml4e.installer.render import containers, render_platform

    by_tag = config.model_copy(update={"images": config.images.model_copy(update={"pin_digests": False})})
    return {
        str(container["image"])
        for profile in PROFILES
        for obj in render_platform(by_tag.with_profile(profile)).objects
        for container in containers(obj)
    }


_RENDERED_FILE = re.compile(r"^[0-9]{2}-[a-z-]+\.yaml$")


def write_rendering(
    rendering: Rendering, out_dir: Path, upstream: list[tuple[str, list[Object]]] | None = None
) -> list[Path]:
    """Write one file of Kubernetes objects per stage (`NN-stage.yaml`), in install order.

    With `upstream` ((stage, objects) per lock entry) those objects go into their stages' files too,
    so the directory is the whole install for GitOps tools. The directory holds nothing else: files of
    an earlier rendering that this one does not write are removed, and a directory holding other
    files is refused rather than mixed into.
    """
    from iml4e_components.output_files import write_text_atomically

    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"{out_dir} is a file; give a directory to render into with -o")
    foreign = (
        sorted(p.name for p in out_dir.iterdir() if not _RENDERED_FILE.match(p.name))
        if out_dir.exists()
        else []
    )
    if foreign:
        raise UsageError(
            f"{out_dir} holds files iml4e did not render ({', '.join(foreign[:3])}); "
            "render into an empty directory or an earlier rendering's"
        )
    from iml4e_components.output_files import check_output_path

    # The directory is created (and checked writable) before any file is written: a read-only place
    # is one line, exit 2, not an OSError halfway.
    check_output_path(out_dir / f"01-{STAGES[0]}.yaml", "rendering", create_parent=True)
    written = []
    for stage in plan_stages(rendering, upstream or [], []):
        path = out_dir / f"{STAGES.index(stage.name) + 1:02d}-{stage.name}.yaml"
        write_text_atomically(path, dump_objects(stage.objects), create_parent=True)
        written.append(path)
    for stale in set(out_dir.iterdir()) - set(written):
        stale.unlink()
    return written
