"""Detection's memory: compact tables (a categorical per column, read in chunks) give the same cells
and the same mask as string tables, and `detect` refuses up front a table that will not fit."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from iml4e.cli.app import app
from iml4e_components.error_detection import memory_check, tables
from iml4e_components.error_detection.detector import ErrorDetector
from iml4e_components.error_detection.features import (
    ColumnValues,
    FeatureConfig,
    ValueFeatureRows,
    per_value_features,
)
from iml4e_components.error_detection.injection import inject_errors
from iml4e_components.error_detection.knowledge_base import KnowledgeBase, load_default_knowledge_base
from iml4e_components.error_detection.memory_check import (
    MEMORY_AVAILABLE_ENV,
    available_memory,
    check_detection_fits,
    parse_size,
    table_dimensions,
)
from iml4e_components.error_detection.oracles import CleanTableOracle
from iml4e_components.error_detection.synthetic_tables import generate_table
from iml4e_components.error_detection.tables import as_string_frame, check_table, read_string_table
from iml4e_components.errors import ComponentError

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[4]
#: The shared dirty/clean pairs (see their README), found as benchmarks/error_detection.py finds them.
SHARED_PAIRS = Path(os.environ.get("IML4E_ED_DATA", ROOT.parent / "shared" / "datasets" / "error-detection"))


def _write_dirty(tmp_path: Path, rows: int = 300) -> Path:
    clean = generate_table("clinics", rows, 5)
    dirty, _ = inject_errors(clean, 0.05, ["typo", "missing", "placeholder", "rule"], 5)
    path = tmp_path / "dirty.csv"
    dirty.to_csv(path, index=False)
    return path


def test_a_compact_read_in_chunks_holds_the_same_strings_in_small_codes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write_dirty(tmp_path)
    monkeypatch.setattr(tables, "CHUNK_ROWS", 7)  # many chunks, so merging their values is exercised
    compact = read_string_table(path, compact=True)
    strings = read_string_table(path)
    assert list(compact.columns) == list(strings.columns)
    assert all(isinstance(dtype, pd.CategoricalDtype) for dtype in compact.dtypes)
    assert {compact[c].cat.codes.dtype for c in compact.columns} <= {np.dtype(np.int8), np.dtype(np.int16)}
    assert np.array_equal(as_string_frame(compact).to_numpy(dtype=object), strings.to_numpy(dtype=object))
    for column in compact.columns:  # categories in order of first appearance, as factorize gives them
        assert list(compact[column].cat.categories) == list(pd.unique(strings[column].to_numpy()))


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"a,b\n", "is empty"), (b"a,b\n1,2,3\n", "ragged rows"), (b"a,b\n1,\n2,\n", "is empty in every row")],
    ids=["header-only", "too-many-fields", "all-empty-column"],
)
def test_a_compact_read_refuses_bad_tables_in_one_line(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(content)
    with pytest.raises(ComponentError, match=message) as caught:
        read_string_table(path, compact=True)
    assert "\n" not in str(caught.value)


@pytest.mark.slow
@pytest.mark.parametrize("pair", ["hospital", "beers"])
def test_a_compact_table_gives_the_same_mask_on_a_shared_pair(
    pair: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = SHARED_PAIRS / pair
    if not (folder / "dirty.csv").is_file():
        pytest.skip(f"shared pair {folder} not found; set IML4E_ED_DATA")
    strings = read_string_table(folder / "dirty.csv")
    clean = read_string_table(folder / "clean.csv")
    monkeypatch.setattr(tables, "CHUNK_ROWS", 333)  # values first seen in later chunks keep their order
    compact = read_string_table(folder / "dirty.csv", compact=True)
    compact_clean = read_string_table(folder / "clean.csv", compact=True)
    detector = ErrorDetector(load_default_knowledge_base())
    for oracle, compact_oracle in [(None, None), (CleanTableOracle(clean), CleanTableOracle(compact_clean))]:
        before = detector.detect(strings, budget=20, oracle=oracle, seed=3)
        after = detector.detect(compact, budget=20, oracle=compact_oracle, seed=3)
        assert after.labeled_rows == before.labeled_rows
        assert np.array_equal(after.mask.to_numpy(), before.mask.to_numpy())
        assert np.array_equal(after.scores.to_numpy(), before.scores.to_numpy())
        assert before.n_detected > 0


def test_detect_refuses_a_table_that_will_not_fit_in_one_line_and_writes_nothing(
    tmp_path: Path, small_kb_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write_dirty(tmp_path)
    mask = tmp_path / "mask.csv"
    monkeypatch.setenv(MEMORY_AVAILABLE_ENV, "64M")  # a small fake limit instead of a huge file
    done = runner.invoke(app, ["detect", str(path), "--kb", str(small_kb_file), "-o", str(mask)])
    assert done.exit_code == 2, done.output
    message = done.stderr.strip()
    assert len(message.splitlines()) == 1 and "Traceback" not in done.output
    assert "about 300 rows x 13 columns" in message
    assert "needs about" in message and "67.1 MB is available" in message
    assert "--engine ray --ray-address" in message
    assert not mask.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["dirty.csv"]
    monkeypatch.setenv(MEMORY_AVAILABLE_ENV, "64G")
    done = runner.invoke(app, ["detect", str(path), "--kb", str(small_kb_file), "-o", str(mask)])
    assert done.exit_code == 0, done.output
    assert mask.is_file()


def test_a_remote_ray_cluster_is_not_checked_against_this_machines_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MEMORY_AVAILABLE_ENV, "1M")
    done = runner.invoke(
        app, ["detect", str(_write_dirty(tmp_path)), "--engine", "ray", "--ray-address", "127.0.0.1:1"]
    )
    assert done.exit_code == 2
    assert "unreachable" in done.stderr and "needs about" not in done.stderr


def test_the_estimate_counts_rows_from_the_head_of_a_large_csv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write_dirty(tmp_path, rows=2_000)
    monkeypatch.setattr(memory_check, "HEAD_BYTES", 4_096)  # the head holds a few dozen rows
    rows, columns = table_dimensions(path)
    assert columns == 13
    assert 1_800 <= rows <= 2_200
    monkeypatch.setattr(memory_check, "HEAD_BYTES", 1 << 20)  # the whole file: exact
    assert table_dimensions(path) == (2_000, 13)
    read_string_table(path).to_parquet(tmp_path / "t.parquet", index=False)
    assert table_dimensions(tmp_path / "t.parquet") == (2_000, 13)
    estimate = check_detection_fits(path, available=1 << 40)
    assert estimate is not None
    assert estimate.peak_bytes == memory_check.BASE_BYTES + memory_check.BYTES_PER_CELL * 2_000 * 13
    with_clean = check_detection_fits(path, with_clean=path, available=1 << 40)
    assert with_clean is not None and with_clean.peak_bytes > estimate.peak_bytes
    assert check_detection_fits(tmp_path / "missing.csv", available=0) is None


def test_available_memory_is_the_smaller_of_the_kernel_and_the_cgroup_room(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(MEMORY_AVAILABLE_ENV, raising=False)
    (tmp_path / "memory.max").write_text("300000000\n")
    (tmp_path / "memory.current").write_text("100000000\n")
    monkeypatch.setattr(memory_check, "_CGROUP", tmp_path)
    assert available_memory() == 200_000_000
    (tmp_path / "memory.max").write_text("max\n")
    import psutil

    assert 0 < available_memory() <= psutil.virtual_memory().total


def test_memory_sizes_parse_and_a_bad_one_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_size("123") == 123
    assert parse_size("64M") == 64 * 2**20
    assert parse_size("1.5GiB") == 3 * 2**29
    monkeypatch.setenv(MEMORY_AVAILABLE_ENV, "lots")
    with pytest.raises(ComponentError, match=f"{MEMORY_AVAILABLE_ENV}='lots' is not a size"):
        available_memory()


def test_a_compact_table_with_labels_from_a_small_knowledge_base_matches_the_string_table(
    small_kb: KnowledgeBase, tmp_path: Path
) -> None:
    path = _write_dirty(tmp_path)
    clean = generate_table("clinics", 300, 5)
    detector = ErrorDetector(small_kb, models_per_column=3)
    before = detector.detect(read_string_table(path), budget=20, oracle=CleanTableOracle(clean), seed=1)
    after = detector.detect(
        read_string_table(path, compact=True), budget=20, oracle=CleanTableOracle(clean), seed=1
    )
    assert after.labeled_rows == before.labeled_rows
    assert np.array_equal(after.mask.to_numpy(), before.mask.to_numpy())


def test_features_computed_for_the_values_asked_equal_the_whole_columns() -> None:
    rng = np.random.default_rng(0)
    alphabet = list("abcXYZ019 ,.-é")
    uniques = ["".join(rng.choice(alphabet, int(rng.integers(0, 80)))) for _ in range(3_000)]
    column = ColumnValues(uniques, rng.integers(1, 50, len(uniques)))
    whole = per_value_features(column, FeatureConfig())
    codes = rng.integers(0, len(uniques), 2_000)
    assert np.array_equal(ValueFeatureRows(column, FeatureConfig())[codes], whole[codes])


def test_a_compact_column_whose_cells_are_all_blank_is_refused_even_with_unused_values() -> None:
    frame = pd.DataFrame(
        {
            "a": ["1", "2"],
            "b": pd.Categorical.from_codes([0, 0], categories=pd.Index(["", "x"], dtype=object)),
        }
    )
    with pytest.raises(ComponentError, match="column 'b' is empty in every row"):
        check_table(frame)
