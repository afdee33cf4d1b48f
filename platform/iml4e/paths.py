"""Where iml4e keeps things: the local state directory and the manifests directory."""

from __future__ import annotations

import os
from pathlib import Path

STATE_DIR_ENV = "IML4E_HOME"
DEFAULT_STATE_DIR = ".iml4e"


def state_dir() -> Path:
    """The local platform's state directory: `$IML4E_HOME`, else `./.iml4e` (absolute)."""
    configured = os.environ.get(STATE_DIR_ENV)
    return Path(configured or DEFAULT_STATE_DIR).expanduser().resolve()


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
