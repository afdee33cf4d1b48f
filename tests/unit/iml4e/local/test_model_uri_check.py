"""The model URI check without a server: local paths, schemes MLflow cannot read, and registry URIs
with no server to resolve them are refused in one line (the integration suite checks the registry
and run cases against a real MLflow server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from iml4e.errors import UsageError
from iml4e.local.model_uri_check import check_model_uri


def test_a_directory_holding_mlmodel_passes_as_a_path_or_a_file_uri(tmp_path: Path) -> None:
    (tmp_path / "MLmodel").write_text("flavors: {}\n")
    check_model_uri(str(tmp_path), None)
    check_model_uri(tmp_path.as_uri(), None)


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        (
            "{tmp}/missing",
            "model path {tmp}/missing does not exist; pass a directory that holds an MLmodel file",
        ),
        ("{tmp}", "{tmp} holds no MLmodel file, so it is not an MLflow model directory"),
        ("file://{tmp}/missing", "model path {tmp}/missing does not exist"),
        (
            "gopher://host/model",
            "model URI gopher://host/model has the scheme 'gopher', which MLflow cannot read",
        ),
        ("models:/churn@champion", "needs an MLflow server to resolve it; run 'iml4e up'"),
    ],
)
def test_what_is_not_a_model_is_one_line_naming_the_fix(tmp_path: Path, uri: str, message: str) -> None:
    with pytest.raises(UsageError) as refused:
        check_model_uri(uri.format(tmp=tmp_path), None)
    assert message.format(tmp=tmp_path) in str(refused.value) and "\n" not in str(refused.value)


def test_a_canary_is_named_in_the_message(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=f"^canary {tmp_path}/nope: model path"):
        check_model_uri(str(tmp_path / "nope"), None, role="canary")


def test_an_mlflow_server_that_does_not_answer_is_one_line_naming_it() -> None:
    from iml4e.errors import ServiceError
    from iml4e.ports import free_port

    silent = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(ServiceError) as failed:
        check_model_uri("models:/churn@champion", silent)
    assert str(failed.value) == (
        f"the MLflow server at {silent} does not answer; start it with 'iml4e up' "
        "or set MLFLOW_TRACKING_URI to a running server"
    )
