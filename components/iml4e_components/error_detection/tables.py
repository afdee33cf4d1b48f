"""Reading tables for error detection: every cell a string, checked for the shapes detection needs.

Values are never type-inferred: a numeric column with one typo would otherwise change type and make
every cell compare as different. Empty cells stay empty strings (`keep_default_na=False`).

A compact table (`compact=True`, what `iml4e detect` reads) holds each column as a categorical: one
Python string per distinct value and a small integer code per cell, read in chunks of `CHUNK_ROWS`
rows, so a large file never exists as one string object per cell. Its categories are in order of
first appearance, so factorizing it gives the same codes as factorizing the strings.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from iml4e_components.csv_files import check_rectangular_csv
from iml4e_components.errors import ComponentError
from iml4e_components.output_files import write_atomically

#: Rows read and encoded at a time by a compact read (about 130 MB of strings for 20 columns).
CHUNK_ROWS = 100_000


def read_string_table(
    path: str | Path, *, what: str = "table", min_columns: int = 2, compact: bool = False
) -> pd.DataFrame:
    """Read a CSV (or Parquet) file with every cell as a string; raise one-line errors for bad files.
    With `compact`, every column is a categorical of strings (see the module docstring)."""
    file = Path(path)
    if not file.is_file():
        raise ComponentError(f"{what} file not found: {file}; pass an existing CSV file")
    if is_parquet(file):
        try:
            frame = pd.read_parquet(file)
        except (OSError, ValueError) as exc:
            raise ComponentError(f"cannot read {what} {file}: {str(exc).splitlines()[0]}") from exc
        strings = compact_string_frame(frame) if compact else as_string_frame(frame)
        return check_table(strings, what=f"{what} {file}", min_columns=min_columns)
    options = {
        "dtype": str,
        "keep_default_na": False,
        "encoding": "utf-8",
        "encoding_errors": "strict",
        "skip_blank_lines": True,
    }
    try:
        if compact:
            with pd.read_csv(file, chunksize=CHUNK_ROWS, **options) as chunks:
                frame = encode_chunks(_checked(chunk, file, what) for chunk in chunks)
        else:
            frame = _checked(pd.read_csv(file, **options), file, what)
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
    return check_table(frame, what=f"{what} {file}", min_columns=min_columns)


def _checked(frame: pd.DataFrame, file: Path, what: str) -> pd.DataFrame:
    """`frame` (the file or a chunk of it) when pandas kept every row's fields in place."""
    if not isinstance(frame.index, pd.RangeIndex) or frame.isna().to_numpy().any():
        raise ComponentError(
            f"{what} {file} has ragged rows (field counts differ); every row needs as many fields as the header"
        )
    return frame


def smallest_code_dtype(n_values: int) -> np.dtype[np.signedinteger]:
    """The smallest signed integer type holding codes 0..n_values-1 (and -1)."""
    for dtype in (np.int8, np.int16, np.int32):
        if n_values <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.int64)


def encode_chunks(chunks: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """One compact frame from chunks of rows (every cell a string, the same header): per column, the
    chunks' distinct values are joined in chunk order and factorized once more, so the categories are
    in order of first appearance over the whole table."""
    columns: list[str] | None = None
    parts: list[list[tuple[np.ndarray, np.ndarray]]] = []
    for chunk in chunks:
        columns = [str(c) for c in chunk.columns]
        encoded = []
        for position in range(chunk.shape[1]):
            codes, uniques = pd.factorize(chunk.iloc[:, position].to_numpy(dtype=object), sort=False)
            encoded.append((codes.astype(smallest_code_dtype(len(uniques))), uniques))
        parts.append(encoded)
    if columns is None:
        raise pd.errors.EmptyDataError("no rows")
    result: dict[str, pd.Categorical] = {}
    for j, name in enumerate(columns):
        joined = np.concatenate([part[j][1] for part in parts])
        global_codes, uniques = pd.factorize(joined, sort=False)
        dtype = smallest_code_dtype(len(uniques))
        cells = np.empty(sum(len(part[j][0]) for part in parts), dtype=dtype)
        offset = start = 0
        for part in parts:
            local_codes, local_uniques = part[j]
            cells[start : start + len(local_codes)] = global_codes[offset : offset + len(local_uniques)][
                local_codes
            ]
            offset += len(local_uniques)
            start += len(local_codes)
            part[j] = (local_codes[:0], local_uniques[:0])  # release the chunk's codes early
        result[name if name not in result else f"{name}.{j}"] = pd.Categorical.from_codes(
            cells, categories=pd.Index(uniques, dtype=object)
        )
    return pd.DataFrame(result)


def compact_string_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` as a compact table: every column a categorical of strings (see `encode_chunks`)."""
    return encode_chunks([as_string_frame(frame)])


def is_string_categorical(series: pd.Series) -> bool:
    """A categorical column whose categories are strings and whose cells are all set (compact)."""
    return (
        isinstance(series.dtype, pd.CategoricalDtype)
        and series.dtype.categories.dtype == object
        and pd.api.types.infer_dtype(series.dtype.categories, skipna=False) in {"string", "empty"}
        and not (series.cat.codes.to_numpy() < 0).any()
    )


def used_categories(series: pd.Series) -> pd.Index:
    """The categories some cell of a categorical column holds (a slice may leave some unused)."""
    codes = series.cat.codes.to_numpy()
    held = np.bincount(codes[codes >= 0], minlength=len(series.cat.categories)) > 0
    return series.cat.categories[held]


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
        values: object
        if is_string_categorical(series):
            values = series.array  # a compact column stays compact
        elif series.dtype == object and pd.api.types.infer_dtype(series, skipna=False) == "string":
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
        series = frame.iloc[:, position]
        # Stops at the first non-blank cell (or value), so a large table costs a few cells per column.
        values = used_categories(series) if is_string_categorical(series) else series.to_numpy()
        if not any(str(value).strip() for value in values):
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
