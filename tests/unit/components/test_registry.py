from __future__ import annotations

import pytest

from iml4e_components.conventions import CARD_VERDICT_TAG
from iml4e_components.errors import ComponentError
from iml4e_components.registry.core import Registration, gated_value, verdict_tags


def test_verdict_becomes_a_version_tag() -> None:
    assert verdict_tags('{"passed": true, "spec": "default"}') == {CARD_VERDICT_TAG: "pass"}
    assert verdict_tags('{"passed": false}') == {CARD_VERDICT_TAG: "fail"}
    assert verdict_tags("") == {}
    with pytest.raises(ComponentError, match="card_verdict"):
        verdict_tags("not json")


def test_gated_metric_must_exist() -> None:
    assert gated_value({"f1": 0.7, "f1__region:north": 0.5}, "f1") == 0.7
    with pytest.raises(ComponentError, match=r"gate_metric 'auc' was not computed; available: f1$"):
        gated_value({"f1": 0.7, "f1__region:north": 0.5}, "auc")


def test_registration_json_keeps_the_demo_contract() -> None:
    registration = Registration("m", "3", True, "f1", 0.7, "2", 0.6)
    assert {"name", "version", "promoted", "metric", "value", "champion_uri"} <= set(registration.as_dict())
    assert registration.champion_uri == "models:/m@champion"
