"""Conformance specifications for model cards (YAML rules) and the checker that applies them.

A spec is a list of rules; each rule yields one or more results with pass/fail and a reason:

    name: default
    rules:
      - {rule: required_fields, fields: [model_details.name, model_details.owners]}
      - {rule: non_empty, sections: [considerations.use_cases]}
      - {rule: metric_threshold, metric: accuracy, min: 0.7, slices: true}
      - {rule: metric_threshold, metric: ece, max: 0.1, optional: true}
      - {rule: max_slice_gap, metric: accuracy, max_gap: 0.15}
      - {rule: ethical_considerations, min_count: 1, require_mitigation: true}
      - {rule: freshness, max_age_days: 30}

Unknown rules, unknown keys and rules on fields the card schema does not have are errors when the
spec is loaded, not silent passes.
"""

from __future__ import annotations

import types
import typing
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from iml4e_components.errors import ComponentError
from iml4e_components.model_card.card import ModelCard
from iml4e_components.structured_files import load_structured_file

SPECS_DIR = Path(__file__).parent / "specs"


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str = Field(default="", description="Why the rule exists (shown with its result).")


class RequiredFields(_Rule):
    """Each field must be filled (a non-empty text, list or section); in lists, in every item."""

    rule: Literal["required_fields"]
    fields: list[str] = Field(
        min_length=1, description="Dotted card paths, e.g. model_details.owners.contact."
    )


class NonEmpty(_Rule):
    """Each section or list must hold something."""

    rule: Literal["non_empty"]
    sections: list[str] = Field(min_length=1, description="Dotted card paths, e.g. considerations.use_cases.")


class MetricThreshold(_Rule):
    """A metric must be >= min and/or <= max overall and, with `slices`, on every declared slice."""

    rule: Literal["metric_threshold"]
    metric: str
    min: float | None = None
    max: float | None = None
    slices: bool = Field(
        default=False, description="Also check every slice the card reports for this metric."
    )
    optional: bool = Field(default=False, description="Pass when the card does not report the metric at all.")

    @model_validator(mode="after")
    def _bounded(self) -> MetricThreshold:
        if self.min is None and self.max is None:
            raise ValueError(f"metric_threshold on '{self.metric}' needs 'min' or 'max'")
        return self


class MaxSliceGap(_Rule):
    """Largest minus smallest value of a metric across slices must stay within `max_gap` (fairness)."""

    rule: Literal["max_slice_gap"]
    metric: str
    max_gap: float = Field(ge=0)
    require_slices: bool = Field(default=False, description="Fail when fewer than two slices are reported.")


class EthicalConsiderations(_Rule):
    """At least `min_count` ethical considerations, each named and (optionally) with a mitigation."""

    rule: Literal["ethical_considerations"]
    min_count: int = Field(default=1, ge=1)
    require_mitigation: bool = True


class Freshness(_Rule):
    """The evaluation must be at most `max_age_days` old."""

    rule: Literal["freshness"]
    max_age_days: float = Field(gt=0)


Rule = Annotated[
    RequiredFields | NonEmpty | MetricThreshold | MaxSliceGap | EthicalConsiderations | Freshness,
    Field(discriminator="rule"),
]
RULE_NAMES = (
    "required_fields",
    "non_empty",
    "metric_threshold",
    "max_slice_gap",
    "ethical_considerations",
    "freshness",
)


class ConformanceSpec(BaseModel):
    """A named set of rules a model card must satisfy before the model may be registered."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="Short name shown in verdicts.")
    description: str = ""
    rules: list[Rule] = Field(min_length=1)


class RuleResult(BaseModel):
    rule: str
    target: str
    passed: bool
    reason: str


class Verdict(BaseModel):
    spec: str
    passed: bool
    checked_at: datetime
    card: str
    results: list[RuleResult]

    @property
    def failures(self) -> list[RuleResult]:
        return [r for r in self.results if not r.passed]

    def summary(self) -> str:
        """One line: pass, or the failing rules with their reasons."""
        if self.passed:
            return f"model card '{self.card}' conforms to spec '{self.spec}' ({len(self.results)} checks)"
        return f"model card '{self.card}' fails spec '{self.spec}': " + "; ".join(
            f"{r.rule} {r.target}: {r.reason}" for r in self.failures
        )


# ---- field paths -------------------------------------------------------------------------------


def _inner(annotation: Any) -> Any:
    """The model class behind list[X], X | None; the annotation itself otherwise."""
    origin = typing.get_origin(annotation)
    if origin is list:
        return _inner(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _inner(args[0]) if len(args) == 1 else annotation
    return annotation


def check_path(path: str) -> None:
    """Raise unless `path` names a field of the ModelCard schema."""
    current: Any = ModelCard
    walked: list[str] = []
    for part in path.split("."):
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            raise ValueError(f"'{'.'.join(walked)}' has no sub-field '{part}'")
        if part not in current.model_fields:
            choices = ", ".join(current.model_fields)
            where = ".".join(walked) or "the card"
            raise ValueError(f"field '{path}' does not exist: {where} has {choices}")
        current = _inner(current.model_fields[part].annotation)
        walked.append(part)


def _values(node: Any, parts: list[str]) -> list[Any]:
    """Every value at the path (lists fan out, so model_details.owners.name gives each owner's name)."""
    if not parts:
        return [node]
    if isinstance(node, list):
        return [value for item in node for value in _values(item, parts)] if node else [None]
    return _values(getattr(node, parts[0], None), parts[1:])


def _empty(value: Any) -> bool:
    if value is None or value == "" or value == [] or value == {}:
        return True
    if isinstance(value, BaseModel):
        return (
            all(_empty(getattr(value, name)) for name in type(value).model_fields) and not value.model_extra
        )
    return False


# ---- loading ------------------------------------------------------------------------------------


def shipped_specs() -> list[str]:
    return sorted(p.stem for p in SPECS_DIR.glob("*.yaml"))


def load_spec(name_or_path: str | Path) -> ConformanceSpec:
    """A shipped spec by name (e.g. `default`) or a spec YAML file."""
    text = str(name_or_path)
    shipped = SPECS_DIR / f"{text}.yaml"
    if "/" not in text and shipped.is_file():
        path = shipped
    else:
        path = Path(text)
        if not path.is_file():
            raise ComponentError(
                f"conformance spec '{text}' not found; pass a YAML file or a shipped spec: "
                f"{', '.join(shipped_specs())}"
            )
    return parse_spec(load_structured_file(path, "conformance spec"), str(path))


def parse_spec(data: Any, source: str) -> ConformanceSpec:
    if not isinstance(data, dict):
        raise ComponentError(f"conformance spec {source} must be a YAML mapping with 'name' and 'rules'")
    for index, raw in enumerate(data.get("rules") or []):
        if isinstance(raw, dict) and raw.get("rule") not in RULE_NAMES:
            raise ComponentError(
                f"conformance spec {source}: rules[{index}]: unknown rule '{raw.get('rule')}'; "
                f"known rules: {', '.join(RULE_NAMES)}"
            )
    try:
        spec = ConformanceSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ComponentError(f"conformance spec {source}: '{where}': {first['msg']}; fix that key") from exc
    for index, rule in enumerate(spec.rules):
        paths = (
            rule.fields
            if isinstance(rule, RequiredFields)
            else rule.sections
            if isinstance(rule, NonEmpty)
            else []
        )
        for path in paths:
            try:
                check_path(path)
            except ValueError as exc:
                raise ComponentError(
                    f"conformance spec {source}: rules[{index}] ({rule.rule}): {exc}"
                ) from exc
    return spec


# ---- checking -----------------------------------------------------------------------------------


def check_card(card: ModelCard, spec: ConformanceSpec, now: datetime | None = None) -> Verdict:
    """Apply every rule of `spec` to `card`."""
    moment = now or datetime.now(UTC)
    results: list[RuleResult] = []
    for rule in spec.rules:
        results.extend(_apply(rule, card, moment))
    name = card.model_details.name or "(unnamed)"
    if card.model_details.version.name:
        name += f" version {card.model_details.version.name}"
    return Verdict(
        spec=spec.name, passed=all(r.passed for r in results), checked_at=moment, card=name, results=results
    )


def _apply(rule: Any, card: ModelCard, now: datetime) -> list[RuleResult]:
    if isinstance(rule, RequiredFields):
        return [_required(card, path, "required_fields") for path in rule.fields]
    if isinstance(rule, NonEmpty):
        return [_required(card, path, "non_empty") for path in rule.sections]
    if isinstance(rule, MetricThreshold):
        return _threshold(rule, card)
    if isinstance(rule, MaxSliceGap):
        return [_gap(rule, card)]
    if isinstance(rule, EthicalConsiderations):
        return [_ethics(rule, card)]
    return [_freshness(rule, card, now)]


def _required(card: ModelCard, path: str, rule: str) -> RuleResult:
    values = _values(card, path.split("."))
    missing = sum(1 for v in values if _empty(v))
    if not missing:
        return RuleResult(rule=rule, target=path, passed=True, reason="present")
    reason = "missing or empty" if missing == len(values) else f"empty in {missing} of {len(values)} entries"
    return RuleResult(
        rule=rule, target=path, passed=False, reason=f"{reason}; fill it in the human card YAML"
    )


def _compare(value: float, rule: MetricThreshold) -> str | None:
    if rule.min is not None and value < rule.min:
        return f"{value:.4g} < {rule.min:g}"
    if rule.max is not None and value > rule.max:
        return f"{value:.4g} > {rule.max:g}"
    return None


def _bound(rule: MetricThreshold) -> str:
    return " and ".join(
        ([f">= {rule.min:g}"] if rule.min is not None else [])
        + ([f"<= {rule.max:g}"] if rule.max is not None else [])
    )


def _threshold(rule: MetricThreshold, card: ModelCard) -> list[RuleResult]:
    overall = card.metric(rule.metric)
    target = f"{rule.metric} {_bound(rule)}"
    if overall is None:
        if rule.optional:
            return [RuleResult(rule=rule.rule, target=target, passed=True, reason="not reported (optional)")]
        return [
            RuleResult(
                rule=rule.rule, target=target, passed=False, reason=f"metric '{rule.metric}' not reported"
            )
        ]
    problem = _compare(overall, rule)
    results = [
        RuleResult(
            rule=rule.rule, target=target, passed=problem is None, reason=problem or f"{overall:.4g} overall"
        )
    ]
    if rule.slices:
        for slice_name, value in sorted(card.slices(rule.metric).items()):
            problem = _compare(value, rule)
            results.append(
                RuleResult(
                    rule=rule.rule,
                    target=f"{target} on slice {slice_name}",
                    passed=problem is None,
                    reason=problem or f"{value:.4g}",
                )
            )
    return results


def _gap(rule: MaxSliceGap, card: ModelCard) -> RuleResult:
    values = card.slices(rule.metric)
    target = f"{rule.metric} gap <= {rule.max_gap:g}"
    if len(values) < 2:
        passed = not rule.require_slices
        return RuleResult(
            rule=rule.rule,
            target=target,
            passed=passed,
            reason=f"{len(values)} slice(s) reported" + ("" if passed else "; evaluate the model per slice"),
        )
    low, high = min(values, key=values.__getitem__), max(values, key=values.__getitem__)
    gap = values[high] - values[low]
    return RuleResult(
        rule=rule.rule,
        target=target,
        passed=gap <= rule.max_gap,
        reason=f"gap {gap:.4g} between {high} ({values[high]:.4g}) and {low} ({values[low]:.4g})",
    )


def _ethics(rule: EthicalConsiderations, card: ModelCard) -> RuleResult:
    risks = card.considerations.ethical_considerations
    target = (
        f"at least {rule.min_count} with mitigations"
        if rule.require_mitigation
        else f"at least {rule.min_count}"
    )
    named = [r for r in risks if r.name.strip()]
    if len(named) < rule.min_count:
        return RuleResult(
            rule=rule.rule,
            target=target,
            passed=False,
            reason=f"{len(named)} ethical consideration(s) recorded, {rule.min_count} required; "
            "add them under considerations.ethical_considerations",
        )
    unmitigated = [r.name for r in named if rule.require_mitigation and not r.mitigation_strategy.strip()]
    if unmitigated:
        return RuleResult(
            rule=rule.rule,
            target=target,
            passed=False,
            reason=f"no mitigation_strategy for: {', '.join(unmitigated)}",
        )
    return RuleResult(rule=rule.rule, target=target, passed=True, reason=f"{len(named)} recorded")


def _freshness(rule: Freshness, card: ModelCard, now: datetime) -> RuleResult:
    target = f"evaluated within {rule.max_age_days:g} days"
    when = card.quantitative_analysis.evaluated_at
    if when is None and card.model_details.version.date:
        try:
            when = datetime.combine(
                date.fromisoformat(card.model_details.version.date[:10]), datetime.min.time()
            )
        except ValueError:
            when = None
    if when is None:
        return RuleResult(
            rule=rule.rule,
            target=target,
            passed=False,
            reason="no evaluation date (quantitative_analysis.evaluated_at)",
        )
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    age = (now - when).total_seconds() / 86400
    return RuleResult(
        rule=rule.rule,
        target=target,
        passed=age <= rule.max_age_days,
        reason=f"evaluated {age:.1f} days ago ({when.date().isoformat()})",
    )
