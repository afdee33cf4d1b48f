"""Reading tables for error detection: every cell a string, checked for the shapes detection needs.

Values are never type-inferred: a numeric column with one typo would otherwise change type and make
every cell compare as different. Empty cells stay empty strings (`keep_default_na=False`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from iml4e_components.csv_files import check_rectangular_csv
from iml4e_components.errors import ComponentError
from iml4e_components.output_files import write_atomically


def read_string_table(path: str | Path, *, what: str = "table", min_columns: int = 2) -> pd.DataFrame:
    """Read a CSV (or Parquet) file with every cell as a string; raise one-line errors for bad files."""
    file = Path(path)
    if not file.is_file():
        raise ComponentError(f"{what} file not found: {file}; pass an existing CSV file")
    if is_parquet(file):
        try:
            frame = pd.read_parquet(file)
        except (OSError, ValueError) as exc:
            raise ComponentError(f"cannot read {what} {file}: {str(exc).splitlines()[0]}") from exc
        return check_table(as_string_frame(frame), what=f"{what} {file}", min_columns=min_columns)
    try:
        frame = pd.read_csv(
            file,
            dtype=str,
            keep_default_na=False,
            encoding="utf-8",
            encoding_errors="strict",
            skip_blank_lines=True,
        )
    except UnicodeDecodeError as exc:
        raise ComponentError(
            f"{what} {file} is not UTF-8 text (byte {exc.start}: {exc.reason}); re-encode it as UTF-8"
        ) from exc
    except pd.errors.EmptyDataError as exc:
        raise ComponentError(
            f"{what} {file} is empty; it needs a header row and at least one data row"
        ) from exc
    except pd.errors.ParserError as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else "malformed CSV"
        raise ComponentError(
            f"{what} {file} has ragged rows ({reason}); every row needs as many fields as the header"
        ) from exc
    check_rectangular_csv(file, what)
    if not isinstance(frame.index, pd.RangeIndex) or frame.isna().to_numpy().any():
        raise ComponentError(
            f"{what} {file} has ragged rows (field counts differ); every row needs as many fields as the header"
        )
    return check_table(frame, what=f"{what} {file}", min_columns=min_columns)


def is_parquet(path: str | Path) -> bool:
    """Parquet files start with the magic bytes PAR1 (KFP artifact paths carry no file suffix)."""
    with open(path, "rb") as handle:
        return handle.read(4) == b"PAR1"


def read_any_table(path: str | Path) -> pd.DataFrame:
    """Read a Parquet or CSV file with pandas' usual types (for cleaning, which keeps the dtypes)."""
    return pd.read_parquet(path) if is_parquet(path) else pd.read_csv(path)


def as_string_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with every cell as a string; missing values become empty strings."""
    result = pd.DataFrame(index=pd.RangeIndex(len(frame)))
    for position, column in enumerate(frame.columns):
        series = frame.iloc[:, position]
        if series.dtype == object and pd.api.types.infer_dtype(series, skipna=False) == "string":
            values = series.to_numpy()
        else:
            values = series.astype("string").fillna("").to_numpy(dtype=object)
        result[str(column) if str(column) not in result.columns else f"{column}.{position}"] = values
    return result


def check_table(frame: pd.DataFrame, *, what: str = "table", min_columns: int = 2) -> pd.DataFrame:
    """Reject tables detection cannot work on: no rows, fewer than two columns, all-empty columns."""
    if len(frame.columns) == 0 or len(frame) == 0:
        raise ComponentError(f"{what} is empty; it needs a header row and at least one data row")
    if len(frame.columns) < min_columns:
        raise ComponentError(
            f"{what} has a single column; error detection compares columns, so pass a table with at least "
            f"{min_columns} columns"
        )
    for position in range(len(frame.columns)):
        # Stops at the first non-blank cell, so a large table costs a few cells per column.
        if not any(str(value).strip() for value in frame.iloc[:, position].to_numpy()):
            raise ComponentError(
                f"{what}: column '{frame.columns[position]}' is empty in every row; drop it before detection"
            )
    return frame


def check_same_shape(
    dirty: pd.DataFrame, clean: pd.DataFrame, *, what: str = "dirty and clean tables"
) -> None:
    """Dirty and clean must line up cell by cell (columns are matched by position, not name)."""
    if dirty.shape != clean.shape:
        raise ComponentError(
            f"{what} have different shapes ({dirty.shape[0]}x{dirty.shape[1]} vs {clean.shape[0]}x{clean.shape[1]}); "
            "pass a clean table with the same rows and columns in the same order"
        )


def write_csv_atomically(frame: pd.DataFrame, path: str | Path) -> None:
    """Write `frame` as CSV (no index) atomically."""
    write_atomically(path, lambda tmp: frame.to_csv(tmp, index=False))
