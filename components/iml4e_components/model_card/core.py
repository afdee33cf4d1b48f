"""The model card gate: generate the card, merge the human YAML, check it, log it, stop on failure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from iml4e_components.conventions import CARD_ARTIFACT_DIR, CARD_VERDICT_TAG
from iml4e_components.errors import ComponentError
from iml4e_components.model_card.card import (
    ModelCard,
    load_card,
    merge_cards,
    parse_card,
    write_card,
)
from iml4e_components.model_card.generate import card_from_run
from iml4e_components.model_card.render import render_html
from iml4e_components.model_card.spec import Verdict, check_card, load_spec
from iml4e_components.output_files import write_text_atomically

#: The human part of the demo churn model's card, used when the pipeline names none.
SHIPPED_HUMAN_CARD = Path(__file__).parent / "human" / "churn.yaml"


@dataclass(frozen=True)
class GateOutcome:
    card: ModelCard
    verdict: Verdict

    def verdict_json(self) -> str:
        return self.verdict.model_dump_json(indent=2)


def build_card(
    run_id: str,
    model_uri: str,
    model_name: str,
    metrics: Mapping[str, float] | None = None,
    human_card: str = "",
) -> ModelCard:
    """The generated card merged with the human-written YAML ("" = the shipped example)."""
    generated = card_from_run(run_id, model_uri, model_name, metrics)
    human = load_card(human_card or SHIPPED_HUMAN_CARD)
    return merge_cards(generated, human)


def log_card(run_id: str, outcome: GateOutcome, html: str) -> None:
    """card.json, verdict.json and card.html under `model_card/` in the run; tag the run with the verdict."""
    import mlflow

    client = mlflow.MlflowClient()
    client.log_text(run_id, outcome.card.to_json(), f"{CARD_ARTIFACT_DIR}/card.json")
    client.log_text(run_id, outcome.verdict_json() + "\n", f"{CARD_ARTIFACT_DIR}/verdict.json")
    client.log_text(run_id, html, f"{CARD_ARTIFACT_DIR}/card.html")
    client.set_tag(run_id, CARD_VERDICT_TAG, "pass" if outcome.verdict.passed else "fail")


def gate_model_card(
    run_id: str,
    model_uri: str,
    model_name: str,
    metrics: Mapping[str, float],
    card_path: str,
    html_path: str,
    spec: str = "default",
    human_card: str = "",
) -> GateOutcome:
    """Generate, check and log the card; raise ComponentError naming the failing rules if it does not conform.

    The card and verdict are written and logged before the decision, so a failed gate leaves the
    evidence of why in MLflow.
    """
    conformance = load_spec(spec)
    card = build_card(run_id, model_uri, model_name, metrics, human_card)
    outcome = GateOutcome(card=card, verdict=check_card(card, conformance))
    html = render_html(card, outcome.verdict)
    write_card(card, card_path)
    write_text_atomically(html_path, html, "model card page", create_parent=True)
    log_card(run_id, outcome, html)
    if not outcome.verdict.passed:
        raise ComponentError(outcome.verdict.summary() + "; fix the card or the model before registering")
    return outcome


def stamp_registered_version(run_id: str, model_name: str, version: str) -> bool:
    """Name the registry's version in the card that run `run_id` logged, and log it again.

    The gate runs before registration, so the card it logged can only name the run; once the model
    is registered the card should say what the registry says. False when the run logged no card."""
    import json

    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        card_text = mlflow.artifacts.load_text(f"runs:/{run_id}/{CARD_ARTIFACT_DIR}/card.json")
        verdict_text = mlflow.artifacts.load_text(f"runs:/{run_id}/{CARD_ARTIFACT_DIR}/verdict.json")
    except (MlflowException, OSError):
        return False
    card = parse_card(json.loads(card_text), f"run {run_id} card.json")
    card.model_details.version.name = version
    registered = f"Registered as {model_name} version {version}."
    if registered not in card.model_details.documentation:
        card.model_details.documentation = f"{card.model_details.documentation} {registered}".strip()
    outcome = GateOutcome(card=card, verdict=Verdict.model_validate_json(verdict_text))
    log_card(run_id, outcome, render_html(card, outcome.verdict))
    return True
