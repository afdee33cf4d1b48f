"""`iml4e rollout status|promote|rollback|watch NAME`: canary rollouts of a locally served model, and
(`status|promote|rollback NAME --cluster`) of a KServe InferenceService on the cluster."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from iml4e import console
from iml4e.cli.options import CONFIG_OPTION, CONTEXT_OPTION, JSON_OPTION, KUBECONFIG_OPTION

rollout_app = typer.Typer(
    help="Canary rollouts of a served model: see the split, promote or roll back the canary, or let "
    "'watch' decide from errors, latency and labelled quality.",
    no_args_is_help=True,
)
NAME_ARGUMENT = typer.Argument(
    ..., help="The served model's name (iml4e serve ... --name NAME); with --cluster, the InferenceService's."
)
CLUSTER_OPTION = typer.Option(
    False, "--cluster", help="The InferenceService NAME on the cluster (KServe) instead of the local server."
)
NAMESPACE_OPTION = typer.Option(
    None,
    "--namespace",
    "-n",
    help="With --cluster: the InferenceService's namespace (default: iml4e-serving).",
)
TRACKING_URI_OPTION = typer.Option(
    None,
    "--tracking-uri",
    help="With --cluster: the cluster's MLflow, reachable from here (default: services.mlflow.uri in "
    "external mode); the aliases move only when it is known.",
)


def register(app: typer.Typer) -> None:
    app.add_typer(rollout_app, name="rollout")


@rollout_app.command("status")
def status(
    name: str = NAME_ARGUMENT,
    cluster: bool = CLUSTER_OPTION,
    namespace: str | None = NAMESPACE_OPTION,
    config: Path | None = CONFIG_OPTION,
    kubeconfig: str | None = KUBECONFIG_OPTION,
    context: str | None = CONTEXT_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Show what NAME serves: the primary, the canary and the canary's share of the requests."""
    if cluster:
        _cluster_status(name, namespace, config, kubeconfig, context, json_output)
        return
    _local_only(namespace=namespace, config=config, kubeconfig=kubeconfig, context=context)
    from iml4e.local import rollout, serving

    data = rollout.rollout_status(serving.check_name(name))
    if json_output:
        console.print_json(data)
        return
    console.print_table(
        f"rollout of {name}",
        ["variant", "model", "version", "share"],
        _variant_rows(data),
    )
    if data.get("error"):
        console.warn(f"the last change was not applied: {data['error']}")


def _change_command(action: str) -> Callable[..., None]:
    """`promote` or `rollback`: one signature, on the cluster (--cluster) or on the local server."""

    def change(
        name: str = NAME_ARGUMENT,
        cluster: bool = CLUSTER_OPTION,
        namespace: str | None = NAMESPACE_OPTION,
        tracking_uri: str | None = TRACKING_URI_OPTION,
        config: Path | None = CONFIG_OPTION,
        kubeconfig: str | None = KUBECONFIG_OPTION,
        context: str | None = CONTEXT_OPTION,
        json_output: bool = JSON_OPTION,
    ) -> None:
        if cluster:
            _cluster_change(name, action, namespace, tracking_uri, config, kubeconfig, context, json_output)
            return
        _local_only(
            namespace=namespace,
            tracking_uri=tracking_uri,
            config=config,
            kubeconfig=kubeconfig,
            context=context,
        )
        from iml4e.local import rollout, serving

        served = serving.check_name(name)
        if action == "promote":
            data = rollout.promote(served)
            message = f"promoted the canary of '{name}': {data['promoted']['model_uri']}"
        else:
            data = rollout.rollback(served)
            message = f"rolled back the canary of '{name}': {data['rolled_back']['model_uri']}"
        _report_change(data, message, json_output)

    return change


rollout_app.command(
    "promote", help="Make the canary the primary for every request; MLflow's champion alias moves to it."
)(_change_command("promote"))
rollout_app.command(
    "rollback", help="Send every request to the primary again; the canary's challenger alias is cleared."
)(_change_command("rollback"))


def _local_only(**cluster_options: str | Path | None) -> None:
    """Options of the cluster target given without --cluster: say so instead of ignoring them."""
    from iml4e.errors import UsageError

    given = [f"--{key.replace('_', '-')}" for key, value in cluster_options.items() if value]
    if given:
        what = f"option {given[0]} needs" if len(given) == 1 else f"options {', '.join(given)} need"
        them = "it" if len(given) == 1 else "them"
        raise UsageError(f"{what} --cluster (the cluster target); add --cluster or leave {them} out")


def _cluster_api(config: Path | None, kubeconfig: str | None, context: str | None) -> tuple[Any, Any, str]:
    """(CustomObjectsApi, PlatformConfig, context name); an unreachable cluster is bad input here
    (exit 2): the fix is the context or the kubeconfig the command was given."""
    from iml4e.cli.cluster_commands import _connect, load_platform_config
    from iml4e.errors import ServiceError, UsageError

    settings = load_platform_config(config, None, kubeconfig, context)
    try:
        cluster = _connect(settings)
    except ServiceError as exc:
        raise UsageError(str(exc)) from None
    return cluster.custom_objects(), settings, cluster.info.context


def _cluster_status(
    name: str,
    namespace: str | None,
    config: Path | None,
    kubeconfig: str | None,
    context: str | None,
    json_output: bool,
) -> None:
    from iml4e.installer.cluster_rollout import rollout_status
    from iml4e_components.conventions import SERVING_NAMESPACE

    api, _, context_name = _cluster_api(config, kubeconfig, context)
    data = {"context": context_name, **rollout_status(api, name, namespace or SERVING_NAMESPACE)}
    if json_output:
        console.print_json(data)
        return
    console.print_table(
        f"rollout of InferenceService {data['namespace']}/{name} on {context_name}",
        ["variant", "predictor", "model", "storage", "version", "share", "ready"],
        [
            (
                v["variant"],
                v["predictor"],
                v["model_uri"],
                v["storage_uri"],
                v["version"],
                f"{v['traffic']}%",
                {True: "yes", False: "no", None: "unknown"}[v["ready"]],
            )
            for v in data["variants"]
        ],
    )
    if data["ready"] is False:
        console.warn(f"InferenceService {data['namespace']}/{name} is not Ready: {data['ready_reason']}")


def _cluster_change(
    name: str,
    action: str,
    namespace: str | None,
    tracking_uri: str | None,
    config: Path | None,
    kubeconfig: str | None,
    context: str | None,
    json_output: bool,
) -> None:
    from iml4e.installer.cluster_rollout import change_rollout, cluster_tracking_uri
    from iml4e_components.conventions import SERVING_NAMESPACE

    api, settings, context_name = _cluster_api(config, kubeconfig, context)
    uri, unknown_why = cluster_tracking_uri(settings, tracking_uri)
    data = {
        "context": context_name,
        **change_rollout(api, name, namespace or SERVING_NAMESPACE, action, uri, unknown_why),
    }
    if json_output:
        console.print_json(data)
        return
    changed = data["promoted" if action == "promote" else "rolled_back"]
    verb = "promoted" if action == "promote" else "rolled back"
    console.info(
        f"{verb} the canary of InferenceService {data['namespace']}/{name} on {context_name}: "
        f"{changed['model_uri'] or changed['storage_uri']}"
    )
    registry = data["registry"]
    if registry["moved"]:
        what = f"now on version {registry['version']}" if action == "promote" else "cleared"
        console.info(
            f"MLflow alias '{registry['alias']}' of {registry['model']} {what} ({registry['tracking_uri']})"
        )
    else:
        console.warn(f"MLflow alias '{registry['alias']}' not moved: {registry['reason']}")


@rollout_app.command("watch")
def watch(
    name: str = NAME_ARGUMENT,
    cluster: bool = CLUSTER_OPTION,
    namespace: str | None = NAMESPACE_OPTION,
    tracking_uri: str | None = TRACKING_URI_OPTION,
    config: Path | None = CONFIG_OPTION,
    kubeconfig: str | None = KUBECONFIG_OPTION,
    context: str | None = CONTEXT_OPTION,
    dry_run: bool = typer.Option(False, "--dry-run", help="Decide and record, but leave the split as it is."),
    timeout: float = typer.Option(
        None,
        "--timeout",
        help="Give up (exit 1, split unchanged) after this many seconds without a decision.",
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Compare the canary with the primary on live traffic (thresholds: rollout.* in iml4e.yaml) and
    roll it back at the first breach, or promote it after rollout.promote_after_seconds without one.
    With --cluster: the InferenceService's canary, judged on the request log its model servers write
    to the object store (AWS_ENDPOINT_URL and the keys from the environment)."""
    from iml4e.cli.cluster_commands import load_platform_config
    from iml4e_components.rollout.analysis import Decision

    last: list[str] = []

    def progress(decision: Decision) -> None:
        line = _progress_line(decision)
        if line != (last[0] if last else None):
            spinner.update(line)
            last[:] = [line]

    if cluster:
        from iml4e.installer.cluster_rollout import cluster_tracking_uri, watch_rollout
        from iml4e_components.conventions import SERVING_NAMESPACE

        api, settings, context_name = _cluster_api(config, kubeconfig, context)
        uri, unknown_why = cluster_tracking_uri(settings, tracking_uri)
        where = namespace or SERVING_NAMESPACE
        subject = f"InferenceService {where}/{name} on {context_name}"
        with console.err.status(f"watching the canary of {subject}...") as spinner:
            result = {
                "context": context_name,
                **watch_rollout(api, name, where, settings, uri, unknown_why, not dry_run, progress, timeout),
            }
        model = result["canary"]["model_uri"] or result["canary"]["storage_uri"]
    else:
        _local_only(namespace=namespace, tracking_uri=tracking_uri, kubeconfig=kubeconfig, context=context)
        from iml4e.local import rollout, serving

        served = serving.check_name(name)
        rollout_settings = load_platform_config(config).rollout
        subject = f"'{served}'"
        with console.err.status(f"watching the canary of {subject}...") as spinner:
            result = rollout.watch(
                served,
                rollout_settings.thresholds(),
                rollout_settings.interval_seconds,
                progress,
                act=not dry_run,
                timeout=timeout,
            )
        model = result["canary"]["model_uri"]
    if json_output:
        console.print_json(result)
        return
    verb = {"rollback": "rolled back", "promote": "promoted"}[result["action"]]
    console.info(
        f"{verb if not dry_run else 'would have ' + verb} the canary of {subject} "
        f"({model}) after {result['watched_seconds']:.1f} s: " + "; ".join(result["reasons"])
    )
    console.print_table(
        "figures that decided it",
        ["variant", "requests", "5xx ratio", "4xx ratio", "p99 ms", "labelled", "accuracy", "macro F1"],
        [
            (
                variant,
                f["requests"],
                _ratio(f["error_ratio"]),
                _ratio(f["malformed_ratio"]),
                _number(f["p99_latency_ms"]),
                f["labelled_rows"],
                _ratio(f["accuracy"]),
                _ratio(f["f1_macro"]),
            )
            for variant, f in result["figures"].items()
        ],
    )
    registry = result.get("registry")
    if registry and not registry["moved"]:
        console.warn(f"MLflow alias '{registry['alias']}' not moved: {registry['reason']}")


def _progress_line(decision: Any) -> str:
    canary = decision.figures["canary"]
    primary = decision.figures["primary"]
    return (
        f"{decision.action}: {decision.reasons[0]} "
        f"(canary {canary.requests} requests, primary {primary.requests}, {decision.watched_seconds:.0f} s)"
    )


def _ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def _variant_rows(data: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    share = float(data.get("canary_traffic") or 0.0)
    rows = []
    for variant, percent in (("primary", 100.0 - share), ("canary", share)):
        served = data.get(variant)
        if served:
            rows.append(
                (variant, str(served["model_uri"]), str(served.get("version") or ""), f"{percent:g}%")
            )
    return rows


def _report_change(data: dict[str, Any], message: str, json_output: bool) -> None:
    if json_output:
        console.print_json(data)
    else:
        console.info(message)
