"""How every iml4e component becomes a KFP v2 lightweight component.

One setting decides the image: `IML4E_COMPONENT_IMAGE` (read when the component modules are
imported). The image already contains kfp and iml4e_components, so components never pip-install
anything at run time; locally, `kfp.local`'s subprocess runner runs them with the current Python.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

from iml4e_components import __version__

IMAGE_ENV = "IML4E_COMPONENT_IMAGE"
DEFAULT_IMAGE = f"ghcr.io/iml4e/iml4e-python:{__version__}"

F = TypeVar("F", bound=Callable[..., Any])


def component_image() -> str:
    """The container image every component runs in on a cluster."""
    return os.environ.get(IMAGE_ENV, DEFAULT_IMAGE)


def iml4e_component(func: F) -> Any:
    """Wrap `func` as a KFP lightweight component that runs in the iml4e image, with no pip installs.

    The wrapper function must import what it needs inside its body (KFP ships only its source).
    The component's stable name is the function's name; its version is the library's version
    (`component.iml4e_version`), which is also the image tag.
    """
    from kfp import dsl

    component = dsl.component(func, base_image=component_image(), install_kfp_package=False)
    component.iml4e_version = __version__
    return component
