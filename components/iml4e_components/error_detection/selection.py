"""Shape coverage for choosing which tuples to label.

The zero-label scores come from historical base models; an error kind those models never saw (in a
new table) scores as low as a clean cell, so tuples chosen by those scores alone may hold no example
of it, and the meta-classifiers then cannot learn it. Shapes are a signal of the table itself: a
cell's shape is its short pattern (`features.value_patterns`: letters as A/a, digits as 9, runs
collapsed, so `Portland, OR` -> `Aa, A`). Picking rows that hold rare shapes no labeled row holds
yet (an empty cell where the column is mostly filled, a city with a state appended) gets such
errors labeled.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from iml4e_components.error_detection.features import value_patterns


def shape_codes(table: pd.DataFrame) -> np.ndarray:
    """(n_rows, n_columns) integer codes of each cell's shape within its column (one shape per
    distinct value computed, then broadcast to the cells)."""
    columns = []
    for j in range(table.shape[1]):
        value_codes, uniques = pd.factorize(table.iloc[:, j].to_numpy(dtype=object))
        shape_of_value = value_shapes(list(uniques))
        columns.append(shape_of_value[value_codes] if len(value_codes) else value_codes)
    return np.column_stack(columns).astype(np.int64)


def value_shapes(uniques: list[str]) -> np.ndarray:
    """The shape code of each distinct value of a column (values in order of first appearance)."""
    _, shapes = value_patterns(pd.Series(uniques, dtype=object))
    shape_of_value, _ = pd.factorize(shapes.to_numpy(dtype=object))
    return np.asarray(shape_of_value, dtype=np.int64)


class ShapeCoverage:
    """Which shapes of each column the chosen rows hold, and which row would add the most new ones."""

    def __init__(self, shapes: np.ndarray) -> None:
        self.shapes = shapes
        n_rows = shapes.shape[0]
        # A shape's rarity: one minus its share of the column's cells.
        self.rarity = [1.0 - np.bincount(shapes[:, j]) / n_rows for j in range(shapes.shape[1])]
        self.covered = [np.zeros(len(r), dtype=bool) for r in self.rarity]

    def add(self, row: int) -> None:
        """Mark the shapes of `row` as covered."""
        for j, covered in enumerate(self.covered):
            covered[self.shapes[row, j]] = True

    def pick(self, available: np.ndarray, rng: np.random.Generator) -> int:
        """The available row whose not-yet-covered shapes have the largest summed rarity (ties at
        random)."""
        gain = np.zeros(self.shapes.shape[0])
        for j, (rarity, covered) in enumerate(zip(self.rarity, self.covered, strict=True)):
            gain += np.where(covered, 0.0, rarity)[self.shapes[:, j]]
        gain = np.where(available, gain, -1.0)
        return int(rng.choice(np.flatnonzero(gain >= gain.max() - 1e-12)))
