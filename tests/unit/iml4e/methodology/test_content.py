"""The methodology's data files: shape, cross-references and the validation that guards them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from iml4e.methodology.content import (
    Area,
    Capability,
    load_catalogue,
    load_maturity_model,
    load_ml_test_score,
)
from iml4e.methodology.evidence import PROBES


def test_maturity_model_has_seven_areas_five_levels_and_6_to_12_statements_per_area() -> None:
    model = load_maturity_model()
    assert [lv.level for lv in model.levels] == [0, 1, 2, 3, 4]
    assert len(model.areas) == 7
    for area in model.areas:
        assert 6 <= len(area.statements) <= 12, area.id
        assert {s.level for s in area.statements} == {1, 2, 3, 4}, area.id
        for statement in area.statements:
            assert statement.text and statement.action, statement.id


def test_every_capability_and_probe_named_by_the_content_exists() -> None:
    capabilities = load_catalogue().by_id()
    items = [(s.id, s.capability, s.evidence) for a in load_maturity_model().areas for s in a.statements]
    items += [(t.id, t.capability, t.evidence) for t in (v[1] for v in load_ml_test_score().tests().values())]
    items += [(c.id, c.id, c.evidence) for c in capabilities.values()]
    for item, capability, probe in items:
        assert capability is None or capability in capabilities, item
        assert probe is None or probe in PROBES, item


def test_ml_test_score_holds_the_28_tests_in_four_sections() -> None:
    score = load_ml_test_score()
    assert [s.id for s in score.sections] == ["data", "model", "infrastructure", "monitoring"]
    assert [len(s.tests) for s in score.sections] == [7, 7, 7, 7]
    assert len(score.tests()) == 28


def test_governance_area_covers_ethics_tied_to_model_cards() -> None:
    governance = load_maturity_model().area("governance")
    ethics = [s for s in governance.statements if "thic" in s.text]
    assert len(ethics) >= 2
    assert {s.capability for s in ethics} == {"model-documentation"}
    assert any(s.evidence == "ethics_considerations" for s in ethics)


def test_a_statement_id_that_does_not_match_its_area_and_level_is_rejected() -> None:
    statements = [
        {"id": f"DATA-{lv}.1", "level": lv, "text": "t", "action": "a", "capability": None}
        for lv in (1, 2, 3, 4)
    ]
    statements += [{"id": "DATA-1.2", "level": 1, "text": "t", "action": "a", "capability": None}] * 1
    good = {"id": "data", "code": "DATA", "name": "n", "description": "d"}
    Area.model_validate({**good, "statements": [*statements, {**statements[0], "id": "DATA-1.3"}]})
    wrong_level = {**statements[0], "id": "DATA-2.9"}
    with pytest.raises(ValidationError, match=r"DATA-2\.9"):
        Area.model_validate({**good, "statements": [*statements, wrong_level]})


def test_a_capability_with_neither_provider_nor_plan_is_rejected() -> None:
    with pytest.raises(ValidationError, match="no provider"):
        Capability.model_validate(
            {"id": "x", "name": "X", "category": "data", "description": "d", "providers": []}
        )


def _model_card_rule_kinds() -> set[str]:
    from typing import get_args

    from iml4e_components.model_card import spec

    kinds: set[str] = set()
    for value in vars(spec).values():
        if isinstance(value, type) and issubclass(value, spec._Rule) and "rule" in value.model_fields:
            kinds.update(get_args(value.model_fields["rule"].annotation))
    return kinds


def test_ethics_and_documentation_statements_name_real_model_card_spec_rules() -> None:
    kinds = _model_card_rule_kinds()
    assert "ethical_considerations" in kinds
    ruled = {s.id: s.spec_rule for a in load_maturity_model().areas for s in a.statements if s.spec_rule}
    assert ruled["GOV-3.2"] == "ethical_considerations"
    assert ruled["GOV-3.3"] == "max_slice_gap"
    for statement_id, rule in ruled.items():
        assert rule in kinds, f"{statement_id}: model-card spec has no rule '{rule}'"
