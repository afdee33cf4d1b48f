"""The methodology's content (maturity model, capability catalogue, ML Test Score): load and validate.

The content lives as YAML data files in `iml4e/methodology/data/`; these pydantic models are their
schema, and the cross-file checks (a statement names a capability that the catalogue holds, ids are
unique, statement ids match their area and level) run every time the content is loaded.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from iml4e.errors import Iml4eError

MIN_LEVEL = 0
MAX_LEVEL = 4
_STATEMENT_ID = re.compile(r"^(?P<code>[A-Z]+)-(?P<level>[1-4])\.(?P<n>\d+)$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Level(_Strict):
    """One maturity level."""

    level: int = Field(ge=MIN_LEVEL, le=MAX_LEVEL, description="Level number, 0 (ad hoc) to 4.")
    name: str = Field(description="Short name of the level.")
    description: str = Field(description="What an organisation at this level does.")


class Statement(_Strict):
    """One statement of the self-assessment: it holds or it does not."""

    id: str = Field(description="Stable id, AREACODE-LEVEL.N, e.g. DATA-2.1.")
    level: int = Field(ge=1, le=MAX_LEVEL, description="The level this statement belongs to (1-4).")
    text: str = Field(description="The statement, phrased so that 'yes' means it holds.")
    action: str = Field(description="The improvement action that makes the statement hold.")
    capability: str | None = Field(
        description="Capability id (capabilities.yaml) that supports it; null if none."
    )
    evidence: str | None = Field(default=None, description="Probe id that can prove the statement, if any.")
    spec_rule: str | None = Field(
        default=None,
        description="Model-card conformance rule (iml4e_components.model_card.spec) enforcing it.",
    )


class Area(_Strict):
    """One of the seven areas of the maturity model."""

    id: str = Field(description="Area id used in answer files, e.g. 'data'.")
    code: str = Field(description="Upper-case prefix of this area's statement ids, e.g. 'DATA'.")
    name: str = Field(description="Human-readable name.")
    description: str = Field(description="What the area covers.")
    statements: list[Statement] = Field(min_length=6, max_length=12, description="6-12 statements.")

    @model_validator(mode="after")
    def _statement_ids_match(self) -> Area:
        for statement in self.statements:
            match = _STATEMENT_ID.match(statement.id)
            if not match or match["code"] != self.code or int(match["level"]) != statement.level:
                raise ValueError(
                    f"statement id '{statement.id}' must read {self.code}-{statement.level}.N "
                    f"(area code, then its level {statement.level})"
                )
        return self

    def statements_at(self, level: int) -> list[Statement]:
        return [s for s in self.statements if s.level == level]


class MaturityModel(_Strict):
    version: int
    title: str
    levels: list[Level]
    areas: list[Area] = Field(min_length=7, max_length=7)

    @model_validator(mode="after")
    def _consistent(self) -> MaturityModel:
        if [lv.level for lv in self.levels] != list(range(MIN_LEVEL, MAX_LEVEL + 1)):
            raise ValueError(f"levels must be listed once each, in order {MIN_LEVEL}..{MAX_LEVEL}")
        _require_unique("area id", [a.id for a in self.areas])
        _require_unique("statement id", [s.id for a in self.areas for s in a.statements])
        for area in self.areas:
            empty = [lv for lv in range(1, MAX_LEVEL + 1) if not area.statements_at(lv)]
            if empty:
                raise ValueError(
                    f"area '{area.id}' has no statement at level(s) {empty}; each level needs one"
                )
        return self

    def area(self, area_id: str) -> Area:
        return next(a for a in self.areas if a.id == area_id)

    def level(self, number: int) -> Level:
        return self.levels[number]

    def statements(self) -> dict[str, tuple[Area, Statement]]:
        """Every statement by id, with its area."""
        return {s.id: (a, s) for a in self.areas for s in a.statements}


ProviderKind = Literal["component", "module", "command", "pipeline", "manifest"]


class Provider(_Strict):
    """Something in iml4e that provides a capability."""

    kind: ProviderKind = Field(
        description="What `ref` names: component, module, command, pipeline or manifest."
    )
    ref: str = Field(description="Module path, command name, pipeline name or path under manifests/.")

    def label(self) -> str:
        """How a user reaches this provider."""
        if self.kind == "command":
            return f"iml4e {self.ref}"
        if self.kind == "pipeline":
            return f"iml4e run {self.ref}"
        if self.kind == "manifest":
            return f"manifests/{self.ref}"
        return self.ref


class Capability(_Strict):
    id: str = Field(description="Capability id referenced by statements and ML tests.")
    name: str = Field(description="Human-readable name.")
    category: str = Field(description="Lifecycle stage: data, development, release, operations, ...")
    description: str = Field(description="What the capability does in iml4e.")
    providers: list[Provider] = Field(description="Existing components/commands/pipelines/manifests.")
    planned: str | None = Field(default=None, description="What will provide it, when nothing does yet.")
    evidence: str | None = Field(default=None, description="Probe id showing the capability is in use.")

    @model_validator(mode="after")
    def _provided_or_planned(self) -> Capability:
        if not self.providers and not self.planned:
            raise ValueError(f"capability '{self.id}' has no provider; list one or say what is planned")
        return self


class Catalogue(_Strict):
    version: int
    capabilities: list[Capability]

    @model_validator(mode="after")
    def _unique(self) -> Catalogue:
        _require_unique("capability id", [c.id for c in self.capabilities])
        return self

    def by_id(self) -> dict[str, Capability]:
        return {c.id: c for c in self.capabilities}


class MlTest(_Strict):
    id: str = Field(description="Test id used in answer files, e.g. 'infra-1'.")
    title: str
    description: str
    capability: str | None = Field(description="Capability id that helps automate the test; null if none.")
    evidence: str | None = Field(default=None, description="Probe id that shows the test is automated.")


class MlTestSection(_Strict):
    id: str
    name: str
    tests: list[MlTest] = Field(min_length=7, max_length=7)


class MlTestScore(_Strict):
    version: int
    sections: list[MlTestSection] = Field(min_length=4, max_length=4)

    @model_validator(mode="after")
    def _unique(self) -> MlTestScore:
        _require_unique("ML test id", [t.id for s in self.sections for t in s.tests])
        return self

    def tests(self) -> dict[str, tuple[MlTestSection, MlTest]]:
        return {t.id: (s, t) for s in self.sections for t in s.tests}


def _require_unique(what: str, values: list[str]) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{what} '{value}' appears twice; ids must be unique")
        seen.add(value)


def _read(name: str) -> Any:
    try:
        text = resources.files("iml4e.methodology").joinpath("data", name).read_text(encoding="utf-8")
        return yaml.safe_load(text)
    except (OSError, yaml.YAMLError) as exc:
        raise Iml4eError(f"methodology data file {name} is unreadable ({exc}); reinstall iml4e") from exc


def _validated(model: type[BaseModel], name: str) -> Any:
    try:
        return model.model_validate(_read(name))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise Iml4eError(f"methodology data file {name} is invalid at '{where}': {first['msg']}") from exc


@cache
def load_catalogue() -> Catalogue:
    """The capability catalogue (capabilities.yaml), validated."""
    result: Catalogue = _validated(Catalogue, "capabilities.yaml")
    return result


@cache
def load_maturity_model() -> MaturityModel:
    """The maturity model (maturity_model.yaml), validated, its capabilities checked against the catalogue."""
    model: MaturityModel = _validated(MaturityModel, "maturity_model.yaml")
    _check_capabilities(
        "maturity_model.yaml", [(s.id, s.capability) for a in model.areas for s in a.statements]
    )
    return model


@cache
def load_ml_test_score() -> MlTestScore:
    """The 28 tests of the ML Test Score (ml_test_score.yaml), validated."""
    score: MlTestScore = _validated(MlTestScore, "ml_test_score.yaml")
    _check_capabilities("ml_test_score.yaml", [(t.id, t.capability) for s in score.sections for t in s.tests])
    return score


def _check_capabilities(name: str, pairs: list[tuple[str, str | None]]) -> None:
    known = load_catalogue().by_id()
    for item, capability in pairs:
        if capability is not None and capability not in known:
            raise Iml4eError(
                f"methodology data file {name}: '{item}' names unknown capability '{capability}'; "
                "add it to capabilities.yaml or fix the id"
            )
