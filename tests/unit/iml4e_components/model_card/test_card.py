"""Reading/writing MCT JSON and YAML, merging, metric-name parsing, rendering."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from iml4e_components.errors import ComponentError
from iml4e_components.model_card.card import ModelCard, load_card, merge_cards, write_card
from iml4e_components.model_card.generate import performance_from_metrics
from iml4e_components.model_card.render import write_rendered
from iml4e_components.model_card.spec import check_card, load_spec

from .conftest import NOW

#: A card as the Model Card Toolkit writes it (v0.0.2 layout), with a field iml4e does not model.
MCT_JSON = {
    "schema_version": "0.0.2",
    "model_details": {
        "name": "fine_tuned_mobilenet",
        "owners": [{"name": "Model Cards Team", "contact": "model-cards@example.com"}],
        "version": {"name": "v1.0", "date": "2020-08-01"},
        "licenses": [{"identifier": "Apache-2.0"}],
        "references": [{"reference": "https://example.org/mobilenet"}],
        "citations": [{"style": "text", "citation": "Howard et al."}],
        "path": "/models/mobilenet",
    },
    "model_parameters": {"model_architecture": "MobileNetV2", "data": [{"name": "cats_vs_dogs"}]},
    "quantitative_analysis": {
        "performance_metrics": [
            {"type": "accuracy", "value": 0.92, "slice": "cats"},
            {
                "type": "accuracy",
                "value": 0.9,
                "confidence_interval": {"lower_bound": 0.88, "upper_bound": 0.93},
            },
        ]
    },
    "considerations": {
        "use_cases": [{"description": "Classifying pet photos."}],
        "ethical_considerations": [{"name": "Pet privacy", "mitigation_strategy": "None needed."}],
    },
}


def test_mct_json_round_trips_including_unknown_section_fields(tmp_path: Path) -> None:
    source = tmp_path / "mct.json"
    source.write_text(json.dumps(MCT_JSON), encoding="utf-8")
    card = load_card(source)
    assert card.metric("accuracy") == 0.9 and card.slices("accuracy") == {"cats": 0.92}
    written = write_card(card, tmp_path / "out" / "card.json")
    again = json.loads(written.read_text(encoding="utf-8"))
    assert again == MCT_JSON  # nothing lost, nothing added
    assert not list((tmp_path / "out").glob(".*.tmp"))


def test_card_that_is_not_json_gives_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "card.json"
    path.write_text('{"model_details": {"name": "x",}}', encoding="utf-8")
    with pytest.raises(ComponentError, match=r"is not valid JSON \(line 1, column 32: .*\); fix the syntax"):
        load_card(path)


def test_card_that_is_not_yaml_gives_the_line(tmp_path: Path) -> None:
    path = tmp_path / "card.yaml"
    path.write_text("model_details:\n  name: [unclosed\n", encoding="utf-8")
    with pytest.raises(ComponentError, match=r"is not valid YAML \(line 3"):
        load_card(path)


def test_card_with_an_unknown_section_or_wrong_type_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "card.yaml"
    path.write_text("model_detail:\n  name: x\n", encoding="utf-8")
    with pytest.raises(ComponentError, match=r"field 'model_detail'.*sections are model_details"):
        load_card(path)
    path.write_text(
        "quantitative_analysis:\n  performance_metrics:\n    - {type: f1, value: high}\n", encoding="utf-8"
    )
    with pytest.raises(ComponentError, match=r"field 'quantitative_analysis\.performance_metrics\.0\.value'"):
        load_card(path)
    with pytest.raises(ComponentError, match="model card not found"):
        load_card(tmp_path / "missing.yaml")


def test_merge_keeps_generated_facts_and_adds_human_text(complete_card: ModelCard) -> None:
    human = ModelCard.model_validate(
        {
            "model_details": {"overview": "Written by a person."},
            "considerations": {"users": [{"description": "X"}]},
        }
    )
    merged = merge_cards(complete_card, human)
    assert merged.model_details.overview == "Written by a person."
    assert merged.model_details.name == "churn-classifier"
    assert merged.metric("accuracy") == 0.78
    assert [u.description for u in merged.considerations.users][-1] == "X"


def test_metric_names_become_overall_slice_interval_and_error_counts() -> None:
    performance, errors = performance_from_metrics(
        {
            "accuracy": 0.8,
            "accuracy/region=north": 0.7,
            "slice/region=south/f1": 0.5,
            "f1__contract=two-year": 0.6,
            "calibration_error": 0.03,
            "accuracy_ci_lower": 0.75,
            "accuracy_ci_upper": 0.85,
            "errors_detected": 4,
            "error_detection/missing": 2,
            "training_score": 0.9,
        }
    )
    table = {(m.type, m.slice): m.value for m in performance}
    assert table == {
        ("accuracy", ""): 0.8,
        ("accuracy", "region=north"): 0.7,
        ("f1", "region=south"): 0.5,
        ("f1", "contract=two-year"): 0.6,
        ("ece", ""): 0.03,
    }
    overall = next(m for m in performance if m.type == "accuracy" and not m.slice)
    assert overall.confidence_interval is not None and overall.confidence_interval.lower_bound == 0.75
    assert errors == {"errors_detected": 4.0, "error_detection/missing": 2.0}


def test_html_and_markdown_have_tables_charts_verdict(complete_card: ModelCard, tmp_path: Path) -> None:
    verdict = check_card(complete_card, load_spec("default"), now=NOW)
    page = write_rendered(complete_card, tmp_path / "card.html", verdict).read_text(encoding="utf-8")
    assert "<svg" in page and "accuracy by slice" in page
    assert "<td>contract=month-to-month</td><td>0.7100</td>" in page
    assert "0.7500 to 0.8100" in page
    assert "Age and region could proxy" in page and "PASS" in page
    markdown = write_rendered(complete_card, tmp_path / "card.md", verdict).read_text(encoding="utf-8")
    assert "| accuracy | contract=two-year | 0.9000 | - |" in markdown  # no interval for this one
    assert "| pass | metric_threshold | accuracy >= 0.7 | 0.78 overall |" in markdown
    assert "errors_detected: 12" in markdown
    with pytest.raises(ComponentError, match=r"name the output file \.html or \.md"):
        write_rendered(complete_card, tmp_path / "card.pdf")


def test_rendering_escapes_html_in_card_text(complete_card: ModelCard, tmp_path: Path) -> None:
    complete_card.model_details.overview = "<script>alert(1)</script>"
    page = write_rendered(complete_card, tmp_path / "card.html").read_text(encoding="utf-8")
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_written_cards_are_valid_model_card_toolkit_json(complete_card: ModelCard, tmp_path: Path) -> None:
    import jsonschema

    schema_file = Path(__file__).parents[3] / "fixtures" / "model_card_toolkit" / "model_card.schema.json"
    validator = jsonschema.Draft7Validator(json.loads(schema_file.read_text(encoding="utf-8")))
    written = json.loads(write_card(complete_card, tmp_path / "card.json").read_text(encoding="utf-8"))
    assert not [e.message for e in validator.iter_errors(written)]
    written["model_card_extras"] = {}
    assert validator.iter_errors(written), "the schema must reject unknown top-level keys"
    assert any("Additional properties" in e.message for e in validator.iter_errors(written))


def test_example_human_card_meets_the_strict_spec_documentation_rules(tmp_path: Path) -> None:
    example = Path(__file__).parents[4] / "examples" / "model-card" / "human-card.yaml"
    card = load_card(example)
    strict = load_spec(Path(__file__).parents[4] / "examples" / "model-card" / "strict-spec.yaml")
    verdict = check_card(card, strict, now=NOW)
    ethics = [r for r in verdict.results if r.rule == "ethical_considerations"]
    assert ethics[0].passed and ethics[0].reason == "3 recorded"
    assert all(r.passed for r in verdict.results if r.target.startswith("considerations."))


def test_error_figures_read_as_counts_and_shares(complete_card: ModelCard, tmp_path: Path) -> None:
    from iml4e_components.model_card.render import error_figure

    assert (error_figure(213.0), error_figure(0.0133), error_figure(0.0), error_figure(1.5)) == (
        "213",
        "1.33%",
        "0",
        "1.5",
    )
    complete_card.model_parameters.data[0].error_counts = {"flagged_cells": 213.0, "flagged_share": 0.0133}
    page = write_rendered(complete_card, tmp_path / "card.html").read_text(encoding="utf-8")
    assert "flagged_share: 1.33%" in page and "flagged_cells: 213" in page


def test_the_interval_column_is_left_out_when_no_metric_has_one(
    complete_card: ModelCard, tmp_path: Path
) -> None:
    for metric in complete_card.quantitative_analysis.performance_metrics:
        metric.confidence_interval = None
    page = write_rendered(complete_card, tmp_path / "card.html").read_text(encoding="utf-8")
    markdown = write_rendered(complete_card, tmp_path / "card.md").read_text(encoding="utf-8")
    assert "95% interval" not in page and "95% interval" not in markdown
    assert "| accuracy | contract=two-year | 0.9000 |\n" in markdown
