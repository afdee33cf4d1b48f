"""Commands of the cluster target: render, doctor, install, upgrade, uninstall, credentials, bundle,
open, cluster create|delete (plus `status --cluster` and `run --cluster`, which delegate here)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from iml4e import console

if TYPE_CHECKING:
    from iml4e.installer.cluster import KubernetesCluster
    from iml4e.installer.compose import Object
    from iml4e.installer.config import PlatformConfig
    from iml4e.installer.install import Stage
    from iml4e.installer.upstream import FetchResult, LockEntry

JSON_OPTION = typer.Option(False, "--json", help="Print machine-readable JSON to stdout.")
CONFIG_OPTION = typer.Option(
    None, "--config", "-c", help="iml4e.yaml to read (default: ./iml4e.yaml if present)."
)
PROFILE_OPTION = typer.Option(None, "--profile", help="minimal | standard | full (overrides iml4e.yaml).")
KUBECONFIG_OPTION = typer.Option(None, "--kubeconfig", help="kubeconfig file (default: $KUBECONFIG).")
CONTEXT_OPTION = typer.Option(None, "--context", help="kubeconfig context (default: the current one).")
YES_OPTION = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation.")

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
    from iml4e.installer.config import load_config

    loaded = load_config(config).with_profile(profile)
    overrides = {key: value for key, value in (("kubeconfig", kubeconfig), ("context", context)) if value}
    if overrides:
        loaded = loaded.model_copy(update={"cluster": loaded.cluster.model_copy(update=overrides)})
    return loaded


def _cache_dir(config: PlatformConfig) -> Path:
    from iml4e.installer.upstream import default_cache_dir

    if config.upstream.bundle_dir:
        return Path(config.upstream.bundle_dir).expanduser() / "upstream"
    return Path(config.upstream.cache_dir).expanduser() if config.upstream.cache_dir else default_cache_dir()


def _connect(config: PlatformConfig) -> KubernetesCluster:
    from iml4e.installer.cluster import connect

    with console.err.status(
        f"connecting to the cluster (timeout {config.cluster.connect_timeout_seconds:.0f} s)..."
    ):
        return connect(config)


def _connect_installed(
    settings: PlatformConfig, profile: str | None, what: str
) -> tuple[KubernetesCluster, PlatformConfig]:
    """Connect and read the install record; the installed profile applies unless `profile` is given."""
    from iml4e.errors import StateError
    from iml4e.installer.install import read_record

    cluster = _connect(settings)
    record = read_record(cluster)
    if record is None:
        raise StateError(f"iml4e is not installed on context '{cluster.info.context}'; {what}")
    return cluster, settings.with_profile(profile or str(record["profile"]))


def render(
    config: Path | None = CONFIG_OPTION,
    profile: str | None = PROFILE_OPTION,
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write one file per stage into this directory."
    ),
    show_requests: bool = typer.Option(
        False, "--requests", help="Print the summed CPU/memory requests only."
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
    from iml4e.installer.render import dump_objects, render_platform, write_rendering
    from iml4e.installer.requests import profile_requests
    from iml4e.installer.upstream import listing, lock_for_profile

    settings = load_platform_config(config, profile)
    rendering = render_platform(settings)
    upstream = listing(lock_for_profile(settings.profile), _cache_dir(settings))
    if show_requests:
        totals, counted = profile_requests(settings, _cache_dir(settings))
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
        written = write_rendering(rendering, output, upstream)
        if json_output:
            console.print_json(
                {"profile": settings.profile, "files": [str(p) for p in written], "upstream": upstream}
            )
            return
        console.info(f"wrote {len(rendering.objects)} objects of profile {settings.profile} to {output}")
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
        console.info(f"upstream {row['name']} {row['version']}: {row['url']} ({where})")


def _requests_for(settings: PlatformConfig) -> tuple[float, float]:
    from iml4e.installer.requests import profile_requests

    totals, _ = profile_requests(settings, _cache_dir(settings))
    return totals.cpu, totals.memory


def _run_doctor(settings: PlatformConfig, cluster: Any) -> list[Any]:
    from iml4e.installer.doctor import run_checks
    from iml4e.installer.upstream import cached_manifest, lock_for_profile

    cache = _cache_dir(settings)
    needs_build = any(
        e.format == "kustomize" and cached_manifest(cache, e) is None
        for e in lock_for_profile(settings.profile)
    )
    return run_checks(
        cluster, settings.profile, _requests_for(settings), settings.storage.storage_class, needs_build
    )


def _print_checks(checks: list[Any]) -> None:
    from rich.text import Text

    colours = {"pass": "green", "warn": "yellow", "fail": "red"}
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

    settings = load_platform_config(config, profile, kubeconfig, context)
    cluster = _connect(settings)
    checks = _run_doctor(settings, cluster)
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
    from iml4e.installer.upstream import fetch_upstream

    cache = _cache_dir(settings)
    with console.err.status("preparing upstream manifests...") as spinner:

        def on_progress(entry: LockEntry) -> None:
            spinner.update(f"upstream {entry.name} {entry.version} (cache {cache})...")

        results = fetch_upstream(entries, cache, on_progress)
    for result in results:
        if not result.verified:
            console.warn(
                f"{result.entry.name} {result.entry.version} has no sha256 in the lock yet (downloaded "
                f"{result.sha256[:12]}...); record it with 'iml4e bundle -o DIR --record-digests'"
            )
    return results


def _upstream_objects(settings: PlatformConfig, results: list[FetchResult]) -> list[tuple[str, list[Object]]]:
    from iml4e.installer.upstream import load_upstream_objects

    return [(result.entry.stage, load_upstream_objects(result)) for result in results]


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


def _install(settings: PlatformConfig, cluster: Any, dry_run: bool, json_output: bool) -> None:
    from iml4e.installer.install import run_install
    from iml4e.installer.render import render_platform
    from iml4e.installer.upstream import lock_for_profile

    rendering = render_platform(settings)
    results = _fetch_upstream(settings, lock_for_profile(settings.profile))
    report = run_install(
        cluster, settings, rendering, _upstream_objects(settings, results), _RichProgress(), dry_run=dry_run
    )
    if json_output:
        console.print_json(report.as_dict())
        return
    if dry_run:
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

    settings = load_platform_config(config, profile, kubeconfig, context)
    cluster = _connect(settings)
    checks = _run_doctor(settings, cluster)
    failed = [c for c in checks if c.status == "fail"]
    if failed and not skip_doctor:
        _print_checks(checks)
        raise Iml4eError(
            f"pre-flight checks failed: {', '.join(c.name for c in failed)}; fix them (see above) "
            "or pass --skip-doctor"
        )
    _install(settings, cluster, dry_run, json_output)


def upgrade(
    config: Path | None = CONFIG_OPTION,
    profile: str | None = PROFILE_OPTION,
    kubeconfig: str | None = KUBECONFIG_OPTION,
    context: str | None = CONTEXT_OPTION,
    yes: bool = YES_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Show the version-change plan, then (with --yes or on confirmation) apply it stage by stage."""
    from iml4e.installer.lifecycle import upgrade_plan

    settings = load_platform_config(config, profile, kubeconfig, context)
    cluster, settings = _connect_installed(settings, profile, "run 'iml4e install' first")
    plan = upgrade_plan(cluster)
    if json_output and not yes:
        console.print_json({"plan": plan, "applied": False})
        return
    if not plan:
        console.info("already at this release's versions; re-applying to fix any drift")
    else:
        console.print_table(
            "upgrade plan",
            ["component", "installed", "target"],
            [(p["component"], p["installed"], p["target"]) for p in plan],
        )
    if not yes and not typer.confirm("apply this plan?", default=False, err=True):
        console.info("nothing applied")
        return
    _install(settings, cluster, False, json_output)


def _stages_for_uninstall(settings: PlatformConfig) -> list[Stage]:
    from iml4e.installer.credentials import plan_secrets
    from iml4e.installer.install import plan_stages
    from iml4e.installer.render import render_platform
    from iml4e.installer.upstream import cached_manifest, fetch_entry, load_upstream_objects, lock_for_profile

    cache = _cache_dir(settings)
    upstream = []
    for entry in lock_for_profile(settings.profile):
        if cached_manifest(cache, entry) is None:
            console.warn(
                f"{entry.name} {entry.version} is not cached; its objects stay (run 'iml4e bundle' first)"
            )
            continue
        upstream.append((entry.stage, load_upstream_objects(fetch_entry(entry, cache))))
    # Only the names matter for deletion: a placeholder stands for every user-given Secret.
    placeholder = dict.fromkeys(("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "username", "password"), "-")
    secrets = plan_secrets(settings, lambda namespace, name: placeholder)
    return plan_stages(render_platform(settings), upstream, secrets)


def uninstall(
    config: Path | None = CONFIG_OPTION,
    kubeconfig: str | None = KUBECONFIG_OPTION,
    context: str | None = CONTEXT_OPTION,
    purge: bool = typer.Option(
        False, "--purge", help="Also delete volumes (PVCs), generated Secrets and CRDs."
    ),
    yes: bool = YES_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Remove everything the install created; keeps PersistentVolumeClaims unless --purge."""
    from iml4e.installer.lifecycle import uninstall as run_uninstall

    settings = load_platform_config(config, None, kubeconfig, context)
    cluster, settings = _connect_installed(settings, None, "nothing to uninstall")
    what = "everything including data volumes" if purge else "the platform (volumes are kept)"
    if not yes and not typer.confirm(
        f"remove {what} from '{cluster.info.context}'?", default=False, err=True
    ):
        console.info("nothing removed")
        return
    with console.err.status("uninstalling..."):
        result = run_uninstall(cluster, _stages_for_uninstall(settings), purge)
    if json_output:
        console.print_json(result)
        return
    console.info(f"removed {len(result['deleted'])} objects; kept {len(result['kept'])}")
    for kept in result["kept"]:
        console.info(f"  kept {kept}")


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
        False, "--record-digests", help="Write missing sha256 values into the lock."
    ),
    config: Path | None = CONFIG_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Download every upstream manifest and write the full image list, for air-gapped installs."""
    from iml4e.installer.config import PROFILES
    from iml4e.installer.render import containers, render_platform
    from iml4e.installer.upstream import read_lock, write_bundle
    from iml4e.installer.upstream import record_digests as write_digests

    settings = load_platform_config(config)
    results = _fetch_upstream(settings, read_lock())
    images = {
        str(container["image"])
        for profile in PROFILES
        for obj in render_platform(settings.with_profile(profile)).objects
        for container in containers(obj)
    }
    summary = write_bundle(results, images, output)
    if record_digests:
        summary["recorded_digests"] = write_digests(results)
    if json_output:
        console.print_json(summary)
        return
    console.info(
        f"bundle written to {output}: {summary['manifests']} manifests, {len(summary['images'])} images "
        f"(images.txt); install from it with upstream.bundle_dir: {output} in iml4e.yaml"
    )


def open_service(
    service: str = typer.Argument(..., help="mlflow | kfp | grafana | prometheus | alertmanager"),
    kubeconfig: str | None = KUBECONFIG_OPTION,
    context: str | None = CONTEXT_OPTION,
) -> None:
    """Port-forward a platform service to 127.0.0.1 and print its URL (Ctrl-C stops it)."""
    from iml4e.installer.access import resolve_target, start_port_forward

    target = resolve_target(service)
    process, url = start_port_forward(target, kubeconfig, context)
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


def show_cluster_status(json_output: bool) -> None:
    """`iml4e status --cluster`: health per component from workload conditions."""
    from iml4e.installer.lifecycle import cluster_status

    settings = load_platform_config()
    status = cluster_status(_connect(settings))
    if json_output:
        console.print_json(status)
        return
    if not status["installed"]:
        console.info(f"iml4e is not installed on context '{status['context']}'; run 'iml4e install'")
    console.print_table(
        f"iml4e on {status['context']} (profile {status['profile'] or '-'})",
        ["component", "health", "ready", "problems"],
        [
            (c["component"], "healthy" if c["healthy"] else "unhealthy", c["ready"], "\n".join(c["problems"]))
            for c in status["components"]
        ],
    )


def run_on_cluster_command(pipeline: str, pairs: list[str], json_output: bool) -> None:
    """`iml4e run PIPELINE --cluster`: compile, submit to the installed KFP and follow the run."""
    from iml4e.installer.cluster_runs import run_on_cluster

    settings = load_platform_config()
    _connect(settings)  # fail fast when the cluster is unreachable

    def on_state(state: str) -> None:
        console.info(f"  run state: {state}")

    result = run_on_cluster(pipeline, pairs, settings, on_state)
    if json_output:
        console.print_json(result.as_dict())
        return
    console.info(f"pipeline '{pipeline}' {result.state} on the cluster in {result.seconds:.0f} s")
    console.print_data(result.url)
