"""Every bad input gets a one-line error naming the problem and the fix, and leaves no output file."""

from __future__ import annotations

import pickle
import zlib
from pathlib import Path

import joblib
import pandas as pd
import pytest

from iml4e_components.error_detection.knowledge_base import KB_FORMAT, KnowledgeBase
from iml4e_components.error_detection.tables import as_string_frame, check_table, read_string_table
from iml4e_components.errors import ComponentError


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"a,b\n", "is empty"),
        (b"only\n1\n2\n", "single column"),
        (b"a,b\n1,\xff\xfe\n", "not UTF-8"),
        (b"a,b\n1,2,3\n", "ragged rows"),
        (b"a,b,c\n1,2\n", "ragged rows"),
        (b"a,b\n1,\n2,\n", "column 'b' is empty in every row"),
    ],
    ids=[
        "no-bytes",
        "header-only",
        "single-column",
        "non-utf8",
        "too-many-fields",
        "too-few-fields",
        "all-null",
    ],
)
def test_bad_tables_are_refused_in_one_line(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(content)
    with pytest.raises(ComponentError, match=message) as caught:
        read_string_table(path)
    assert "\n" not in str(caught.value)


def test_knowledge_base_of_another_version_is_refused(tmp_path: Path, small_kb: KnowledgeBase) -> None:
    path = tmp_path / "old.kb"
    path.write_bytes(
        zlib.compress(pickle.dumps({"format": KB_FORMAT, "version": 0, "knowledge_base": small_kb}))
    )
    with pytest.raises(ComponentError, match=r"version 0.*rebuild"):
        KnowledgeBase.load(path)


def test_a_file_that_is_not_a_knowledge_base_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.kb"
    path.write_text("hello")
    with pytest.raises(ComponentError, match="not an iml4e knowledge base"):
        KnowledgeBase.load(path)


def test_knowledge_base_round_trips(tmp_path: Path, small_kb: KnowledgeBase) -> None:
    loaded = KnowledgeBase.load(small_kb.save(tmp_path / "kb.kb"))
    assert len(loaded.models) == len(small_kb.models) and loaded.config == small_kb.config
    assert list(tmp_path.iterdir()) == [tmp_path / "kb.kb"]


def test_a_knowledge_base_in_the_old_joblib_format_is_refused_with_the_fix(
    tmp_path: Path, small_kb: KnowledgeBase
) -> None:
    path = tmp_path / "v2.kb"
    joblib.dump({"format": KB_FORMAT, "version": 2, "knowledge_base": small_kb}, path, compress=3)
    with pytest.raises(ComponentError, match=r"not an iml4e knowledge base of version \d+ .*rebuild"):
        KnowledgeBase.load(path)


def test_string_frame_keeps_all_string_columns_and_converts_mixed_ones() -> None:
    frame = pd.DataFrame(
        {
            "text": pd.Series(["a", " b", ""], dtype=object),
            "mixed": pd.Series(["x", None, 3], dtype=object),
            "number": [1.5, float("nan"), 2.0],
        }
    )
    strings = as_string_frame(frame)
    assert strings["text"].tolist() == ["a", " b", ""]
    assert strings["mixed"].tolist() == ["x", "", "3"]
    assert strings["number"].tolist() == ["1.5", "", "2.0"]


def test_a_column_of_only_blank_cells_is_refused_and_one_value_is_enough() -> None:
    frame = pd.DataFrame({"a": ["1", "2", "3"], "b": [" ", "", "  "]})
    with pytest.raises(ComponentError, match="column 'b' is empty in every row"):
        check_table(frame)
    frame.loc[2, "b"] = "x"
    assert check_table(frame) is frame
