"""Conformance checks: a complete card passes; missing ethics or a low metric fails with reasons."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from iml4e_components.errors import ComponentError
from iml4e_components.model_card.card import ModelCard, Risk
from iml4e_components.model_card.spec import check_card, load_spec, parse_spec, shipped_specs

from .conftest import NOW

STRICT = Path(__file__).parents[4] / "examples" / "model-card" / "strict-spec.yaml"


def _failures(card: ModelCard, spec: str | Path = "default") -> list[str]:
    verdict = check_card(card, load_spec(spec), now=NOW)
    return [f"{r.rule} {r.target}: {r.reason}" for r in verdict.results if not r.passed]


def test_complete_card_passes_the_default_spec(complete_card: ModelCard) -> None:
    verdict = check_card(complete_card, load_spec("default"), now=NOW)
    assert verdict.passed, verdict.summary()
    assert {r.rule for r in verdict.results} == {
        "required_fields",
        "non_empty",
        "metric_threshold",
        "max_slice_gap",
        "ethical_considerations",
        "freshness",
    }
    assert "default" in shipped_specs()


def test_missing_ethical_considerations_fails_with_the_reason(complete_card: ModelCard) -> None:
    complete_card.considerations.ethical_considerations = []
    (failure,) = _failures(complete_card)
    assert failure.startswith("ethical_considerations")
    assert "0 ethical consideration(s) recorded" in failure


def test_ethical_consideration_without_mitigation_fails(complete_card: ModelCard) -> None:
    complete_card.considerations.ethical_considerations.append(Risk(name="Scores drift for new regions"))
    (failure,) = _failures(complete_card)
    assert "no mitigation_strategy for: Scores drift for new regions" in failure


def test_metric_under_threshold_fails_with_value_and_bound(complete_card: ModelCard) -> None:
    for entry in complete_card.quantitative_analysis.performance_metrics:
        if entry.type == "accuracy" and not entry.slice:
            entry.value = 0.61
    (failure,) = _failures(complete_card)
    assert failure == "metric_threshold accuracy >= 0.7: 0.61 < 0.7"


def test_strict_spec_fails_the_demo_model_on_metrics_slices_and_freshness(complete_card: ModelCard) -> None:
    complete_card.quantitative_analysis.evaluated_at = NOW - timedelta(days=10)
    failures = _failures(complete_card, STRICT)
    assert "metric_threshold accuracy >= 0.85: 0.78 < 0.85" in failures
    assert "metric_threshold accuracy >= 0.85 on slice contract=month-to-month: 0.71 < 0.85" in failures
    assert any(f.startswith("max_slice_gap accuracy gap <= 0.05: gap 0.19") for f in failures)
    assert any(f.startswith("freshness") and "10.0 days ago" in f for f in failures)
    assert any("ethical consideration(s) recorded, 3 required" in f for f in failures)


def test_missing_metric_fails_unless_optional(complete_card: ModelCard) -> None:
    complete_card.quantitative_analysis.performance_metrics = [
        m for m in complete_card.quantitative_analysis.performance_metrics if m.type != "ece"
    ]
    assert _failures(complete_card) == []  # ece is optional in the default spec
    assert "metric_threshold ece <= 0.05: metric 'ece' not reported" in _failures(complete_card, STRICT)


def test_required_field_in_list_items_reports_how_many_are_empty(complete_card: ModelCard) -> None:
    complete_card.model_details.owners[0].contact = ""
    assert _failures(complete_card) == [
        "required_fields model_details.owners.contact: missing or empty; fill it in the human card YAML"
    ]


def test_stale_evaluation_fails_freshness(complete_card: ModelCard) -> None:
    complete_card.quantitative_analysis.evaluated_at = NOW - timedelta(days=45)
    (failure,) = _failures(complete_card)
    assert failure.startswith("freshness evaluated within 30 days: evaluated 45.0 days ago")


def _spec(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_unknown_rule_is_a_one_line_error(tmp_path: Path) -> None:
    path = _spec(tmp_path, "name: x\nrules:\n  - {rule: accuracy_at_least, value: 0.9}\n")
    with pytest.raises(
        ComponentError, match=r"rules\[0\]: unknown rule 'accuracy_at_least'; known rules: required_fields"
    ):
        load_spec(path)


def test_rule_on_a_nonexistent_field_is_an_error(tmp_path: Path) -> None:
    path = _spec(
        tmp_path, "name: x\nrules:\n  - {rule: required_fields, fields: [model_details.owner.name]}\n"
    )
    with pytest.raises(ComponentError) as raised:
        load_spec(path)
    message = str(raised.value)
    assert "field 'model_details.owner.name' does not exist: model_details has name, overview" in message
    assert "\n" not in message


def test_unknown_key_and_missing_bound_are_errors(tmp_path: Path) -> None:
    with pytest.raises(ComponentError, match=r"'rules\.0\.metric_threshold\.minimum': Extra inputs"):
        parse_spec({"name": "x", "rules": [{"rule": "metric_threshold", "metric": "f1", "minimum": 1}]}, "s")
    with pytest.raises(ComponentError, match="needs 'min' or 'max'"):
        parse_spec({"name": "x", "rules": [{"rule": "metric_threshold", "metric": "f1"}]}, "s")


def test_unknown_spec_name_lists_the_shipped_ones() -> None:
    with pytest.raises(ComponentError, match=r"spec 'strictest' not found.*shipped spec: default"):
        load_spec("strictest")


def test_invalid_spec_yaml_names_the_line(tmp_path: Path) -> None:
    path = _spec(tmp_path, "name: x\nrules: [\n")
    with pytest.raises(ComponentError, match=r"is not valid YAML \(line \d+, column \d+"):
        load_spec(path)
