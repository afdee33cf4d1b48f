"""Will detection fit in memory? An estimate of its peak from the table file, checked before reading.

Detection on the local engine holds the table compactly (a small integer code per cell and one string
per distinct value, see `tables`), and per cell a few codes, scores and flags. Its peak therefore
grows with the number of cells, plus a fixed part (the interpreter, numpy, pandas, scikit-learn,
gensim and the knowledge base). The estimate is

    BASE_BYTES + BYTES_PER_CELL * rows * columns

with rows counted from the file's size and the mean length of its first rows (CSV) or read from the
footer (Parquet). The factors come from peaks measured with `/usr/bin/time -v` and
`benchmarks/error_detection_scale_out.py --memory` on generated 20-column tables with 5% errors and a
labels file of 20 rows: 0.51 GB at 100,000 rows, 0.62 GB at 200,000 and 1.39 GB at 1,000,000 (about
49 bytes per cell above 0.41 GB). With 450 MB and 56 bytes per cell the estimate stays 9-14% above
each of them (1.58 GB at 1,000,000 rows); a table with many more distinct values per column needs
more per cell. With `--clean` the 200,000-row table peaked 80 MB (20 bytes per cell) higher.

The memory available is the smallest of the kernel's MemAvailable and the room left under the
process's cgroup v2 memory limit; `IML4E_MEMORY_AVAILABLE` (bytes, or with a K/M/G suffix) overrides
it (tests, or a machine whose limits are known better).
"""

from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

from iml4e_components.errors import ComponentError

#: The environment variable that sets the memory available to detection (bytes, or 512M, 2G, ...).
MEMORY_AVAILABLE_ENV = "IML4E_MEMORY_AVAILABLE"
#: The fixed part of detection's peak: the interpreter, the libraries and the knowledge base.
BASE_BYTES = 450 * 10**6
#: Peak bytes per cell on the local engine, above the fixed part.
BYTES_PER_CELL = 56
#: More peak bytes per cell when a clean table is read to label and score (`detect --clean`).
CLEAN_BYTES_PER_CELL = 30
#: How much of a CSV file's head is read to learn its mean row length.
HEAD_BYTES = 1 << 20
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", re.IGNORECASE)
_CGROUP = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class MemoryEstimate:
    """The table's estimated rows and columns and detection's estimated peak, in bytes."""

    rows: int
    columns: int
    file_bytes: int
    peak_bytes: int


def parse_size(text: str) -> int:
    """Bytes from `123`, `512M`, `2G`, `1.5GiB` (powers of 1024)."""
    match = _SIZE.fullmatch(text)
    if match is None:
        raise ComponentError(
            f"{MEMORY_AVAILABLE_ENV}={text!r} is not a size; set it to bytes or a number with K, M or G"
        )
    number, unit = float(match.group(1)), match.group(2).lower()
    return int(number * 1024 ** " kmgt".index(unit or " "))


def available_memory() -> int:
    """Bytes this process may still use (see the module docstring)."""
    configured = os.environ.get(MEMORY_AVAILABLE_ENV)
    if configured:
        return parse_size(configured)
    import psutil

    available = int(psutil.virtual_memory().available)
    limit = _cgroup_room()
    return min(available, limit) if limit is not None else available


def _cgroup_room() -> int | None:
    """The room left under this process's cgroup v2 memory limit, None when there is no limit."""
    try:
        limit = (_CGROUP / "memory.max").read_text().strip()
        current = (_CGROUP / "memory.current").read_text().strip()
    except OSError:
        return None
    if limit == "max" or not limit.isdigit() or not current.isdigit():
        return None
    return max(0, int(limit) - int(current))


def table_dimensions(path: Path) -> tuple[int, int]:
    """(rows, columns) of a table file without reading it: Parquet from its footer, CSV from the
    file's size and the mean length of the rows in its first `HEAD_BYTES` (an estimate)."""
    from iml4e_components.error_detection.tables import is_parquet

    if is_parquet(path):
        import pyarrow.parquet as pq

        metadata = pq.read_metadata(path)
        return int(metadata.num_rows), int(metadata.num_columns)
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(HEAD_BYTES)
    complete = head if len(head) == size else head[: head.rfind(b"\n") + 1] or head
    rows = list(csv.reader(io.StringIO(complete.decode("utf-8", errors="replace"))))
    if not rows:
        return 0, 0
    header_bytes = len(complete.split(b"\n", 1)[0]) + 1
    data_rows = len(rows) - 1
    if len(complete) == size or data_rows <= 0:
        return max(data_rows, 0), len(rows[0])
    per_row = (len(complete) - header_bytes) / data_rows
    return round((size - header_bytes) / per_row), len(rows[0])


def estimate_detection_memory(path: Path) -> MemoryEstimate:
    """Detection's estimated peak on the table at `path` (see the module docstring)."""
    rows, columns = table_dimensions(path)
    return MemoryEstimate(rows, columns, path.stat().st_size, BASE_BYTES + BYTES_PER_CELL * rows * columns)


def check_detection_fits(
    path: Path, what: str = "table", *, with_clean: Path | None = None, available: int | None = None
) -> MemoryEstimate | None:
    """Refuse, in one line, a table whose detection would need more memory than is available (with
    a clean table to score against, `CLEAN_BYTES_PER_CELL` more per cell). None when the file is
    missing: its reader says so."""
    if not path.is_file() or (with_clean is not None and not with_clean.is_file()):
        return None
    estimate = estimate_detection_memory(path)
    if with_clean is not None:
        extra = CLEAN_BYTES_PER_CELL * estimate.rows * estimate.columns
        estimate = replace(estimate, peak_bytes=estimate.peak_bytes + extra)
    room = available_memory() if available is None else available
    if estimate.peak_bytes > room:
        raise ComponentError(
            f"{what} {path} ({_gb(estimate.file_bytes)}, about {estimate.rows:,} rows x {estimate.columns} "
            f"columns) needs about {_gb(estimate.peak_bytes)} of memory to detect errors, but "
            f"{_gb(room)} is available; free memory, detect on a sample of the rows, or run the blocks "
            "on a Ray cluster (--engine ray --ray-address HOST:PORT)"
        )
    return estimate


def _gb(size: int) -> str:
    return f"{size / 1e9:.2f} GB" if size >= 1e8 else f"{size / 1e6:.1f} MB"
