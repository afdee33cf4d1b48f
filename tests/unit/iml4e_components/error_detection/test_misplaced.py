"""The extended-value signal: a value of the column plus a word that is another column's value."""

from __future__ import annotations

import pandas as pd

from iml4e_components.error_detection.misplaced import extended_value_flags


def _table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "city": [
                "Madison",
                "Madison",
                "Madison WI",  # appended state
                "CA San Francisco",  # prepended state
                "San Francisco",
                "San Francisco",
                "South San Francisco",  # a longer city: 'South' is no other column's value
                "Springfield IL",  # 'Springfield' is not a repeated city
                "WI",
            ],
            "state": ["WI", "WI", "", "CA", "CA", "CA", "CA", "IL", "IL"],
        }
    )


def test_a_value_plus_another_columns_value_fires_at_either_end() -> None:
    flags = extended_value_flags(_table())
    assert flags.shape == (9, 2)
    assert flags[:, 0].tolist() == [0, 0, 1, 1, 0, 0, 0, 0, 0]
    assert not flags[:, 1].any()


def test_both_parts_must_be_repeated_whole_values() -> None:
    table = _table()
    table.loc[1, "city"] = "Denver"  # 'Madison' now occurs once: not an established city
    assert extended_value_flags(table)[:, 0].tolist() == [0, 0, 0, 1, 0, 0, 0, 0, 0]
    table.loc[0, "state"] = "NY"  # 'WI' occurs once too
    assert extended_value_flags(table)[2, 0] == 0


def test_a_single_column_or_an_empty_table_has_no_flags() -> None:
    assert not extended_value_flags(_table()[["city"]]).any()
    assert extended_value_flags(pd.DataFrame({"a": [], "b": []}, dtype=object)).shape == (0, 2)
