"""A failing task's error record: written where the runner asks, read back as data, matched to the
task that failed; lineage_step (the body of every iml4e component) writes it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from iml4e_components.errors import ComponentError
from iml4e_components.lineage.emit import lineage_step
from iml4e_components.task_errors import (
    ERRORS_ENV,
    failed_task_error,
    read_task_errors,
    record_task_error,
)


def raised(error: Exception) -> Exception:
    try:
        raise error
    except Exception as caught:
        return caught


def test_our_error_keeps_its_message_and_a_bug_gets_its_class(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ERRORS_ENV, str(tmp_path))
    record_task_error(raised(ComponentError("column 'age' is missing; add it")), "prepare_data")
    [ours] = read_task_errors(tmp_path)
    assert (ours.component, ours.error_class, ours.ours) == ("prepare_data", "ComponentError", True)
    assert ours.reason() == "column 'age' is missing; add it"
    assert ours.traceback.rstrip().endswith("ComponentError: column 'age' is missing; add it")
    (tmp_path / f"{os.getpid()}.json").unlink()
    record_task_error(raised(KeyError("age")), "prepare_data")
    [bug] = read_task_errors(tmp_path)
    assert (bug.ours, bug.reason()) == (False, "KeyError: 'age'")


def test_nothing_is_written_unless_the_runner_asks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ERRORS_ENV, raising=False)  # the working directory is tmp_path (conftest)
    record_task_error(raised(ComponentError("x")), "prepare_data")
    assert list(tmp_path.iterdir()) == []


def test_the_failed_tasks_own_record_is_chosen_and_broken_files_are_passed_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ERRORS_ENV, str(tmp_path))
    record_task_error(raised(ComponentError("first")), "load_dataset")
    (tmp_path / f"{os.getpid()}.json").rename(tmp_path / "1.json")
    record_task_error(raised(ComponentError("second")), "train_model")
    (tmp_path / "broken.json").write_text("{not json")
    records = read_task_errors(tmp_path)
    assert [r.message for r in records] == ["first", "second"]
    assert failed_task_error(records, "train-model-2").message == "second"  # type: ignore[union-attr]  # found
    assert failed_task_error(records, "train-model-extra").message == "first"  # type: ignore[union-attr]  # first
    assert failed_task_error([], "train-model") is None


def test_lineage_step_records_the_error_and_reraises_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ERRORS_ENV, str(tmp_path / "errors"))
    (tmp_path / "errors").mkdir()
    error = ComponentError("target column 'churned' is missing; pass target=<column>")
    with pytest.raises(ComponentError) as caught, lineage_step("train_model"):
        raise error
    assert caught.value is error
    [record] = read_task_errors(tmp_path / "errors")
    assert (record.component, record.reason()) == ("train_model", str(error))
