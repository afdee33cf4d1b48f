"""Where iml4e keeps things: the local state directory and the manifests directory."""

from __future__ import annotations

from pathlib import Path

# The state directory is defined with the other shared names in iml4e_components.conventions.
from iml4e_components.conventions import STATE_DIR_ENV, state_dir

__all__ = ["STATE_DIR_ENV", "manifests_dir", "state_dir"]


def manifests_dir() -> Path:
    """The manifests shipped with iml4e: the installed copy first, the checkout's second."""
    installed = Path(__file__).resolve().parent / "manifests"
    if installed.is_dir():
        return installed
    checkout = Path(__file__).resolve().parents[2] / "manifests"
    if checkout.is_dir():
        return checkout
    from iml4e.errors import Iml4eError

    raise Iml4eError(
        "the manifests directory is missing from this installation; reinstall iml4e (make install)"
    )
