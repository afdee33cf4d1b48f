"""The OpenLineage schema validator every lineage test checks emitted events with."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import jsonschema
import pytest

SCHEMA = Path(__file__).parents[3] / "fixtures" / "openlineage" / "OpenLineage-2-0-0.json"


def openlineage_validator() -> jsonschema.Draft202012Validator:
    checker = jsonschema.FormatChecker()

    def _date_time(value: object) -> bool:
        return not isinstance(value, str) or datetime.fromisoformat(value).tzinfo is not None

    def _uri(value: object) -> bool:
        return not isinstance(value, str) or bool(urlparse(value).scheme)

    checker.checks("date-time", raises=ValueError)(_date_time)
    checker.checks("uri")(_uri)

    document = json.loads(SCHEMA.read_text(encoding="utf-8"))
    # The top-level oneOf cannot tell a RunEvent from a JobEvent (every RunEvent is also a valid
    # JobEvent), so validate against RunEvent itself: iml4e emits run events only.
    del document["oneOf"]
    document["$ref"] = "#/$defs/RunEvent"
    return jsonschema.Draft202012Validator(document, format_checker=checker)


@pytest.fixture
def assert_valid_event() -> Callable[[dict[str, Any]], None]:
    validator = openlineage_validator()

    def check(event: dict[str, Any]) -> None:
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(event)]
        assert not errors, errors

    return check
