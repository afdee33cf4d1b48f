"""Names every layer of iml4e agrees on, defined once: the state directory, where the local stores
live in it, the MLflow tag the model-card gate sets, and the namespace models are served from.

The platform (`iml4e.paths`, the installer, the methodology probes) reads them from here, so a
component and the CLI can never disagree on where lineage is kept or what a tag is called.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The environment variable that moves the state directory.
STATE_DIR_ENV = "IML4E_HOME"
#: The state directory when the variable is unset (relative to the working directory).
DEFAULT_STATE_DIR = ".iml4e"
#: The MLflow tag the model-card gate sets on a run and registration copies to the model version.
CARD_VERDICT_TAG = "iml4e.card_verdict"
#: Where the model-card gate keeps a run's card (card.json, verdict.json, card.html) in its artifacts.
CARD_ARTIFACT_DIR = "model_card"
#: The Kubernetes namespace InferenceServices are deployed to.
SERVING_NAMESPACE = "iml4e-serving"
#: How a newly registered winner reaches its endpoint: replacing the champion at once, or as a canary
#: beside it (it keeps the `challenger` alias; `champion` moves when the canary is promoted).
ROLLOUTS = ("replace", "canary")
#: Set to `canary` on the model container of a KServe canary: a model server that serves one model
#: reports it as its `variant` label (metrics, request log), since the split happens outside it.
SERVING_VARIANT_ENV = "IML4E_SERVING_VARIANT"
#: Library chatter our commands and pipeline steps turn off (a value already set is kept): MLflow's
#: "View run/experiment at" lines after every run, its artifact download bars, every other tqdm bar
#: (tqdm reads TQDM_* as defaults) and pip's version check. Our own output says where to look.
QUIET_LIBRARIES = {
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "TQDM_DISABLE": "1",
    "PIP_DISABLE_PIP_VERSION_CHECK": "1",
}


def state_dir() -> Path:
    """The local platform's state directory: `$IML4E_HOME`, else `./.iml4e` (absolute, `~` expanded)."""
    return Path(os.environ.get(STATE_DIR_ENV) or DEFAULT_STATE_DIR).expanduser().resolve()


def lineage_store_path(root: Path | None = None) -> Path:
    """Where the local OpenLineage transport appends events: `<state>/lineage/events.jsonl`."""
    return (root or state_dir()) / "lineage" / "events.jsonl"


def lineage_graphs_dir(root: Path | None = None) -> Path:
    """Where `iml4e lineage show` writes its HTML graphs: `<state>/lineage/graphs`."""
    return (root or state_dir()) / "lineage" / "graphs"


def quiet_libraries() -> dict[str, str]:
    """Put `QUIET_LIBRARIES` into this process's environment (children inherit it); returns what is in effect."""
    for key, value in QUIET_LIBRARIES.items():
        os.environ.setdefault(key, value)
    return {key: os.environ[key] for key in QUIET_LIBRARIES}
