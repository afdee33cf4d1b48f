"""Commands of the cluster target: render, doctor, install, upgrade, uninstall, credentials, bundle,
open, cluster create|delete (plus `status --cluster` and `run --cluster`, which delegate here)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from iml4e import console
from iml4e.cli.options import (
    CONFIG_OPTION,
    CONTEXT_OPTION,
    JSON_OPTION,
    KUBECONFIG_OPTION,
    PROFILE_OPTION,
    YES_OPTION,
)

if TYPE_CHECKING:
    from iml4e.installer.cluster import KubernetesCluster
    from iml4e.installer.compose import Object
    from iml4e.installer.config import PlatformConfig
    from iml4e.installer.install import Stage
    from iml4e.installer.upstream import FetchResult, LockEntry

cluster_app = typer.Typer(help="Create or delete a local kind cluster for iml4e.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("render")(render)
    app.command("doctor")(doctor)
    app.command("install")(install)
    app.command("upgrade")(upgrade)
    app.command("uninstall")(uninstall)
    app.command("credentials")(credentials)
    app.command("bundle")(bundle)
    app.command("open")(open_service)
    cluster_app.command("create")(cluster_create)
    cluster_app.command("delete")(cluster_delete)
    app.add_typer(cluster_app, name="cluster")


def load_platform_config(
    config: Path | None = None,
    profile: str | None = None,
    kubeconfig: str | None = None,
    context: str | None = None,
) -> PlatformConfig:
    """iml4e.yaml with the command-line overrides applied."""
    from iml4e.installer.config import DEFAULT_CONFIG_FILE, load_config
    from iml4e_components.structured_files import load_structured_file

    file = Path(config) if config is not None else Path(DEFAULT_CONFIG_FILE)
    if file.exists():
        # The same read and safe parse load_config does, first, so that bytes that are not UTF-8 or a
        # crafted deep nesting get a one-line message naming the file (load_config lets them through).
        load_structured_file(file, "config file")
    loaded = load_config(config).with_profile(profile)
    overrides = {key: value for key, value in (("kubeconfig", kubeconfig), ("context", context)) if value}
    if overrides:
        loaded = loaded.model_copy(update={"cluster": loaded.cluster.model_copy(update=overrides)})
    return loaded


def _connect(config: PlatformConfig) -> KubernetesCluster:
    from iml4e.installer.cluster import connect

    with console.err.status(
        f"connecting to the cluster (timeout {config.cluster.connect_timeout_seconds:.0f} s)..."
    ):
        return connect(config)


def _connect_installed(
    settings: PlatformConfig, profile: str | None, what: str, accept_uninstalled: bool = False
) -> tuple[KubernetesCluster, PlatformConfig, str]:
    """Connect and read the install record; the installed profile applies unless `profile` is given."""
    from iml4e.errors import StateError
    from iml4e.installer.install import read_record

    cluster = _connect(settings)
    record = read_record(cluster)
    if record is None or (record["state"] != "installed" and not accept_uninstalled):
        state = "uninstalled (data kept)" if record else "not installed"
        raise StateError(f"iml4e is {state} on context '{cluster.info.context}'; {what}")
    return cluster, settings.with_profile(profile or str(record["profile"])), str(record["state"])


def render(
    config: Path | None = CONFIG_OPTION,
    profile: str | None = PROFILE_OPTION,
    output: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        help="Write one file of Kubernetes objects per stage into this directory (replacing an earlier rendering).",
    ),
    with_upstream: bool = typer.Option(
        False,
        "--with-upstream",
        help="With -o: also write the cached upstream objects (KFP, KServe, cert-manager), for GitOps.",
    ),
    show_requests: bool = typer.Option(
        False, "--requests", help="Print the summed CPU/memory requests only (upstream included when cached)."
    ),
    show_versions: bool = typer.Option(False, "--versions", help="Print the version matrix only."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Render every object iml4e owns for a profile, offline; upstream parts are listed by reference."""
    if show_versions:
        from iml4e.installer.versions import version_matrix

        matrix = version_matrix()
        if json_output:
            console.print_json(matrix)
        else:
            console.print_table("iml4e version matrix", ["component", "version"], sorted(matrix.items()))
        return
    from iml4e.errors import UsageError
    from iml4e.installer.operations import cache_dir
    from iml4e.installer.render import dump_objects, render_platform
    from iml4e.installer.requests import profile_requests
    from iml4e.installer.upstream import listing, lock_for_config

    settings = load_platform_config(config, profile)
    if with_upstream and output is None:
        raise UsageError("--with-upstream writes into the rendering directory; give it with -o DIR")
    rendering = render_platform(settings)
    upstream = listing(lock_for_config(settings), cache_dir(settings))
    if show_requests:
        totals, counted = profile_requests(settings, cache_dir(settings))
        data = {"profile": settings.profile, **totals.as_dict(), "upstream_counted": counted}
        if json_output:
            console.print_json(data)
        else:
            what = (
                f"+ cached upstream: {', '.join(counted)}"
                if counted
                else "iml4e's own pods; upstream not cached"
            )
            console.print_table(
                f"requests of profile {settings.profile} ({what})",
                ["CPU (cores)", "memory (MiB)", "pods"],
                [(data["cpu_cores"], data["memory_mib"], data["pods"])],
            )
        return
    if output is not None:
        from iml4e.installer.operations import write_rendering

        written = write_rendering(rendering, output, _cached_upstream(settings) if with_upstream else None)
        if json_output:
            console.print_json(
                {"profile": settings.profile, "files": [str(p) for p in written], "upstream": upstream}
            )
            return
        console.info(f"wrote {len(written)} files of profile {settings.profile} to {output}")
    elif json_output:
        console.print_json({"profile": settings.profile, "objects": rendering.objects, "upstream": upstream})
        return
    else:
        console.out.print(dump_objects(rendering.objects), markup=False, highlight=False, end="")
    for row in upstream:
        where = (
            f"cached at {row['cached']}"
            if row["cached"]
            else "not cached (fetched at install or by 'iml4e bundle')"
        )
        written_too = " (written into the directory)" if with_upstream else ""
        console.info(f"upstream {row['name']} {row['version']}: {row['url']} ({where}){written_too}")


def _cached_upstream(settings: PlatformConfig) -> list[tuple[str, list[Object]]]:
    """(install stage, objects) of every upstream part of the profile; all must be cached."""
    from iml4e.errors import UsageError
    from iml4e.installer.operations import cache_dir
    from iml4e.installer.upstream import cached_manifest, fetch_entry, load_upstream_objects, lock_for_config

    cache = cache_dir(settings)
    entries = lock_for_config(settings)
    missing = [f"{e.name} {e.version}" for e in entries if cached_manifest(cache, e) is None]
    if missing:
        raise UsageError(
            f"--with-upstream writes the cached upstream manifests, and {', '.join(missing)} not cached in {cache}; "
            "fetch them with 'iml4e bundle -o DIR' (then upstream.bundle_dir: DIR)"
        )
    return [(e.stage, load_upstream_objects(fetch_entry(e, cache))) for e in entries]


def _print_checks(checks: list[Any]) -> None:
    from rich.text import Text

    # From pairs: bandit takes a literal "pass" key for a password (B105).
    colours = dict(zip(("pass", "warn", "fail"), ("green", "yellow", "red"), strict=True))
    console.print_table(
        "iml4e doctor",
        ["check", "status", "detail", "fix"],
        [
            (check.name, Text(check.status, style=colours[check.status]), check.detail, check.fix)
            for check in checks
        ],
    )


def doctor(
    config: Path | None = CONFIG_OPTION,
    profile: str | None = PROFILE_OPTION,
    kubeconfig: str | None = KUBECONFIG_OPTION,
    context: str | None = CONTEXT_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Pre-flight checks of the cluster for a profile: pass, warn or fail, each with the fix."""
    from iml4e.errors import Iml4eError
    from iml4e.installer.doctor import summary
    from iml4e.installer.operations import run_doctor

    settings = load_platform_config(config, profile, kubeconfig, context)
    cluster = _connect(settings)
    checks = run_doctor(settings, cluster)
    result = summary(checks)
    if json_output:
        console.print_json(result)
    else:
        _print_checks(checks)
    if not result["ok"]:
        raise Iml4eError(
            f"doctor found problems: {', '.join(result['failed'])}; apply the fixes above and re-run"
        )


def _fetch_upstream(settings: PlatformConfig, entries: list[LockEntry]) -> list[FetchResult]:
    from iml4e.installer.operations import cache_dir, fetch

    cache = cache_dir(settings)
    with console.err.status("preparing upstream manifests...") as spinner:

        def on_progress(entry: LockEntry) -> None:
            spinner.update(f"upstream {entry.name} {entry.version} (cache {cache})...")

        results = fetch(settings, entries, on_progress)
    for result in results:
        if not result.verified:
            origin = "downloaded" if result.downloaded else "read from the cache or bundle"
            console.warn(
                f"{result.entry.name} {result.entry.version} has no sha256 in the lock ({origin}, sha256 "
                f"{result.sha256[:12]}...); it is trusted as first seen"
            )
    return results


class _RichProgress:
    """Install progress on stderr: one line per stage, a live line while waiting."""

    def __init__(self) -> None:
        self._status: Any = None

    def stage_started(self, stage: str, total: int) -> None:
        self._status = console.err.status(f"{stage}: applying {total} objects...")
        self._status.start()

    def applied(self, obj: Object, outcome: str) -> None:
        pass

    def waiting(self, stage: str, pending: list[str], elapsed: float, timeout: float) -> None:
        if self._status is not None:
            first = pending[0] if pending else ""
            self._status.update(
                f"{stage}: waiting for {len(pending)} ({first}) {elapsed:.0f}/{timeout:.0f} s"
            )

    def stage_finished(self, stage: str, changed: int) -> None:
        if self._status is not None:
            self._status.stop()
        console.err.print(f"  [green]✓[/green] {stage} ({changed} changed)")

    def close(self) -> None:
        if self._status is not None:
            self._status.stop()


def _stages(settings: PlatformConfig, cluster: Any) -> list[Stage]:
    from iml4e.installer.operations import install_stages
    from iml4e.installer.upstream import lock_for_config

    results = _fetch_upstream(settings, lock_for_config(settings))
    return install_stages(settings, cluster, results)


def _install(
    settings: PlatformConfig,
    cluster: Any,
    stages: list[Stage],
    dry_run: bool,
    json_output: bool,
    extra: dict[str, Any] | None = None,
) -> None:
    from iml4e.installer.install import run_install

    progress = _RichProgress()
    try:
        report = run_install(cluster, settings, stages, progress, dry_run=dry_run)
    finally:
        progress.close()
    if json_output:
        console.print_json({**(extra or {}), **report.as_dict()})
        return
    if dry_run:
        for change in report.changes:
            console.info(f"  would be {change['outcome']}: {change['object']}")
        console.info(f"dry run (server-side): {report.changed} objects would change; nothing was applied")
    elif report.changed == 0:
        console.info(f"nothing to change: iml4e ({settings.profile}) is installed and up to date")
    else:
        console.info(
            f"iml4e ({settings.profile}) installed: {report.changed} objects changed; see 'iml4e credentials'"
        )


def install(
    config: Path | None = CONFIG_OPTION,
    profile: str | None = PROFILE_OPTION,
    kubeconfig: str | None = KUBECONFIG_OPTION,
    context: str | None = CONTEXT_OPTION,
    dry_run: bool = typer.Option(False, "--dry-run", help="Server-side dry run: validate, apply nothing."),
    skip_doctor: bool = typer.Option(
        False, "--skip-doctor", help="Install even when pre-flight checks fail."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Doctor, then install the platform stage by stage (re-running resumes and changes nothing if done)."""
    from iml4e.errors import Iml4eError
    from iml4e.installer.operations import run_doctor

    settings = load_platform_config(config, profile, kubeconfig, context)
    cluster = _connect(settings)
    checks = run_doctor(settings, cluster)
    failed = [c for c in checks if c.status == "fail"]
    if failed and not skip_doctor:
        _print_checks(checks)
        raise Iml4eError(
            f"pre-flight checks failed: {', '.join(c.name for c in failed)}; fix them (see above) "
            "or pass --skip-doctor"
        )
    _install(settings, cluster, _stages(settings, cluster), dry_run, json_output)


def upgrade(
    config: Path | None = CONFIG_OPTION,
    profile: str | None = PROFILE_OPTION,
    kubeconfig: str | None = KUBECONFIG_OPTION,
    context: str | None = CONTEXT_OPTION,
    yes: bool = YES_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Show which images change on the cluster, then (with --yes or on confirmation) apply stage by stage."""
    from iml4e.installer.lifecycle import upgrade_plan

    settings = load_platform_config(config, profile, kubeconfig, context)
    cluster, settings, _ = _connect_installed(settings, profile, "run 'iml4e install' first")
    stages = _stages(settings, cluster)
    plan = upgrade_plan(cluster, stages)
    if json_output and not yes:
        console.print_json({"plan": plan, "applied": False})
        return
    if json_output:
        pass
    elif not plan:
        console.info("every workload already runs this release's images; re-applying to fix any drift")
    else:
        console.print_table(
            "upgrade plan",
            ["object", "container", "installed", "target"],
            [(p["object"], p["container"], p["installed"], p["target"]) for p in plan],
        )
    if not yes and not typer.confirm("apply this plan?", default=False, err=True):
        console.info("nothing applied")
        return
    _install(settings, cluster, stages, False, json_output, extra={"plan": plan, "applied": True})


def uninstall(
    config: Path | None = CONFIG_OPTION,
    kubeconfig: str | None = KUBECONFIG_OPTION,
    context: str | None = CONTEXT_OPTION,
    purge: bool = typer.Option(
        False, "--purge", help="Also delete volumes (PVCs), generated Secrets, CRDs and the namespaces."
    ),
    yes: bool = YES_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Remove everything the install created; keeps every PersistentVolumeClaim and the credentials unless --purge."""
    from iml4e.errors import StateError
    from iml4e.installer.lifecycle import uninstall as run_uninstall
    from iml4e.installer.operations import uninstall_stages

    settings = load_platform_config(config, None, kubeconfig, context)
    cluster, settings, _ = _connect_installed(
        settings, None, "nothing to uninstall", accept_uninstalled=purge
    )
    what = "everything including data volumes" if purge else "the platform (volumes and credentials are kept)"
    if not yes and not typer.confirm(
        f"remove {what} from '{cluster.info.context}'?", default=False, err=True
    ):
        console.info("nothing removed")
        return
    with console.err.status("uninstalling..." + (" (waiting for the namespaces to go)" if purge else "")):
        result = run_uninstall(
            cluster,
            uninstall_stages(settings, console.warn),
            purge,
            settings.profile,
            wait_seconds=settings.cluster.stage_timeout_seconds,
        )
    if json_output:
        console.print_json(result)
    else:
        console.info(f"removed {len(result['deleted'])} objects; kept {len(result['kept'])}")
        for kept in result["kept"]:
            console.info(f"  kept {kept}")
    if result["terminating"]:
        raise StateError(
            f"namespaces {', '.join(result['terminating'])} are still terminating; see what holds them with "
            "'kubectl get namespace NAME -o yaml' (status.conditions)"
        )


def credentials(
    config: Path | None = CONFIG_OPTION,
    kubeconfig: str | None = KUBECONFIG_OPTION,
    context: str | None = CONTEXT_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Show the credentials generated at install (read from the cluster's Secrets)."""
    from iml4e.errors import StateError
    from iml4e.installer.cluster import secret_values
    from iml4e.installer.credentials import read_credentials

    settings = load_platform_config(config, None, kubeconfig, context)
    cluster = _connect(settings)
    rows = read_credentials(
        lambda namespace, name: secret_values(cluster.get("v1", "Secret", name, namespace))
    )
    if not rows:
        raise StateError(
            f"no iml4e credentials on context '{cluster.info.context}'; run 'iml4e install' first"
        )
    if json_output:
        console.print_json(rows)
        return
    console.print_table(
        "iml4e credentials", ["service", "username", "password", "secret"], [tuple(r.values()) for r in rows]
    )


def bundle(
    output: Path = typer.Option(..., "--output", "-o", help="Directory to write the bundle into."),
    record_digests: bool = typer.Option(
        False,
        "--record-digests",
        help="Write missing sha256 values into the lock, and image digests from --image-digests.",
    ),
    image_digests: Path | None = typer.Option(
        None,
        "--image-digests",
        help="With --record-digests: an OCI image layout directory (or a directory of them) or a file of "
        "REFERENCE@sha256:... lines; the digests of iml4e's images found there go into the lock.",
    ),
    config: Path | None = CONFIG_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Download every upstream manifest and write the full image list, for air-gapped installs."""
    from iml4e.errors import UsageError
    from iml4e.installer.image_digests import digests_from, record_image_digests
    from iml4e.installer.operations import images_of_all_profiles
    from iml4e.installer.render import mirrored
    from iml4e.installer.upstream import read_lock, write_bundle
    from iml4e.installer.upstream import record_digests as write_digests
    from iml4e.installer.versions import image_tags

    if image_digests is not None and not record_digests:
        raise UsageError("--image-digests only says where digests come from; add --record-digests")
    # Read before any download or write: a bad source stops the bundle with nothing half done.
    available = digests_from(image_digests) if image_digests is not None else None
    settings = load_platform_config(config)
    results = _fetch_upstream(settings, read_lock())
    summary = write_bundle(results, images_of_all_profiles(settings), output)
    if record_digests:
        summary["recorded_digests"] = write_digests(results)
    if available is not None:
        # Digests listed under the mirror's names (images.registry_mirror) count for the original references.
        mirror = settings.images.registry_mirror
        original = {mirrored(reference, mirror): reference for reference in image_tags().values()}
        available = {original.get(reference, reference): digest for reference, digest in available.items()}
        images = record_image_digests(sorted(image_tags().values()), available)
        summary["image_digests"] = images
        if images["missing"]:
            console.warn(
                f"no digest in {image_digests} for {', '.join(images['missing'])}; rendering with "
                "images.pin_digests needs them: mirror those images there and run this again"
            )
    if json_output:
        console.print_json(summary)
        return
    console.info(
        f"bundle written to {output}: {summary['manifests']} manifests, {len(summary['images'])} images "
        f"(images.txt); install from it with upstream.bundle_dir: {output} in iml4e.yaml"
    )


def open_service(
    service: str = typer.Argument(..., help="mlflow | kfp | grafana | prometheus | alertmanager"),
    config: Path | None = CONFIG_OPTION,
    kubeconfig: str | None = KUBECONFIG_OPTION,
    context: str | None = CONTEXT_OPTION,
) -> None:
    """Port-forward a platform service to 127.0.0.1 and print its URL (Ctrl-C stops it)."""
    from iml4e.installer.access import resolve_target, start_port_forward

    target = resolve_target(service)
    settings = load_platform_config(config, None, kubeconfig, context)
    _connect(settings)  # fail fast, in one line, when the cluster is unreachable
    process, url = start_port_forward(target, settings.cluster.kubeconfig, settings.cluster.context)
    console.info(
        f"{service} at {url} (port-forward running; Ctrl-C to stop; log in with 'iml4e credentials')"
    )
    console.print_data(url)
    try:
        process.wait()
    finally:
        if process.poll() is None:
            process.terminate()


def cluster_create(
    name: str = typer.Option("iml4e", "--name", help="kind cluster name."),
    workers: int = typer.Option(0, "--workers", min=0, max=4, help="Extra worker nodes."),
) -> None:
    """Create a local kind cluster for iml4e (needs docker and kind)."""
    from iml4e.installer.kind_cluster import create_cluster

    with console.err.status(f"creating kind cluster '{name}'..."):
        warnings = create_cluster(name, workers)
    for warning in warnings:
        console.warn(warning)
    console.info(f"cluster '{name}' ready (context kind-{name}); next: iml4e doctor && iml4e install")


def cluster_delete(name: str = typer.Option("iml4e", "--name", help="kind cluster name.")) -> None:
    """Delete the local kind cluster."""
    from iml4e.installer.kind_cluster import delete_cluster

    with console.err.status(f"deleting kind cluster '{name}'..."):
        delete_cluster(name)
    console.info(f"cluster '{name}' deleted")


def show_cluster_status(
    json_output: bool, config: Path | None = None, kubeconfig: str | None = None, context: str | None = None
) -> None:
    """`iml4e status --cluster`: health per component from workload conditions."""
    from iml4e.installer.lifecycle import cluster_status

    settings = load_platform_config(config, None, kubeconfig, context)
    status = cluster_status(_connect(settings))
    if json_output:
        console.print_json(status)
        return
    if not status["installed"]:
        console.info(f"iml4e is {status['state']} on context '{status['context']}'; run 'iml4e install'")
    console.print_table(
        f"iml4e on {status['context']} (profile {status['profile'] or '-'})",
        ["component", "health", "ready", "problems"],
        [
            (c["component"], "healthy" if c["healthy"] else "unhealthy", c["ready"], "\n".join(c["problems"]))
            for c in status["components"]
        ],
    )


def run_on_cluster_command(
    pipeline: str,
    pairs: list[str],
    json_output: bool,
    config: Path | None = None,
    kubeconfig: str | None = None,
    context: str | None = None,
) -> None:
    """`iml4e run PIPELINE --cluster`: compile, submit to the installed KFP and follow the run."""
    from iml4e.installer.cluster_runs import run_on_cluster

    settings = load_platform_config(config, None, kubeconfig, context)
    _connect(settings)  # fail fast when the cluster is unreachable

    def on_state(state: str) -> None:
        console.info(f"  run state: {state}")

    result = run_on_cluster(pipeline, pairs, settings, on_state)
    if json_output:
        console.print_json(result.as_dict())
        return
    console.info(f"pipeline '{pipeline}' {result.state} on the cluster in {result.seconds:.0f} s")
    console.print_data(result.url)
