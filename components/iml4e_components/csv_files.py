"""Strict reading of user CSV files: a row with more or fewer fields than the header is an error
naming its line, never a silently shifted field (pandas takes a surplus first field as the index)."""

from __future__ import annotations

import csv
from pathlib import Path

from iml4e_components.errors import ComponentError


def first_ragged_line(file: Path) -> tuple[int, int, int] | None:
    """(line number, fields, header fields) of the first non-blank row whose field count differs from
    the header's, or None when every row fits."""
    with open(file, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            return None
        for row in reader:
            if row and len(row) != len(header):
                return reader.line_num, len(row), len(header)
    return None


def check_rectangular_csv(file: Path, what: str) -> None:
    """Raise a one-line error naming the first line whose field count differs from the header's."""
    try:
        ragged = first_ragged_line(file)
    except UnicodeDecodeError as exc:
        raise ComponentError(
            f"{what} {file} is not UTF-8 text (byte {exc.start}: {exc.reason}); re-encode it as UTF-8"
        ) from None
    except csv.Error as exc:
        raise ComponentError(
            f"{what} {file} is not a readable CSV ({exc}); save it as CSV with a header"
        ) from None
    if ragged is not None:
        line, fields, header = ragged
        raise ComponentError(
            f"{what} {file} has ragged rows (line {line} has {fields} fields, the header {header}); "
            "every row needs as many fields as the header"
        )
