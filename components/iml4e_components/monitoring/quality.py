"""Late labels: ground truth for served requests, and the model's classification quality on them.

Labels arrive after the predictions, as a CSV with the columns `request_id` (the `x-request-id`
the server answered with, also V2's `id`), `label`, and optionally `row` (the row's position
within a multi-row request, 0 when absent) and `variant` (primary or canary, checked; the request log
already knows which variant answered). They are kept next to the request log as JSON lines
(`{"request_id": ..., "row": ..., "label": ...}`); a later label for the same request row wins.
The monitor joins them with the logged predictions and reports accuracy and macro precision,
recall and F1 (scikit-learn), and an Evidently classification report.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from iml4e_components.csv_files import check_rectangular_csv
from iml4e_components.errors import ComponentError
from iml4e_components.monitoring.drift import save_report_html
from iml4e_components.serving.request_log import PREDICTION_COLUMN, REQUEST_ID_COLUMN, REQUEST_ROW_COLUMN

LABEL_COLUMN = "label"
#: Optional label-file column: the variant (primary | canary) that answered, as its x-iml4e-variant said.
VARIANT_COLUMN = "variant"
_TARGET, _PREDICTED = "target", "prediction"
#: The largest row index a label may name (a row of one request's batch; far above any real batch).
MAX_REQUEST_ROW = 1_000_000_000


def label_lines_from_csv(path: str | Path) -> bytes:
    """Check a label CSV (request_id, label[, row]) and encode it as JSON lines."""
    source = Path(path)
    if not source.is_file():
        raise ComponentError(
            f"label file {source} does not exist; give a CSV with columns request_id,label[,row]"
        )
    check_rectangular_csv(source, "label file")
    try:
        table = pd.read_csv(
            source,
            dtype={"request_id": "string", "label": "string"},
            keep_default_na=False,
            index_col=False,
            encoding="utf-8",
        )
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ComponentError(
            f"{source} is not a readable CSV ({reason}); save it as CSV with a header"
        ) from None
    missing = [c for c in ("request_id", LABEL_COLUMN) if c not in table.columns]
    if missing:
        raise ComponentError(
            f"{source} lacks columns {missing}; it needs request_id,label (and optionally row), "
            f"it has {list(table.columns)[:10]}"
        )
    extra = [c for c in table.columns if c not in ("request_id", LABEL_COLUMN, "row", VARIANT_COLUMN)]
    if extra:
        raise ComponentError(
            f"{source} has unknown columns {extra}; keep request_id, label, row and variant only"
        )
    if VARIANT_COLUMN in table.columns:
        unknown = sorted(set(table[VARIANT_COLUMN].astype(str)) - {"primary", "canary"})
        if unknown:
            raise ComponentError(
                f"{source} names unknown variants {unknown[:5]}; a served request's variant is primary or canary"
            )
    if table.empty:
        raise ComponentError(f"{source} holds no labels; add one line per labeled request")
    rows = table["row"] if "row" in table.columns else pd.Series(0, index=table.index)
    numeric = pd.to_numeric(rows, errors="coerce")
    wrong = numeric.isna() | (numeric < 0) | (numeric > MAX_REQUEST_ROW) | (numeric % 1 != 0)
    bad = [int(i) + 2 for i in table.index[wrong]]
    if bad:
        raise ComponentError(
            f"{source}: row must be a whole number from 0 to {MAX_REQUEST_ROW:,} (CSV lines {bad[:5]}); "
            "fix those lines"
        )
    blank = [
        int(i) + 2 for i in table.index[(table["request_id"].str.strip() == "") | (table[LABEL_COLUMN] == "")]
    ]
    if blank:
        raise ComponentError(f"{source}: request_id or label is empty on CSV lines {blank[:5]}; fill them in")
    return b"".join(
        orjson.dumps({"request_id": request_id.strip(), "row": int(row), LABEL_COLUMN: label}) + b"\n"
        for request_id, row, label in zip(table["request_id"], numeric, table[LABEL_COLUMN], strict=True)
    )


def labels_from_lines(lines: Iterable[bytes]) -> pd.DataFrame:
    """Stored label lines as a table keyed by (request_id, request_row); later lines win."""
    records = []
    for line in lines:
        try:
            record = orjson.loads(line)
            records.append((str(record["request_id"]), int(record["row"]), str(record[LABEL_COLUMN])))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            continue  # a truncated line
    table = pd.DataFrame(records, columns=[REQUEST_ID_COLUMN, REQUEST_ROW_COLUMN, LABEL_COLUMN])
    return table.drop_duplicates([REQUEST_ID_COLUMN, REQUEST_ROW_COLUMN], keep="last")


@dataclass
class QualityResult:
    """Classification quality on the logged rows that have a label."""

    labeled_rows: int
    accuracy: float
    precision: float
    recall: float
    f1: float
    #: "binary" (precision, recall and F1 of `positive_class`) for two classes, "macro" otherwise:
    #: the averaging Evidently's report uses, so the CLI, the JSON, the gauges and the page agree.
    averaging: str
    positive_class: str | None
    classes: list[str]
    #: Evidently's report (None when only one class was seen: it needs two to draw anything).
    snapshot: Any = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "labeled_rows": self.labeled_rows,
            "accuracy": self.accuracy,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "averaging": self.averaging,
            "positive_class": self.positive_class,
            "classes": self.classes,
        }

    @property
    def f1_name(self) -> str:
        return f1_name(self.as_dict())

    def write_html(self, path: str | Path, title: str = "", facts: dict[str, str] | None = None) -> Path:
        """Evidently's classification report, written atomically, headed by `title` and `facts`."""
        return save_report_html(self.snapshot, path, title, facts)


def f1_name(quality: dict[str, Any]) -> str:
    """How a quality result's F1 is named to people: "F1 of class '1'" or "macro F1"."""
    return f"F1 of class '{quality['positive_class']}'" if quality["averaging"] == "binary" else "macro F1"


def compute_quality(
    logged: pd.DataFrame, labels: pd.DataFrame, target_name: str = _TARGET
) -> QualityResult | None:
    """Join logged predictions with labels; None when no logged row has a label yet.

    `target_name` is what the report calls the labels (the model's target column)."""
    if labels.empty or REQUEST_ID_COLUMN not in logged.columns or PREDICTION_COLUMN not in logged.columns:
        return None
    joined = logged[[REQUEST_ID_COLUMN, REQUEST_ROW_COLUMN, PREDICTION_COLUMN]].merge(
        labels, on=[REQUEST_ID_COLUMN, REQUEST_ROW_COLUMN], how="inner"
    )
    if joined.empty:
        return None
    predicted = joined[PREDICTION_COLUMN]
    if pd.api.types.is_float_dtype(predicted) and not (predicted.dropna() % 1 == 0).all():
        raise ComponentError(
            "the model predicts real values; labels are compared as classes, so quality needs a classifier"
        )
    frame = pd.DataFrame(
        {_TARGET: joined[LABEL_COLUMN].map(_class_name), _PREDICTED: predicted.map(_class_name)}
    )
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    classes = sorted(set(frame[_TARGET]) | set(frame[_PREDICTED]))
    # Two classes: the later one in sort order is the positive one (1, True, yes), as in Evidently.
    positive = classes[1] if len(classes) == 2 else None
    precision, recall, f1, _ = precision_recall_fscore_support(
        frame[_TARGET],
        frame[_PREDICTED],
        average="binary" if positive is not None else "macro",
        pos_label=positive if positive is not None else 1,
        zero_division=0,
    )
    named = (
        frame.rename(columns={_TARGET: target_name}) if target_name not in (_TARGET, _PREDICTED) else frame
    )
    return QualityResult(
        labeled_rows=len(frame),
        accuracy=float(accuracy_score(frame[_TARGET], frame[_PREDICTED])),
        precision=float(precision),
        recall=float(recall),
        f1=float(f1),
        averaging="binary" if positive is not None else "macro",
        positive_class=positive,
        classes=classes,
        snapshot=_evidently_report(named, classes, named.columns[0]) if len(classes) > 1 else None,
    )


def _class_name(value: Any) -> str:
    """1, 1.0 and "1" are the same class (labels come from CSV text, predictions from the model)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _evidently_report(frame: pd.DataFrame, classes: list[str], target: str) -> Any:
    from evidently import BinaryClassification, DataDefinition, Dataset, MulticlassClassification, Report
    from evidently.presets import ClassificationPreset

    task: Any
    if len(classes) == 2:
        task = BinaryClassification(target=target, prediction_labels=_PREDICTED, pos_label=classes[1])
    else:
        task = MulticlassClassification(target=target, prediction_labels=_PREDICTED)
    definition = DataDefinition(classification=[task], categorical_columns=[target, _PREDICTED])
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        return Report([ClassificationPreset()]).run(
            current_data=Dataset.from_pandas(frame, data_definition=definition)
        )
