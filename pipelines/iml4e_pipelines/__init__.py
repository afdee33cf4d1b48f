"""Reusable iml4e pipelines, composed only of `iml4e_components`.

`PIPELINES` maps each pipeline's name to `module:function`; modules are imported on demand so
that listing pipelines stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

PIPELINES: dict[str, str] = {
    "tabular_training": "iml4e_pipelines.tabular_training:tabular_training",
    "continuous_training": "iml4e_pipelines.continuous_training:continuous_training",
    "batch_scoring": "iml4e_pipelines.batch_scoring:batch_scoring",
}


def load_pipeline(name: str) -> Any:
    """Import and return the pipeline function registered as `name` (KeyError if unknown)."""
    module_name, attribute = PIPELINES[name].split(":")
    return getattr(importlib.import_module(module_name), attribute)
