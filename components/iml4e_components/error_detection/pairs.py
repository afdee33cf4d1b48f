"""Historical dirty/clean pairs on disk: a folder holds `dirty.csv` and `clean.csv` of one table.

The layout of the error-detection benchmark data: `DIR/<name>/dirty.csv` and `DIR/<name>/clean.csv`.
A folder given directly may also be one pair itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from iml4e_components.error_detection.tables import check_same_shape, read_string_table
from iml4e_components.errors import ComponentError

DIRTY_FILE = "dirty.csv"
CLEAN_FILE = "clean.csv"


def _is_pair(folder: Path) -> bool:
    return (folder / DIRTY_FILE).is_file() and (folder / CLEAN_FILE).is_file()


def find_pairs(folders: Iterable[str | Path]) -> dict[str, tuple[Path, Path]]:
    """Name -> (dirty, clean) paths for every pair in `folders` (each a pair, or a folder of pairs)."""
    pairs: dict[str, tuple[Path, Path]] = {}
    for given in folders:
        folder = Path(given)
        if not folder.is_dir():
            raise ComponentError(
                f"{folder} is not a folder; pass folders holding {DIRTY_FILE} and {CLEAN_FILE}"
            )
        found = [folder] if _is_pair(folder) else [d for d in sorted(folder.iterdir()) if _is_pair(d)]
        if not found:
            raise ComponentError(
                f"no {DIRTY_FILE}/{CLEAN_FILE} pair in {folder} or its subfolders; "
                f"put each table's two files in a folder of its own"
            )
        for pair in found:
            if pair.name in pairs:
                raise ComponentError(
                    f"two pairs are named '{pair.name}' ({pairs[pair.name][0].parent} and {pair}); "
                    "rename one folder"
                )
            pairs[pair.name] = (pair / DIRTY_FILE, pair / CLEAN_FILE)
    return pairs


def read_pair(dirty: Path, clean: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both tables as strings, checked to have the same shape."""
    dirty_table = read_string_table(dirty, what="dirty table")
    clean_table = read_string_table(clean, what="clean table")
    check_same_shape(dirty_table, clean_table, what=f"dirty and clean tables of {dirty.parent.name}")
    return dirty_table, clean_table
