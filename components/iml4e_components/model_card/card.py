"""A pydantic model of the Model Card Toolkit (MCT) schema v0.0.2, read from and written to its JSON.

Sections: model_details, model_parameters, quantitative_analysis, considerations. Every MCT field is
optional (the MCT schema requires none), which is why conformance is checked against a spec. iml4e
adds a few fields inside sections, where the MCT schema allows extra properties (it forbids them only
at the top level): `model_details.code_version`, `model_parameters.data[].digest` and
`.error_counts`, `model_parameters.training_parameters`, `quantitative_analysis.evaluated_at`.
Unknown fields inside sections are kept on read and written back, so cards from other tools survive
a round trip.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from iml4e_components.errors import ComponentError
from iml4e_components.output_files import write_text_atomically
from iml4e_components.structured_files import load_structured_file

SCHEMA_VERSION = "0.0.2"


class _Section(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Owner(_Section):
    name: str = Field(default="", description="The individual or team who owns the model.")
    contact: str = Field(default="", description="How to reach the owner.")


class Version(_Section):
    name: str = Field(default="", description="The version's name, e.g. the registered model version.")
    date: str = Field(default="", description="When the version was released (ISO date).")
    diff: str = Field(default="", description="What changed from the previous version.")


class License(_Section):
    identifier: str = Field(default="", description="SPDX licence identifier, or 'proprietary'.")
    custom_text: str = Field(default="", description="Text of a custom licence.")


class Reference(_Section):
    reference: str = Field(default="", description="A link to more information.")


class Citation(_Section):
    style: str = ""
    citation: str = ""


class ModelDetails(_Section):
    name: str = Field(default="", description="The model's name.")
    overview: str = Field(default="", description="One-paragraph description of the model.")
    documentation: str = Field(default="", description="A thorough description of the model and its use.")
    owners: list[Owner] = Field(default_factory=list)
    version: Version = Field(default_factory=Version)
    licenses: list[License] = Field(default_factory=list)
    references: list[Reference] = Field(default_factory=list)
    citations: list[Citation] = Field(default_factory=list)
    code_version: str = Field(default="", description="iml4e: the code revision that trained the model.")


class SensitiveData(_Section):
    sensitive_data: list[str] = Field(default_factory=list)


class Graphic(_Section):
    name: str = ""
    image: str = Field(default="", description="A PNG image, base64 encoded.")


class GraphicsCollection(_Section):
    description: str = ""
    collection: list[Graphic] = Field(default_factory=list)


class Dataset(_Section):
    name: str = ""
    link: str = ""
    description: str = ""
    sensitive: SensitiveData = Field(default_factory=SensitiveData)
    graphics: GraphicsCollection = Field(default_factory=GraphicsCollection)
    digest: str = Field(default="", description="iml4e: content digest of the data.")
    error_counts: dict[str, float] = Field(default_factory=dict, description="iml4e: detected data errors.")


class ModelParameters(_Section):
    model_architecture: str = ""
    data: list[Dataset] = Field(default_factory=list)
    input_format: str = ""
    output_format: str = ""
    training_parameters: dict[str, str] = Field(default_factory=dict, description="iml4e: training params.")


class ConfidenceInterval(_Section):
    lower_bound: float
    upper_bound: float


class PerformanceMetric(_Section):
    type: str = Field(description="The metric, e.g. accuracy, f1, ece.")
    value: float
    slice: str = Field(
        default="", description="The data slice it was computed on; empty for the whole test set."
    )
    confidence_interval: ConfidenceInterval | None = None
    description: str = ""


class QuantitativeAnalysis(_Section):
    performance_metrics: list[PerformanceMetric] = Field(default_factory=list)
    graphics: GraphicsCollection = Field(default_factory=GraphicsCollection)
    evaluated_at: datetime | None = Field(default=None, description="iml4e: when the metrics were computed.")


class Described(_Section):
    description: str = ""


class Risk(_Section):
    name: str = Field(default="", description="The ethical or environmental risk.")
    mitigation_strategy: str = Field(default="", description="What is done about it.")


class Considerations(_Section):
    users: list[Described] = Field(default_factory=list)
    use_cases: list[Described] = Field(default_factory=list)
    limitations: list[Described] = Field(default_factory=list)
    tradeoffs: list[Described] = Field(default_factory=list)
    ethical_considerations: list[Risk] = Field(default_factory=list)


class ModelCard(BaseModel):
    """A model card in the MCT v0.0.2 layout (unknown top-level keys are errors, as in the MCT schema)."""

    model_config = ConfigDict(extra="forbid")

    schema_version: str = SCHEMA_VERSION
    model_details: ModelDetails = Field(default_factory=ModelDetails)
    model_parameters: ModelParameters = Field(default_factory=ModelParameters)
    quantitative_analysis: QuantitativeAnalysis = Field(default_factory=QuantitativeAnalysis)
    considerations: Considerations = Field(default_factory=Considerations)

    def metric(self, name: str, slice_name: str = "") -> float | None:
        """The value of metric `name` on `slice_name` ("" = overall), if the card reports it."""
        for entry in self.quantitative_analysis.performance_metrics:
            if entry.type == name and entry.slice == slice_name:
                return entry.value
        return None

    def slices(self, name: str) -> dict[str, float]:
        """Values of metric `name` per declared slice (the overall value excluded)."""
        return {
            m.slice: m.value
            for m in self.quantitative_analysis.performance_metrics
            if m.type == name and m.slice
        }

    def to_json(self) -> str:
        """MCT JSON (empty fields left out, so the file stays readable and schema-valid)."""
        content = {
            "schema_version": self.schema_version,
            **self.model_dump(mode="json", exclude_defaults=True),
        }
        return json.dumps(content, indent=2) + "\n"


def parse_card(data: Any, source: str) -> ModelCard:
    """A ModelCard from parsed JSON/YAML; errors name the field and the source."""
    if not isinstance(data, dict):
        raise ComponentError(
            f"model card {source} must be a JSON/YAML object with MCT sections, got {type(data).__name__}"
        )
    try:
        return ModelCard.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        hint = (
            "sections are model_details, model_parameters, quantitative_analysis, considerations"
            if first["type"] == "extra_forbidden" and len(first["loc"]) == 1
            else "fix that field"
        )
        raise ComponentError(f"model card {source}: field '{where}': {first['msg']}; {hint}") from exc


def load_card(path: str | Path) -> ModelCard:
    """Read a card from MCT JSON or from YAML with the same sections."""
    file = Path(path)
    return parse_card(load_structured_file(file, "model card"), str(file))


def merge_cards(generated: ModelCard, human: ModelCard) -> ModelCard:
    """The generated card completed by the human one: people's text wins; lists are joined."""
    merged = _merge(generated.model_dump(mode="json"), human.model_dump(mode="json", exclude_defaults=True))
    return ModelCard.model_validate(merged)


def _merge(base: Any, extra: Any) -> Any:
    if isinstance(base, dict) and isinstance(extra, dict):
        result = dict(base)
        for key, value in extra.items():
            result[key] = _merge(base.get(key), value) if key in base else value
        return result
    if isinstance(base, list) and isinstance(extra, list):
        return [*base, *(item for item in extra if item not in base)]
    return extra if extra not in (None, "", [], {}) else base


def write_card(card: ModelCard, path: str | Path) -> Path:
    """Write MCT JSON atomically."""
    return write_text_atomically(path, card.to_json(), "model card", create_parent=True)
