"""Every third-party module our three packages import comes from a distribution pyproject.toml declares.

A module that arrives only through another package's dependencies disappears when that package drops
it, so each direct import, lazy ones inside functions included, must be declared itself.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUR_PACKAGES = {
    "iml4e": REPO / "platform" / "iml4e",
    "iml4e_components": REPO / "components" / "iml4e_components",
    "iml4e_pipelines": REPO / "pipelines" / "iml4e_pipelines",
}


def normalised(distribution: str) -> str:
    """The distribution name as PEP 503 compares names."""
    return re.sub(r"[-_.]+", "-", distribution).lower()


def declared_distributions(pyproject: Path) -> set[str]:
    """The names in `[project] dependencies` and its optional extras (`ray`, imported only by the engine
    that needs it), normalised, without versions, extras or markers."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    extras = project.get("optional-dependencies", {})
    requirements = [*project["dependencies"], *(r for group in extras.values() for r in group)]
    names = set()
    for requirement in requirements:
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
        assert match, f"cannot read the distribution name of {requirement!r}"
        names.add(normalised(match.group(1)))
    return names


def imported_modules(sources: Iterable[Path]) -> dict[str, set[Path]]:
    """Absolute imports (dotted names) in `sources`, at any depth, with the files that import them.

    `from a import b` counts as `a.b` too, so that a namespace package's part is seen (`from google
    import protobuf`).
    """
    found: dict[str, set[Path]] = {}
    for source in sources:
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"), str(source))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            else:
                continue
            for name in names:
                found.setdefault(name, set()).add(source)
    return found


@cache
def _files(distribution: str) -> frozenset[str]:
    """The paths `distribution` installs, relative to site-packages."""
    return frozenset(str(path) for path in importlib.metadata.distribution(distribution).files or ())


def _namespace_package(name: str, distributions: set[str]) -> bool:
    """No distribution ships `name` as a regular package (`name/__init__.py`) or a module (`name.py`, `name.*.so`)."""
    return not any(
        f == f"{name}/__init__.py" or ("/" not in f and f.split(".")[0] == name)
        for d in distributions
        for f in _files(d)
    )


def distribution_unit(module: str, top_level: Mapping[str, list[str]]) -> tuple[str, set[str]] | None:
    """The installed unit `module` belongs to, and the distributions (normalised) that provide it.

    The unit is the top-level package (`mlflow` for `mlflow.pyfunc`, which `mlflow` and `mlflow-skinny`
    both install into), or for a namespace package shared by several distributions the part imported
    (`google.protobuf`, shipped by `protobuf` alone). None for a bare namespace package (`google` in
    `from google import protobuf`): its part is checked instead.
    """
    parts = module.split(".")
    candidates = set(top_level.get(parts[0], []))
    if not candidates or not _namespace_package(parts[0], candidates):
        return parts[0], {normalised(d) for d in candidates}
    if len(parts) == 1:
        return None
    part = f"{parts[0]}/{parts[1]}"
    shipping = {
        d for d in candidates if any(f.startswith(f"{part}/") or f == f"{part}.py" for f in _files(d))
    }
    return f"{parts[0]}.{parts[1]}", {normalised(d) for d in shipping}


def undeclared_imports(sources: Iterable[Path], declared: set[str], ours: Iterable[str]) -> list[str]:
    """One line per imported third-party unit whose distribution is not declared."""
    top_level = importlib.metadata.packages_distributions()
    skipped = set(sys.stdlib_module_names) | set(ours)
    units: dict[str, tuple[set[str], set[Path]]] = {}
    for module, files in imported_modules(sources).items():
        found = None if module.split(".")[0] in skipped else distribution_unit(module, top_level)
        if found is not None:
            units.setdefault(found[0], (found[1], set()))[1].update(files)
    problems = []
    for unit, (providers, files) in sorted(units.items()):
        where = ", ".join(sorted(str(f.relative_to(REPO) if f.is_relative_to(REPO) else f) for f in files))
        if not providers:
            problems.append(f"{unit} (imported in {where}) comes from no installed distribution")
        elif not providers & declared:
            problems.append(
                f"{unit} (imported in {where}) comes from {' or '.join(sorted(providers))}, "
                "which [project] dependencies in pyproject.toml does not declare; add it with a floor"
            )
    return problems


def _our_sources() -> list[Path]:
    return sorted(path for root in OUR_PACKAGES.values() for path in root.rglob("*.py"))


def test_every_imported_distribution_is_declared() -> None:
    sources = _our_sources()
    assert len(sources) > 100, "the walk found too few modules; did the package layout move?"
    problems = undeclared_imports(sources, declared_distributions(REPO / "pyproject.toml"), OUR_PACKAGES)
    assert not problems, "\n".join(problems)


def test_the_check_reports_an_import_that_arrives_only_indirectly(tmp_path: Path) -> None:
    module = tmp_path / "module.py"
    module.write_text(
        "import json\n"
        "import mypackage.sub\n"
        "from mlflow import pyfunc\n"
        "def lazy():\n"
        "    import orjson\n"
        "    from google.protobuf import json_format\n",
        encoding="utf-8",
    )
    declared = {"mlflow", "google-auth"}

    problems = undeclared_imports([module], declared, ["mypackage"])

    assert problems == [
        f"google.protobuf (imported in {module}) comes from protobuf, which [project] dependencies in "
        "pyproject.toml does not declare; add it with a floor",
        f"orjson (imported in {module}) comes from orjson, which [project] dependencies in "
        "pyproject.toml does not declare; add it with a floor",
    ]
    assert undeclared_imports([module], declared | {"protobuf", "orjson"}, ["mypackage"]) == []


def test_the_check_reports_a_module_no_distribution_provides(tmp_path: Path) -> None:
    module = tmp_path / "module.py"
    module.write_text("import surely_not_installed_anywhere\n", encoding="utf-8")

    assert undeclared_imports([module], set(), []) == [
        f"surely_not_installed_anywhere (imported in {module}) comes from no installed distribution"
    ]


def test_declared_names_are_normalised(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\ndependencies = ["PyYAML>=6.0", "openlineage_python>=1.30", "moto[s3]>=5.0; python_version>\'3\'"]\n',
        encoding="utf-8",
    )

    assert declared_distributions(pyproject) == {"pyyaml", "openlineage-python", "moto"}
