"""Acting on a detection: null the flagged cells or drop the rows that hold them."""

from __future__ import annotations

import pandas as pd

from iml4e_components.errors import ComponentError

CLEANING_POLICIES = ("null", "drop_rows")


def clean_flagged_cells(frame: pd.DataFrame, mask: pd.DataFrame, policy: str = "null") -> pd.DataFrame:
    """`null`: flagged cells become missing; `drop_rows`: rows with any flagged cell are dropped.

    The mask lines up with `frame` by position (same shape; its column names are not used).
    """
    if policy not in CLEANING_POLICIES:
        raise ComponentError(
            f"unknown cleaning policy '{policy}'; choose one of {', '.join(CLEANING_POLICIES)}"
        )
    if mask.shape != frame.shape:
        raise ComponentError(
            f"the error mask is {mask.shape[0]}x{mask.shape[1]} but the dataset is {frame.shape[0]}x{frame.shape[1]}; "
            "pass the mask detect_errors produced for this dataset"
        )
    flags = mask.to_numpy(dtype=bool)
    if policy == "drop_rows":
        return frame.loc[~flags.any(axis=1)].reset_index(drop=True)
    return frame.mask(pd.DataFrame(flags, index=frame.index, columns=frame.columns))
