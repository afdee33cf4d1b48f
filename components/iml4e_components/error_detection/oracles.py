"""Oracles: who tells the detector which cells of a chosen tuple are wrong.

An oracle is any callable `oracle(row, values, columns) -> list[bool]` (True = the cell is wrong),
where `row` is the 0-based row position, `values` the row's strings and `columns` the header.
An oracle may also offer `labeled_rows(n_rows)`: the rows it can label (a labels file knows only some
rows); the detector then uses those rows instead of choosing its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from iml4e_components.error_detection.tables import as_string_frame, read_string_table
from iml4e_components.errors import ComponentError


class Oracle(Protocol):
    def __call__(self, row: int, values: Sequence[str], columns: Sequence[str]) -> list[bool]: ...


class CleanTableOracle:
    """Labels cells by comparing them with a clean table (benchmarks, tests): wrong = string differs."""

    def __init__(self, clean: pd.DataFrame) -> None:
        self.clean = as_string_frame(clean)  # a compact table stays compact: rows are read when asked

    def __call__(self, row: int, values: Sequence[str], columns: Sequence[str]) -> list[bool]:
        clean = self.clean.iloc[row].to_numpy(dtype=object)
        return [str(v) != c for v, c in zip(values, clean, strict=True)]


class LabelsFileOracle:
    """Labels from a CSV file with header `row,column,error`.

    `row` is the 0-based data row, `column` a column name or 0-based position, `error` 1/0 or
    true/false. Every row that appears in the file counts as a labeled tuple; its cells not listed
    are taken as right.
    """

    def __init__(self, path: str | Path) -> None:
        frame = read_string_table(path, what="labels file")
        header = [c.strip().lower() for c in frame.columns]
        if header[:3] != ["row", "column", "error"]:
            raise ComponentError(
                f"labels file {path} must have the header row,column,error (got {','.join(frame.columns)}); "
                "write one line per labeled cell"
            )
        self.path = Path(path)
        self.entries: dict[int, dict[str, bool]] = {}
        for line, (row, column, error) in enumerate(frame.iloc[:, :3].itertuples(index=False), start=2):
            flag = error.strip().lower()
            if not row.strip().isdigit() or flag not in {"0", "1", "true", "false"}:
                raise ComponentError(
                    f"labels file {path} line {line}: row must be a number and error 0/1/true/false; fix that line"
                )
            self.entries.setdefault(int(row), {})[column.strip()] = flag in {"1", "true"}

    def labeled_rows(self, n_rows: int) -> list[int]:
        rows = sorted(self.entries)
        outside = [r for r in rows if r >= n_rows]
        if outside:
            raise ComponentError(
                f"labels file {self.path} labels row {outside[0]} but the table has {n_rows} rows; rows are 0-based"
            )
        return rows

    def __call__(self, row: int, values: Sequence[str], columns: Sequence[str]) -> list[bool]:
        labels = self.entries.get(row, {})
        known = set(columns) | {str(i) for i in range(len(columns))}
        unknown = sorted(set(labels) - known)
        if unknown:
            raise ComponentError(
                f"labels file {self.path} names column '{unknown[0]}', which the table does not have; "
                "use a header name or a 0-based position"
            )
        return [labels.get(name, labels.get(str(i), False)) for i, name in enumerate(columns)]


class InteractiveOracle:
    """Asks a person: shows a tuple with numbered cells and reads the numbers of the wrong ones.

    `show(row, values, columns)` displays the tuple and `ask(prompt)` returns the typed answer, so the
    CLI decides how to talk to the terminal. An empty answer means every cell is right.
    """

    def __init__(
        self, show: Callable[[int, Sequence[str], Sequence[str]], None], ask: Callable[[str], str]
    ) -> None:
        self.show = show
        self.ask = ask

    def __call__(self, row: int, values: Sequence[str], columns: Sequence[str]) -> list[bool]:
        self.show(row, values, columns)
        while True:
            answer = self.ask("numbers of the wrong cells (comma-separated; empty if all are right)")
            try:
                picked = {int(part) for part in answer.replace(" ", "").split(",") if part}
            except ValueError:
                continue
            if all(0 <= p < len(columns) for p in picked):
                return [i in picked for i in range(len(columns))]


def labels_for_rows(oracle: Oracle, frame: pd.DataFrame, rows: Sequence[int]) -> np.ndarray:
    """Ask `oracle` about each row (a label of `frame`'s index: the table, or some of its rows indexed
    by their row positions); returns a (len(rows), n_columns) boolean matrix."""
    columns = [str(c) for c in frame.columns]
    labels = np.zeros((len(rows), len(columns)), dtype=bool)
    for position, row in enumerate(rows):
        values = [str(v) for v in frame.loc[int(row)].to_numpy(dtype=object)]
        answer = list(oracle(int(row), values, columns))
        if len(answer) != len(columns):
            raise ComponentError(
                f"the oracle answered {len(answer)} labels for a row of {len(columns)} cells"
            )
        labels[position] = answer
    return labels
