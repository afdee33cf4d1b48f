from __future__ import annotations

import numpy as np
import pandas as pd

from iml4e_components.error_detection.detector import select_tuples
from iml4e_components.error_detection.selection import ShapeCoverage, shape_codes


def _cities() -> pd.DataFrame:
    # Row 3 holds the two rare shapes: a city with its state appended, and an empty state.
    return pd.DataFrame(
        {
            "city": ["Bend", "Gary", "Portland", "Denton TX", "Austin", "Boston"],
            "state": ["OR", "IN", "OR", "", "TX", "MA"],
        }
    )


def test_shape_codes_group_cells_by_letter_digit_shape_per_column() -> None:
    table = pd.DataFrame({"code": ["ab-12", "cd-345", "X-1", "ab-12"], "n": ["1", "22", "3.5", ""]})
    shapes = shape_codes(table)
    assert shapes.shape == (4, 2)
    # 'ab-12' and 'cd-345' collapse to 'a-9'; 'X-1' is 'A-9'.
    assert list(shapes[:, 0]) == [0, 0, 1, 0]
    # '1' and '22' are both '9'; '3.5' is '9.9'; the empty cell is its own shape.
    assert list(shapes[:, 1]) == [0, 0, 1, 2]


def test_coverage_picks_the_row_with_the_most_rarity_in_new_shapes() -> None:
    coverage = ShapeCoverage(shape_codes(_cities()))
    available = np.ones(6, dtype=bool)
    assert coverage.pick(available, np.random.default_rng(0)) == 3
    coverage.add(3)
    available[3] = False
    # Every row left has only common shapes, all of them already covered: a tie among all of them.
    picks = {coverage.pick(available, np.random.default_rng(seed)) for seed in range(20)}
    assert picks <= {0, 1, 2, 4, 5} and len(picks) > 1


def test_tuple_selection_with_shapes_labels_the_rare_shape_row_and_keeps_the_budget() -> None:
    table = pd.concat([_cities()] * 10, ignore_index=True)
    table.loc[table.index != 3, "state"] = "OR"
    table.loc[table.index != 3, "city"] = "Bend"
    flat = np.zeros(table.shape)
    picked = select_tuples(flat, 10, np.random.default_rng(1), shape_codes(table))
    assert picked == select_tuples(flat, 10, np.random.default_rng(1), shape_codes(table))
    assert len(set(picked)) == 10 and 3 in picked
