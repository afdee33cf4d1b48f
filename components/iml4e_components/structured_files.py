"""Loading a user's JSON or YAML file safely: every problem is a one-line `ComponentError` naming the
file and the fix, never a traceback. Covers a missing or unreadable file, bytes that are not UTF-8,
syntax errors, and nesting so deep that the parser runs out of stack (a crafted `[[[[...` file)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from iml4e_components.errors import ComponentError


def load_structured_file(path: Path, what: str, *, yaml_loader: type[yaml.SafeLoader] | None = None) -> Any:
    """Parse `path` as JSON (suffix `.json`) or YAML (anything else, with `yaml_loader`, a `yaml.SafeLoader`
    subclass, by default SafeLoader itself). `what` names the file in messages, e.g. "model card"."""
    if path.is_dir():
        raise ComponentError(f"cannot read {what} {path}: it is a directory; pass a JSON or YAML file")
    if not path.is_file():
        raise ComponentError(f"{what} not found: {path}; pass an existing JSON or YAML file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ComponentError(
            f"{what} {path} is not UTF-8 text (byte {exc.start}: {exc.reason}); save it as UTF-8 JSON or YAML"
        ) from None
    except OSError as exc:
        raise ComponentError(
            f"cannot read {what} {path} ({exc.strerror or exc}); check the path and its permissions"
        ) from None
    return parse_structured_text(
        text, f"{what} {path}", as_json=path.suffix.lower() == ".json", yaml_loader=yaml_loader
    )


def parse_structured_text(
    text: str, what: str, *, as_json: bool, yaml_loader: type[yaml.SafeLoader] | None = None
) -> Any:
    """Parse JSON or YAML text; `what` names its source in messages."""
    try:
        if as_json:
            return json.loads(text)
        return yaml.load(text, Loader=yaml_loader or yaml.SafeLoader)  # nosec B506  # SafeLoader subclasses only
    except RecursionError:
        raise ComponentError(
            f"{what} is nested too deeply to read; flatten it (a few hundred levels at most)"
        ) from None
    except json.JSONDecodeError as exc:
        raise ComponentError(
            f"{what} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); fix the syntax"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise ComponentError(f"{what} is not valid YAML ({where}{problem}); fix the syntax") from None
