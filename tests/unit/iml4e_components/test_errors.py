"""One error root: the components' errors and the platform's share `Iml4eError`, and an
`except ValueError` around a library call never swallows one of ours."""

from __future__ import annotations

import pandas as pd
import pytest

from iml4e import errors as platform_errors
from iml4e_components.errors import ComponentError, ComponentFailure, Iml4eError
from iml4e_components.training.core import fit_estimator


def test_the_platform_re_exports_the_one_root() -> None:
    assert platform_errors.Iml4eError is Iml4eError
    for error in (
        ComponentError,
        ComponentFailure,
        platform_errors.UsageError,
        platform_errors.PipelineError,
    ):
        assert issubclass(error, Iml4eError)
    assert (ComponentError.exit_code, ComponentFailure.exit_code) == (2, 1)


def test_an_except_value_error_lets_our_errors_through() -> None:
    def number_or_zero(text: str) -> int:
        try:
            if not text:
                raise ComponentError("the value is empty; pass a number")
            return int(text)
        except ValueError:  # meant for int()'s error only
            return 0

    assert number_or_zero("x") == 0
    with pytest.raises(ComponentError, match="the value is empty"):
        number_or_zero("")
    assert not issubclass(ComponentError, ValueError) and not issubclass(ComponentFailure, RuntimeError)


def test_an_unknown_estimator_parameter_keeps_its_training_message() -> None:
    """fit_estimator catches scikit-learn's ValueError and make_estimator's ComponentError alike."""
    from iml4e_components.preparation.core import prepare

    frame = pd.DataFrame({"x": [float(i) for i in range(40)], "y": [i % 2 for i in range(40)]})
    prepared = prepare(frame, "y", seed=3)
    with pytest.raises(ComponentError) as raised:
        fit_estimator(prepared.split.train, "y", prepared.preprocessor, params={"no_such_knob": 1})
    message = str(raised.value)
    assert message.startswith("training 'logistic_regression' on target 'y' failed: ")
    assert "has no parameter 'no_such_knob'" in message
