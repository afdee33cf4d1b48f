"""The one evaluator: cell-level precision, recall and F1 against a clean table.

An error is a cell whose dirty string differs from its clean string; columns are aligned by position
(headers often differ between dirty and clean files) and nothing is type-parsed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from iml4e_components.error_detection.tables import as_string_frame, check_same_shape, read_string_table


@dataclass(frozen=True)
class CellScores:
    """Cell-level detection quality."""

    precision: float
    recall: float
    f1: float
    true_positives: int
    false_positives: int
    false_negatives: int
    actual_errors: int
    detected: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def actual_errors(dirty: pd.DataFrame, clean: pd.DataFrame) -> np.ndarray:
    """Boolean matrix: True where the dirty string differs from the clean string (by position)."""
    check_same_shape(dirty, clean)
    dirty, clean = as_string_frame(dirty), as_string_frame(clean)
    errors = np.empty(dirty.shape, dtype=bool)
    # Column by column (a compact table is never expanded whole); object arrays of str compare value
    # by value without copying into fixed-width unicode arrays.
    for j in range(dirty.shape[1]):
        errors[:, j] = dirty.iloc[:, j].to_numpy(dtype=object) != clean.iloc[:, j].to_numpy(dtype=object)
    return errors


def load_error_mask(dirty_path: str | Path, clean_path: str | Path) -> np.ndarray:
    """Read a dirty/clean pair as strings and return the true error mask."""
    return actual_errors(
        read_string_table(dirty_path, what="dirty table"), read_string_table(clean_path, what="clean table")
    )


def score_cells(detected: np.ndarray, truth: np.ndarray) -> CellScores:
    """Precision, recall and F1 of a detected mask against the true mask (same shape).

    With nothing detected precision is 0; with no actual errors recall is 0.
    """
    detected = np.asarray(detected, dtype=bool)
    truth = np.asarray(truth, dtype=bool)
    if detected.shape != truth.shape:
        raise ValueError(
            f"detected mask shape {detected.shape} differs from the true mask shape {truth.shape}"
        )
    tp = int(np.count_nonzero(detected & truth))
    fp = int(np.count_nonzero(detected & ~truth))
    fn = int(np.count_nonzero(~detected & truth))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return CellScores(precision, recall, f1, tp, fp, fn, tp + fn, tp + fp)


def mask_from_cells(cells: list[tuple[int, int]], shape: tuple[int, int]) -> np.ndarray:
    """A boolean mask from (row, column) positions, e.g. another tool's detections."""
    mask = np.zeros(shape, dtype=bool)
    if cells:
        rows, columns = zip(*cells, strict=True)
        mask[np.asarray(rows), np.asarray(columns)] = True
    return mask
