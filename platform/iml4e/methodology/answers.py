"""Answer files: reading and checking them, and saving the answers of an interactive assessment.

Format (the saved answers of an interactive session use the same one, so they can be passed back
with `--answers`):

    areas:
      data:                    # area id
        DATA-1.1: yes          # statement id: yes | no | partial
    ml_test_score:
      infra-1: automated       # test id: no | manual | automated
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from iml4e.errors import UsageError
from iml4e.methodology.content import load_maturity_model, load_ml_test_score
from iml4e.paths import state_dir
from iml4e_components.output_files import write_text_atomically

STATEMENT_VALUES = ("yes", "no", "partial")
ML_TEST_VALUES = ("no", "manual", "automated")
_TOP_LEVEL_KEYS = ("areas", "ml_test_score")


@dataclass
class Answers:
    """Answers by statement id and by ML test id."""

    statements: dict[str, str] = field(default_factory=dict)
    ml_tests: dict[str, str] = field(default_factory=dict)

    def to_yaml(self) -> str:
        """The answers in the answer-file format, areas and tests in the model's order."""
        model = load_maturity_model()
        areas: dict[str, dict[str, str]] = {}
        for area in model.areas:
            given = {s.id: self.statements[s.id] for s in area.statements if s.id in self.statements}
            if given:
                areas[area.id] = given
        tests = {t: self.ml_tests[t] for t in load_ml_test_score().tests() if t in self.ml_tests}
        document: dict[str, Any] = {"areas": areas}
        if tests:
            document["ml_test_score"] = tests
        header = "# iml4e maturity self-assessment answers (iml4e assess --answers FILE)\n"
        return header + yaml.safe_dump(document, sort_keys=False, default_flow_style=False)


class _AnswerLoader(yaml.SafeLoader):
    """Safe YAML that keeps yes/no as words and refuses a key given twice in one mapping."""


# YAML 1.1 reads yes/no/on/off as booleans; answers are words, so only true/false stay booleans.
_AnswerLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_unique_mapping(loader: _AnswerLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        line = key_node.start_mark.line + 1
        if key in seen:
            raise _DuplicateKey(f"'{key}' is answered twice (lines {seen[key]} and {line}); keep one answer")
        seen[key] = line
    return loader.construct_mapping(node)


class _DuplicateKey(Exception):
    pass


_AnswerLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def read_answers(path: Path) -> Answers:
    """Read and check an answers file; any problem is a `UsageError` naming the offending entry."""
    from iml4e_components.errors import ComponentError
    from iml4e_components.structured_files import load_structured_file

    try:
        document = load_structured_file(path, "answers file", yaml_loader=_AnswerLoader)
    except _DuplicateKey as exc:
        raise UsageError(f"{path}: {exc}") from None
    except ComponentError as exc:
        raise UsageError(f"{exc} (see examples/assessment/answers.yaml)") from None
    return parse_answers(document, str(path))


def parse_answers(document: Any, source: str) -> Answers:
    """Check a loaded answers document against the maturity model and the ML tests."""
    if document is None:
        return Answers()
    if not isinstance(document, dict):
        raise UsageError(f"{source} must be a mapping with 'areas' (and optionally 'ml_test_score')")
    for key in document:
        if key not in _TOP_LEVEL_KEYS:
            raise UsageError(f"{source}: unknown top-level key '{key}'; use 'areas' and 'ml_test_score'")
    answers = Answers()
    model = load_maturity_model()
    known_areas = {a.id: a for a in model.areas}
    statements = model.statements()
    for area_id, given in _mapping(document.get("areas"), f"{source}: 'areas'").items():
        if area_id not in known_areas:
            raise UsageError(f"{source}: unknown area '{area_id}'; areas are {', '.join(known_areas)}")
        for statement_id, value in _mapping(given, f"{source}: area '{area_id}'").items():
            if statement_id not in statements:
                raise UsageError(
                    f"{source}: unknown statement id '{statement_id}' in area '{area_id}'; "
                    f"its statements are {_id_range(known_areas[area_id].statements)}"
                )
            owner = statements[statement_id][0]
            if owner.id != area_id:
                raise UsageError(
                    f"{source}: statement '{statement_id}' belongs to area '{owner.id}', "
                    f"not '{area_id}'; move it there"
                )
            answers.statements[statement_id] = _value(value, STATEMENT_VALUES, source, statement_id)
    tests = load_ml_test_score().tests()
    for test_id, value in _mapping(document.get("ml_test_score"), f"{source}: 'ml_test_score'").items():
        if test_id not in tests:
            raise UsageError(
                f"{source}: unknown ML test id '{test_id}'; "
                "ids are data-1..7, model-1..7, infra-1..7, monitor-1..7"
            )
        answers.ml_tests[test_id] = _value(value, ML_TEST_VALUES, source, test_id)
    return answers


def _mapping(value: Any, where: str) -> dict[Any, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UsageError(f"{where} must be a mapping of id: answer, got {type(value).__name__}")
    return value


def _value(value: Any, allowed: tuple[str, ...], source: str, item: str) -> str:
    word = value.strip().lower() if isinstance(value, str) else None
    if word not in allowed:
        raise UsageError(f"{source}: '{item}' has answer {value!r}; answer one of {', '.join(allowed)}")
    return word


def _id_range(statements: list[Any]) -> str:
    ids = [s.id for s in statements]
    return f"{ids[0]} .. {ids[-1]}"


def saved_answers_path() -> Path:
    """Where an interactive assessment keeps its answers between sessions."""
    return state_dir() / "assessment" / "answers.yaml"


def load_saved_answers() -> Answers:
    """The answers saved by an earlier (possibly interrupted) interactive assessment, or none."""
    path = saved_answers_path()
    if not path.exists():
        return Answers()
    try:
        return read_answers(path)
    except UsageError as exc:
        raise UsageError(f"{exc} (the saved answers; rerun with --restart to discard them)") from exc


def save_answers(answers: Answers) -> Path:
    """Save answers atomically (a crash or Ctrl-C never leaves a half-written file)."""
    path = saved_answers_path()
    write_text_atomically(path, answers.to_yaml(), create_parent=True)
    return path
