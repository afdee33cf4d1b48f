"""Commands to serve a model locally (KServe V1 and V2 protocols) and watch its inputs for drift."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer

from iml4e import console
from iml4e.cli.options import JSON_OPTION

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("monitor")(monitor)
    app.command("label")(label)


def serve(
    model_uri: str = typer.Argument(
        None, help="MLflow model URI: models:/name@alias, runs:/<id>/model or a path."
    ),
    name: str = typer.Option(None, "--name", help="Name in the endpoint paths (default: from the URI)."),
    port: int = typer.Option(
        None, "--port", help="Port (default: the previous one for this name, else a free one)."
    ),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to bind; loopback unless you mean to expose it."
    ),
    log_sample_rate: float = typer.Option(
        1.0, "--log-sample-rate", help="Share of requests logged for drift (0-1)."
    ),
    allow_model_control: bool = typer.Option(
        False,
        "--allow-model-control",
        help="Also serve KServe's unauthenticated model load/unload endpoints (off by default).",
    ),
    canary: str = typer.Option(
        None,
        "--canary",
        metavar="CANARY_URI",
        help="A second model that answers --canary-traffic percent of the requests, chosen by request id.",
    ),
    canary_traffic: float = typer.Option(
        None,
        "--canary-traffic",
        metavar="PERCENT",
        help="Percent of requests (0-100) the --canary answers (default 10).",
    ),
    detach: bool = typer.Option(False, "--detach", "-d", help="Return once ready; the server keeps running."),
    stop: str = typer.Option(
        None, "--stop", metavar="NAME", help="Stop the served model NAME (see 'iml4e status') instead."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Serve an MLflow model with the KServe protocols (V1 and Open Inference Protocol V2) on 127.0.0.1."""
    from iml4e.errors import UsageError
    from iml4e.local import platform, serving

    if stop is not None:
        if model_uri is not None:
            raise UsageError(f"'--stop {stop}' takes no model URI; run 'iml4e serve --stop {stop}'")
        _stop_served(serving.check_name(stop), json_output)
        return
    if not model_uri:
        raise UsageError("name a model URI to serve, e.g. 'iml4e serve models:/churn-classifier@champion'")
    served = serving.check_name(name or serving.default_name(model_uri))
    if host not in LOOPBACK:
        console.warn(f"binding {host}: anyone who can reach this machine can call the model")
    serving.check_serving_arguments(model_uri, served, log_sample_rate, canary, canary_traffic)
    tracking_uri = platform.tracking_uri_for_model(model_uri)
    if canary is not None and canary_traffic is None:
        canary_traffic = serving.DEFAULT_CANARY_TRAFFIC
    with _stop_signals_interrupt():
        try:
            with console.err.status(f"loading {model_uri} and starting its server..."):
                record = serving.serve_detached(
                    model_uri,
                    served,
                    port,
                    host=host,
                    log_sample_rate=log_sample_rate,
                    tracking_uri=tracking_uri,
                    allow_model_control=allow_model_control,
                    canary_uri=canary,
                    canary_traffic=canary_traffic or 0.0,
                )
        except KeyboardInterrupt:  # the half-started server is already stopped and its record gone
            console.info(f"stopped '{served}' before it was ready")
            if detach:
                raise
            return
        try:
            _show_served(record, served, json_output)
            if detach:
                return
            console.info("serving in the foreground; Ctrl-C stops it (or run with --detach)")
            _wait_while_running(record.pid)
        except KeyboardInterrupt:
            if detach:
                raise
            serving.stop_serving(served)
            console.info(f"stopped '{served}'")
            return
    from iml4e.errors import ServiceError

    raise ServiceError(f"the model server '{served}' exited; read its log {record.log}")


def _show_served(record: Any, served: str, json_output: bool) -> None:
    data = _served_data(record)
    if json_output:
        console.print_json(data)
        return
    console.print_table(
        f"serving {served}",
        ["what", "where"],
        [
            (k, data[k])
            for k in (
                "model_uri",
                "canary_uri",
                "canary_traffic",
                "v2",
                "v1",
                "metrics",
                "request_log",
                "log",
                "pid",
            )
            if data[k] not in ("", None) and not (k == "canary_traffic" and not data["canary_uri"])
        ],
    )


def _stop_served(served: str, json_output: bool) -> None:
    from iml4e.local import serving

    was_running = serving.stop_serving(served)
    if json_output:
        console.print_json({"name": served, "stopped": was_running})
    else:
        console.info(
            f"stopped '{served}'" if was_running else f"'{served}' was not running; removed its record"
        )


@contextmanager
def _stop_signals_interrupt() -> Iterator[None]:
    """SIGTERM (and SIGHUP) interrupt like Ctrl-C, so a foreground server is stopped, not orphaned."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers (and receives the signals)
        return
    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _served_data(record: Any) -> dict[str, Any]:
    extra = record.extra
    return {
        "name": extra.get("model_name"),
        "url": record.url,
        "pid": record.pid,
        "port": record.port,
        "host": record.host,
        "model_uri": extra.get("model_uri"),
        "canary_uri": extra.get("canary_uri") or None,
        "canary_traffic": float(extra.get("canary_traffic", 0.0)) if extra.get("canary_uri") else 0.0,
        "v1": extra.get("v1"),
        "v2": extra.get("v2"),
        "metrics": extra.get("metrics"),
        "request_log": record.data_dir,
        "log": record.log,
    }


def _wait_while_running(pid: int) -> None:
    from iml4e.local import processes

    while processes.is_alive(pid):
        time.sleep(1.0)


def monitor(
    model_uri: str = typer.Argument(
        ..., help="The served model's URI (its name comes from it, or give --name)."
    ),
    name: str = typer.Option(
        None, "--name", help="Served name whose request log to read (default: from the URI)."
    ),
    reference: str = typer.Option(
        ..., "--reference", help="Reference data: a CSV/Parquet path, s3://bucket/key or sample:churn."
    ),
    window: str = typer.Option(
        "all", "--window", help="Only requests this recent: 30m, 6h, 1d ... or 'all'."
    ),
    once: bool = typer.Option(
        False, "--once", help="Check once and exit (default: every --interval seconds)."
    ),
    interval: float = typer.Option(300.0, "--interval", help="Seconds between checks when not --once."),
    metrics_port: int = typer.Option(
        None, "--metrics-port", help="Also expose the gauges at 127.0.0.1:PORT/metrics."
    ),
    on_drift: str = typer.Option(
        None, "--on-drift", help="Pipeline to run when the dataset drifts, e.g. continuous_training."
    ),
    on_drift_param: list[str] = typer.Option(
        [], "--on-drift-param", help="Parameter for the --on-drift pipeline as key=value (repeatable)."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Compare a served model's logged inputs with reference data (Evidently): HTML report + Prometheus gauges."""
    from iml4e.errors import UsageError
    from iml4e.local import serving
    from iml4e.local.state import ensure_writable_state_dir
    from iml4e.paths import state_dir
    from iml4e_components.datasets.core import load_table
    from iml4e_components.monitoring.core import check_drift, monitoring_dir, parse_window
    from iml4e_components.monitoring.prometheus import DriftGauges
    from iml4e_components.output_files import check_output_path
    from iml4e_components.serving.log_store import request_log_store

    served = serving.check_name(name or serving.default_name(model_uri))
    check_output_path(
        monitoring_dir(ensure_writable_state_dir(), served) / "latest.json",
        "drift report",
        create_parent=True,
    )
    window_seconds = parse_window(window)
    if interval <= 0:
        raise UsageError(f"--interval {interval} must be positive; use e.g. 300 for every five minutes")
    if on_drift:
        from iml4e.pipeline_selection import parse_parameters, resolve_pipeline

        parse_parameters(resolve_pipeline(on_drift)[1], on_drift_param)  # fail before any work
    reference_data = load_table(reference)
    store = request_log_store(state_dir())
    gauges = DriftGauges()
    if metrics_port is not None:
        from iml4e.local import processes

        processes.require_free_port(metrics_port, "127.0.0.1", "the drift metrics endpoint")
        gauges.serve(metrics_port)
        console.info(f"drift gauges at http://127.0.0.1:{metrics_port}/metrics")
    while True:
        with console.err.status(f"checking drift of '{served}'..."):
            check = check_drift(state_dir(), served, reference_data, window_seconds, gauges, store=store)
        _report_check(check.as_dict(), json_output)
        if on_drift and check.result.dataset_drift:
            from iml4e.cli.local_commands import run_with_progress

            console.info(f"the inputs of '{served}' drifted: running pipeline '{on_drift}'")
            run_with_progress(on_drift, on_drift_param)
        if once:
            return
        time.sleep(interval)


def _report_check(data: dict[str, Any], json_output: bool) -> None:
    if json_output:
        console.print_json(data)
        return
    verdict = "DRIFT" if data["dataset_drift"] else "no drift"
    console.print_table(
        f"{data['model']}: {verdict} ({data['drift_share']:.0%} of features drifted, {data['rows_compared']} rows)",
        ["feature", "method", "score", "p-value", "drifted"],
        [
            (
                name,
                f["method"],
                f"{f['score']:.4g}",
                "" if f["p_value"] is None else f"{f['p_value']:.4g}",
                "yes" if f["drifted"] else "no",
            )
            for name, f in data["features"].items()
        ],
    )
    console.info(f"report: {data['report']}  gauges: {data['metrics_file']}")
    from iml4e_components.monitoring.quality import f1_name

    quality = data.get("quality")
    if quality is not None:
        console.info(
            f"quality on {quality['labeled_rows']} labeled rows: accuracy {quality['accuracy']:.3f}, "
            f"{f1_name(quality)} {quality['f1']:.3f}"
            + (f"  report: {data['quality_report']}" if data.get("quality_report") else "")
        )


def label(
    model_uri: str = typer.Argument(
        ..., help="The served model's URI (its name comes from it, or give --name)."
    ),
    labels: str = typer.Option(
        ..., "--labels", help="CSV with columns request_id,label[,row]: ground truth for served requests."
    ),
    name: str = typer.Option(
        None, "--name", help="Served name the labels belong to (default: from the URI)."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Record ground-truth labels of served requests; `iml4e monitor` then reports the model's quality."""
    from iml4e.local import serving
    from iml4e.local.state import ensure_writable_state_dir
    from iml4e_components.monitoring.quality import label_lines_from_csv
    from iml4e_components.serving.log_store import request_log_store

    served = serving.check_name(name or serving.default_name(model_uri))
    lines = label_lines_from_csv(labels)
    store = request_log_store(ensure_writable_state_dir())
    assert store is not None  # a state directory always exists locally
    where = store.add_labels(served, lines)
    count = lines.count(b"\n")
    if json_output:
        console.print_json({"name": served, "labels": count, "stored": where})
    else:
        console.info(f"stored {count} labels for '{served}' in {where}")
