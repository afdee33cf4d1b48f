"""Keep MLflow from importing all of Feast in every process that talks to a tracking server.

Feast registers an `mlflow.request_header_provider` entry point. MLflow loads every such entry point on
its first tracking request, and loading Feast's imports the whole `feast` package: about 12 CPU-seconds
on a 2-core machine, paid again by every pipeline task. Feast's provider only adds a header inside
Feast's own token scope (Feast data sources reading MLflow), which iml4e components never open, so we
leave that one entry point out. Set `IML4E_KEEP_MLFLOW_PLUGINS=1` to keep every plugin.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.metadata
import os
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

#: (entry-point group, entry-point name) pairs that MLflow should not load.
SKIPPED_PLUGINS = frozenset({("mlflow.request_header_provider", "feast")})
_TARGET = "mlflow.utils.plugins"


def _filter(module: Any) -> None:  # mlflow.utils.plugins
    original = module._get_entry_points
    if getattr(original, "__iml4e_filtered__", False):
        return

    def entry_points(group: str) -> list[importlib.metadata.EntryPoint]:
        return [e for e in original(group) if (group, e.name) not in SKIPPED_PLUGINS]

    entry_points.__iml4e_filtered__ = True  # type: ignore[attr-defined]  # a marker on the function object
    module._get_entry_points = entry_points


class _FilterOnImport(importlib.abc.MetaPathFinder):
    """Applies `_filter` to `mlflow.utils.plugins` right after it is first imported."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != _TARGET:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                loader = spec.loader
                exec_module = loader.exec_module

                def exec_and_filter(module: ModuleType, _exec: Any = exec_module) -> None:
                    _exec(module)
                    _filter(module)

                loader.exec_module = exec_and_filter  # type: ignore[method-assign]  # wraps this one loader's method
                return spec
        return None


def skip_slow_mlflow_plugins() -> None:
    """Install the filter (idempotent); a no-op with IML4E_KEEP_MLFLOW_PLUGINS=1."""
    if os.environ.get("IML4E_KEEP_MLFLOW_PLUGINS") == "1":
        return
    if _TARGET in sys.modules:
        _filter(sys.modules[_TARGET])
    elif not any(isinstance(f, _FilterOnImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _FilterOnImport())
