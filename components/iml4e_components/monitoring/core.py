"""One check of a served model: its request log against reference data -> drift report, JSON, gauges;
and, once labels for logged requests have arrived, the model's classification quality on them."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from iml4e_components.errors import ComponentError
from iml4e_components.monitoring.drift import DriftResult, compute_drift
from iml4e_components.monitoring.prometheus import DriftGauges
from iml4e_components.monitoring.quality import QualityResult, compute_quality, labels_from_lines
from iml4e_components.output_files import write_text_atomically
from iml4e_components.serving.log_store import LocalLogStore, LogStore
from iml4e_components.serving.request_log import LOG_COLUMNS

_WINDOW = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass(frozen=True)
class DriftCheck:
    model: str
    result: DriftResult
    report: Path
    summary: Path
    metrics_file: Path
    window_seconds: float | None
    quality: QualityResult | None = None
    quality_report: Path | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "report": str(self.report),
            "summary": str(self.summary),
            "metrics_file": str(self.metrics_file),
            "window_seconds": self.window_seconds,
            **self.result.as_dict(),
            "quality": None if self.quality is None else self.quality.as_dict(),
            "quality_report": None if self.quality_report is None else str(self.quality_report),
        }


def parse_window(window: str | None) -> float | None:
    """'90s', '30m', '6h', '1d', '2w' -> seconds; None or 'all' -> None (the whole log)."""
    if window is None or window.strip().lower() in ("", "all"):
        return None
    match = _WINDOW.match(window.strip().lower())
    if not match or float(match.group(1)) <= 0:
        raise ComponentError(
            f"window '{window}' is not a duration; use a number with s, m, h, d or w, e.g. 1h, or 'all'"
        )
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def _target_name(reference: pd.DataFrame, logged: pd.DataFrame) -> str:
    """The reference's one column that no request carries (the target), else "label"."""
    missing = [c for c in reference.columns if c not in logged.columns]
    return str(missing[0]) if len(missing) == 1 else "label"


def monitoring_dir(state_dir: str | Path, model: str) -> Path:
    return Path(state_dir) / "monitoring" / model


def check_drift(
    state_dir: str | Path,
    model: str,
    reference: pd.DataFrame,
    window_seconds: float | None = None,
    gauges: DriftGauges | None = None,
    now: float | None = None,
    store: LogStore | None = None,
    target: str = "",
) -> DriftCheck:
    """Compare `model`'s logged inputs (within the window) with `reference`; write the report and the gauges.

    The logged inputs come from `store` (default: the request log under `state_dir`); the
    report, `latest.json` and `drift.prom` go under `state_dir` either way. `target` names the
    labels in the quality report (default: the one reference column that requests never carry).
    """
    now = time.time() if now is None else now
    since = now - window_seconds if window_seconds is not None else None
    store = store if store is not None else LocalLogStore(Path(state_dir))
    logged = store.read_requests(model, since=since, now=now)
    if len(logged) < 2:
        raise ComponentError(
            f"only {len(logged)} logged rows for '{model}' in the window; send more requests or widen --window"
        )
    columns = [c for c in logged.columns if c not in LOG_COLUMNS and c in reference.columns]
    if not columns:
        raise ComponentError(
            f"the reference data shares no column with the inputs logged for '{model}'; "
            "pass the model's training data as the reference"
        )
    result = compute_drift(reference, logged, columns)
    quality = compute_quality(
        logged, labels_from_lines(store.label_lines(model)), target or _target_name(reference, logged)
    )
    folder = monitoring_dir(state_dir, model)
    stamp = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    checked_at = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    window = "all logged requests" if window_seconds is None else f"the last {window_seconds:g} s"
    report = result.write_html(
        folder / f"drift-{stamp}.html",
        f"Data drift of {model}",
        {
            "model": model,
            "window": window,
            "current rows": f"{result.rows_compared} logged",
            "reference rows": str(result.reference_rows),
            "columns drifted": f"{len(result.drifted_features)} of {len(result.features)}",
            "checked": checked_at,
        },
    )
    quality_report = (
        quality.write_html(
            folder / f"quality-{stamp}.html",
            f"Classification quality of {model}",
            {
                "model": model,
                "window": window,
                "labeled rows": str(quality.labeled_rows),
                "accuracy": f"{quality.accuracy:.3f}",
                quality.f1_name: f"{quality.f1:.3f}",
                "checked": checked_at,
            },
        )
        if quality is not None and quality.snapshot is not None
        else None
    )
    gauges = gauges or DriftGauges()
    gauges.update(model, result, finished_at=time.time())
    if quality is not None:
        gauges.update_quality(model, quality)
    check = DriftCheck(
        model,
        result,
        report,
        folder / "latest.json",
        folder / "drift.prom",
        window_seconds,
        quality,
        quality_report,
    )
    _write_atomic(check.summary, json.dumps({"finished_at": now, **check.as_dict()}, indent=2))
    gauges.write_textfile(check.metrics_file)
    return check


def _write_atomic(path: Path, text: str) -> None:
    write_text_atomically(path, text + "\n", create_parent=True)


def parse_watch(items: list[str]) -> dict[str, str]:
    """['churn=s3://iml4e/ref/churn.csv', ...] -> {'churn': 's3://iml4e/ref/churn.csv', ...}."""
    watched: dict[str, str] = {}
    for item in items:
        name, sep, reference = item.partition("=")
        if not sep or not name.strip() or not reference.strip():
            raise ComponentError(
                f"--watch '{item}' is not NAME=REFERENCE; use e.g. --watch churn=s3://iml4e/reference/churn.csv"
            )
        if name.strip() in watched:
            raise ComponentError(f"--watch names model '{name.strip()}' twice; give each model once")
        watched[name.strip()] = reference.strip()
    if not watched:
        raise ComponentError("no model to monitor; give --watch NAME=REFERENCE at least once")
    return watched


def monitor_round(
    state_dir: str | Path,
    watched: dict[str, str],
    references: dict[str, pd.DataFrame],
    window_seconds: float | None,
    gauges: DriftGauges,
    store: LogStore | None,
    on_error: Callable[[str, ComponentError], None],
) -> list[DriftCheck]:
    """One drift check of every watched model; a model that fails is reported through `on_error`
    (its gauges keep their last values, so the stale-monitor alert notices) and the others go on."""
    from iml4e_components.datasets.core import load_table

    checks: list[DriftCheck] = []
    for model, reference in watched.items():
        try:
            if model not in references:
                references[model] = load_table(reference)
            checks.append(
                check_drift(state_dir, model, references[model], window_seconds, gauges, store=store)
            )
        except ComponentError as exc:
            on_error(model, exc)
    return checks
