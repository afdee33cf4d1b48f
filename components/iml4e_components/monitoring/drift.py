"""Data drift between a reference table and a window of served inputs, with Evidently 0.7.

Evidently chooses the test per column (Kolmogorov-Smirnov, chi-square or Z-test p-values on small
data; Wasserstein or Jensen-Shannon distances above 1,000 rows). `compute_drift` keeps its
answer in a small typed result that the HTML report, the JSON output and the Prometheus gauges
all read from.
"""

from __future__ import annotations

import html
import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from iml4e_components.errors import ComponentError
from iml4e_components.output_files import write_atomically

#: Share of drifted columns from which the whole dataset counts as drifted (Evidently's default).
DEFAULT_DRIFT_SHARE = 0.5
#: Below this many rows on either side, drift uses hypothesis tests with p-values, not distances.
SMALL_SAMPLE_ROWS = 1_000
#: Evidently test names (as given, not as it describes them) whose score is a p-value.
_P_VALUE_TESTS = frozenset(
    {"ks", "chisquare", "z", "t_test", "mannw", "anderson", "cramer_von_mises", "g_test", "es"}
)
#: Rows above which each side is sampled (seeded, uniformly) before the tests run.
DEFAULT_MAX_ROWS = 100_000


@dataclass(frozen=True)
class FeatureDrift:
    """Drift of one column: the test's score, its p-value when the test gives one, the verdict."""

    column: str
    method: str
    score: float
    threshold: float
    p_value: float | None
    drifted: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "method": self.method,
            "score": self.score,
            "threshold": self.threshold,
            "p_value": self.p_value,
            "drifted": self.drifted,
        }


@dataclass
class DriftResult:
    """What one drift run found; `snapshot` is Evidently's report, kept for the HTML."""

    dataset_drift: bool
    drift_share: float
    drift_share_threshold: float
    features: dict[str, FeatureDrift]
    rows_compared: int
    reference_rows: int
    rows_tested: int
    snapshot: Any = field(default=None, repr=False)

    @property
    def drifted_features(self) -> list[str]:
        return [name for name, feature in self.features.items() if feature.drifted]

    def as_dict(self) -> dict[str, Any]:
        return {
            "dataset_drift": self.dataset_drift,
            "drift_share": self.drift_share,
            "drift_share_threshold": self.drift_share_threshold,
            "drifted_features": self.drifted_features,
            "rows_compared": self.rows_compared,
            "reference_rows": self.reference_rows,
            "rows_tested": self.rows_tested,
            "features": {name: feature.as_dict() for name, feature in self.features.items()},
        }

    def write_html(self, path: str | Path, title: str = "", facts: dict[str, str] | None = None) -> Path:
        """Write Evidently's HTML report to `path` atomically (temporary file, then rename), headed by
        `title` and `facts` (see save_report_html)."""
        if self.snapshot is None:
            raise ComponentError("this drift result holds no Evidently report; compute it with compute_drift")
        return save_report_html(self.snapshot, path, title, facts)


def save_report_html(
    snapshot: Any, path: str | Path, title: str = "", facts: dict[str, str] | None = None
) -> Path:
    """Write an Evidently snapshot's HTML to `path` atomically (temporary file, then rename).

    Evidently's page has no <title> and says nothing of what it compares: `title` becomes the page's
    <title> and a heading above Evidently's content, `facts` a line of `key: value` under it."""
    target = Path(path)

    def write(tmp: Path) -> None:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            snapshot.save_html(str(tmp))
        if title or facts:
            tmp.write_text(
                _with_header(tmp.read_text(encoding="utf-8"), title, facts or {}), encoding="utf-8"
            )

    write_atomically(target, write, "report", create_parent=True)
    return target


def _with_header(page: str, title: str, facts: dict[str, str]) -> str:
    """`page` with `title` as its <title> and a header (title, facts) at the top of its body."""
    escaped = html.escape(title)
    listed = " &middot; ".join(f"<b>{html.escape(k)}</b>: {html.escape(v)}" for k, v in facts.items())
    header = (
        '<header style="font-family:sans-serif;margin:1rem 2rem;color:#223">'
        + (f'<h1 style="font-size:1.4rem;margin:0 0 .3rem">{escaped}</h1>' if title else "")
        + (f'<p style="margin:0">{listed}</p>' if listed else "")
        + "</header>"
    )
    page = re.sub(r"<head>", lambda m: f"{m.group(0)}<title>{escaped}</title>", page, count=1)
    return re.sub(r"<body[^>]*>", lambda m: m.group(0) + header, page, count=1)


def compute_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: list[str] | None = None,
    drift_share: float = DEFAULT_DRIFT_SHARE,
    max_rows: int | None = DEFAULT_MAX_ROWS,
    seed: int = 0,
) -> DriftResult:
    """Compare `current` with `reference` column by column.

    `columns` defaults to the columns both tables share. Tables longer than `max_rows` are
    sampled uniformly (seeded) to `max_rows` rows first: the tests' answers barely move, the
    time drops by an order of magnitude on million-row windows. `max_rows=None` uses every row.
    """
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    chosen = _drift_columns(reference, current, columns)
    if not 0.0 < drift_share <= 1.0:
        raise ComponentError(f"drift_share must be in (0, 1], got {drift_share}")
    reference_sample = _sample(reference[chosen], max_rows, seed)
    current_sample = _sample(current[chosen], max_rows, seed + 1)
    numerical = [c for c in chosen if _is_numerical(reference[c]) and _is_numerical(current[c])]
    categorical = [c for c in chosen if c not in numerical]
    definition = DataDefinition(numerical_columns=numerical, categorical_columns=categorical)
    # Evidently picks distances (Wasserstein, Jensen-Shannon) when the reference exceeds 1,000 rows;
    # on a small window of served requests they are noisy and overstate drift, so keep the
    # hypothesis tests (p-values) until both sides are large.
    small = min(len(reference_sample), len(current_sample)) <= SMALL_SAMPLE_ROWS
    tests: dict[str, str] = {"num_method": "ks", "cat_method": "chisquare"} if small else {}
    report = Report([DataDriftPreset(drift_share=drift_share, **tests)])
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # constant columns: correlation plots divide by zero
        snapshot = report.run(
            current_data=Dataset.from_pandas(
                _as_evidently_frame(current_sample, categorical), data_definition=definition
            ),
            reference_data=Dataset.from_pandas(
                _as_evidently_frame(reference_sample, categorical), data_definition=definition
            ),
        )
    features = _features_from(snapshot.dict())
    missing = [c for c in chosen if c not in features]
    if missing:
        raise ComponentError(f"Evidently returned no drift result for columns {missing}; check their values")
    ordered = {c: features[c] for c in chosen}
    share = sum(f.drifted for f in ordered.values()) / len(ordered)
    return DriftResult(
        dataset_drift=share >= drift_share,
        drift_share=share,
        drift_share_threshold=drift_share,
        features=ordered,
        rows_compared=len(current),
        reference_rows=len(reference),
        rows_tested=len(current_sample),
        snapshot=snapshot,
    )


def _drift_columns(reference: pd.DataFrame, current: pd.DataFrame, columns: list[str] | None) -> list[str]:
    if columns is None:
        chosen = [c for c in reference.columns if c in current.columns]
        if not chosen:
            raise ComponentError(
                "the reference and current tables share no column; pass tables with the model's input columns"
            )
    else:
        chosen = list(columns)
        if not chosen:
            raise ComponentError(
                "columns is empty; name at least one column to compare, or pass None for all"
            )
        for side, frame in (("reference", reference), ("current", current)):
            absent = [c for c in chosen if c not in frame.columns]
            if absent:
                raise ComponentError(
                    f"the {side} table lacks columns {absent}; it has {list(frame.columns)[:20]}"
                )
    for side, frame in (("reference", reference), ("current", current)):
        if len(frame) < 2:
            raise ComponentError(
                f"the {side} table has {len(frame)} rows; drift needs at least 2 rows on each side"
                + ("; serve more requests or widen --window" if side == "current" else "")
            )
    return [str(c) for c in chosen]


def _sample(frame: pd.DataFrame, max_rows: int | None, seed: int) -> pd.DataFrame:
    if max_rows is None or len(frame) <= max_rows:
        return frame.reset_index(drop=True)
    rows = np.random.default_rng(seed).choice(len(frame), size=max_rows, replace=False)
    rows.sort()
    return frame.iloc[rows].reset_index(drop=True)


def _is_numerical(series: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(series)) and not pd.api.types.is_bool_dtype(series)


def _as_evidently_frame(frame: pd.DataFrame, categorical: list[str]) -> pd.DataFrame:
    """Categorical columns as strings, so a column typed differently on each side still compares."""
    if not categorical:
        return frame
    return frame.assign(**{c: frame[c].astype("string") for c in categorical})


def _features_from(report: dict[str, Any]) -> dict[str, FeatureDrift]:
    features: dict[str, FeatureDrift] = {}
    for metric in report.get("metrics", []):
        config = metric.get("config", {})
        if not str(config.get("type", "")).endswith("ValueDrift"):
            continue
        column = str(config["column"])
        method = str(config.get("method", ""))
        threshold = float(config.get("threshold", 0.0))
        score = float(metric["value"])
        is_p_value = "p_value" in method or method in _P_VALUE_TESTS
        drifted = score < threshold if is_p_value else score >= threshold
        features[column] = FeatureDrift(
            column=column,
            method=method,
            score=score if math.isfinite(score) else 0.0,
            threshold=threshold,
            p_value=score if is_p_value else None,
            drifted=bool(drifted),
        )
    return features
