"""Content digests of tables: the version of a dataset that lineage, tracking and the feature store record.

Its own module because both the dataset loaders and the lineage emitter need it (neither imports the other).
"""

from __future__ import annotations

import hashlib

import pandas as pd


def table_digest(frame: pd.DataFrame) -> str:
    """A content digest of a table (column names, dtypes and values), stable across runs."""
    hasher = hashlib.sha256()
    hasher.update("\x1f".join(f"{c}:{t}" for c, t in frame.dtypes.astype(str).items()).encode())
    hasher.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return f"sha256:{hasher.hexdigest()}"
