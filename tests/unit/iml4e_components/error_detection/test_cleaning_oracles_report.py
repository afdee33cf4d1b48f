from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from iml4e_components.error_detection.cleaning import clean_flagged_cells
from iml4e_components.error_detection.detector import ErrorDetector
from iml4e_components.error_detection.knowledge_base import KnowledgeBase
from iml4e_components.error_detection.oracles import InteractiveOracle, LabelsFileOracle
from iml4e_components.error_detection.report import render_report
from iml4e_components.errors import ComponentError

FRAME = pd.DataFrame({"age": [30, 41, 52], "city": ["berlin", "xx", "paris"]})
MASK = pd.DataFrame({"a": [False, True, False], "b": [False, True, True]})


def test_null_policy_blanks_flagged_cells_and_keeps_rows() -> None:
    cleaned = clean_flagged_cells(FRAME, MASK, "null")
    assert cleaned.shape == FRAME.shape
    assert cleaned.isna().to_numpy().tolist() == MASK.to_numpy().tolist()


def test_drop_rows_policy_drops_rows_with_any_flag() -> None:
    assert clean_flagged_cells(FRAME, MASK, "drop_rows")["age"].tolist() == [30]


def test_unknown_policy_names_the_choices() -> None:
    with pytest.raises(ComponentError, match="null, drop_rows"):
        clean_flagged_cells(FRAME, MASK, "burn")


def test_labels_file_oracle_offers_its_rows_and_labels_by_name_or_position(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("row,column,error\n2,city,1\n2,age,0\n0,1,true\n")
    oracle = LabelsFileOracle(path)
    assert oracle.labeled_rows(3) == [0, 2]
    assert oracle(2, ["52", "paris"], ["age", "city"]) == [False, True]
    assert oracle(0, ["30", "berlin"], ["age", "city"]) == [False, True]
    with pytest.raises(ComponentError, match="rows are 0-based"):
        oracle.labeled_rows(2)


def test_labels_file_with_a_wrong_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("r,c,e\n1,2,3\n")
    with pytest.raises(ComponentError, match="row,column,error"):
        LabelsFileOracle(path)


def test_interactive_oracle_reads_cell_numbers_and_asks_again_on_nonsense() -> None:
    answers = iter(["what", "7", "1"])
    shown: list[int] = []
    oracle = InteractiveOracle(lambda row, values, columns: shown.append(row), lambda prompt: next(answers))
    assert oracle(4, ["30", "xx"], ["age", "city"]) == [False, True]
    assert shown == [4]


def test_report_has_a_heatmap_and_the_most_suspicious_cells(
    tmp_path: Path, small_kb: KnowledgeBase, dirty_clean: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]
) -> None:
    dirty, _, _ = dirty_clean
    result = ErrorDetector(small_kb).detect(dirty, seed=0)
    html = render_report(dirty, result)
    assert "<svg" in html and "Most suspicious cells" in html and "<script" not in html
    top = np.unravel_index(np.argmax(np.where(result.mask, result.scores, -1)), dirty.shape)
    if result.n_detected:
        assert str(dirty.iloc[top]) in html
