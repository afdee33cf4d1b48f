"""A table-level signal for values that carry a neighbour's value along.

A value is *extended* when it is a value of its own column plus one extra word at its start or end
that is itself a repeated value of another column: `Madison WI` in a city column where `Madison` is a
city and `WI` a state, `Acme Corp 2019` where `2019` is a year elsewhere. Such values arise when a
field separator is lost or an export concatenates fields. The signal is exact (both parts must
occur as whole values), so multi-word values of the column itself (`South San Francisco`) do not
fire unless their extra word is another column's value.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd


def extended_value_flags(table: pd.DataFrame) -> np.ndarray:
    """(n_rows, n_columns) 0/1 float32: is the cell's value an extended value (see module doc)?"""
    n_rows, n_columns = table.shape
    flags = np.zeros((n_rows, n_columns), dtype=np.float32)
    columns = []
    for j in range(n_columns):
        codes, uniques = pd.factorize(table.iloc[:, j].to_numpy(dtype=object))
        columns.append((codes, [str(u) for u in uniques], np.bincount(codes, minlength=len(uniques))))
    fires = extended_values([(values, counts) for _, values, counts in columns])
    for j, (codes, _, _) in enumerate(columns):
        flags[:, j] = fires[j][codes]
    return flags


def extended_values(columns: list[tuple[list[str], np.ndarray]]) -> list[np.ndarray]:
    """Per column, per distinct value (the columns' distinct values and their cell counts over the
    whole table): is the value an extended value (see module doc)?"""
    encoded = []
    for uniques, counts in columns:
        values = [u.strip() for u in uniques]
        own = {v for v, c in zip(values, counts, strict=True) if c >= 2 and v}  # repeated values
        encoded.append((values, own, {v for v in own if " " not in v}))
    # In how many columns each single word is a repeated value: computed once, not a union per column.
    columns_with = Counter(word for *_, words in encoded for word in words)
    result = []
    for values, own, mine in encoded:
        fires = np.zeros(len(values), dtype=bool)
        result.append(fires)
        if not own:
            continue

        def in_other_column(word: str, mine: set[str] = mine, own: set[str] = own) -> bool:
            return columns_with.get(word, 0) > (word in mine) and word not in own

        for position, value in enumerate(values):
            head, _, last = value.rpartition(" ")
            first, _, tail = value.partition(" ")
            if not head:
                continue
            fires[position] = (in_other_column(last) and head.rstrip(" ,;") in own) or (
                in_other_column(first) and tail.lstrip(" ,;") in own
            )
    return result
