"""What `iml4e models list|show` reports: registered models from MLflow's registry, their versions,
aliases and model-card verdicts, and where the local platform serves each version."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from iml4e.errors import UsageError
from iml4e.local.services import status_of
from iml4e.local.serving import PREFIX
from iml4e.local.state import PlatformState, ServiceRecord


@dataclass
class Served:
    """A local model server (`serve:NAME`) whose model URI points at a version."""

    name: str
    model_uri: str
    url: str
    v2: str
    v1: str
    state: str  # running | stopped (by `down`) | down (died)


@dataclass
class Version:
    version: str
    aliases: list[str]
    card_verdict: str  # pass | fail | "" when no gate ran
    run_id: str
    source: str
    created: int  # milliseconds since the epoch
    metrics: dict[str, str]  # iml4e.<metric> tags set at registration
    served: list[Served] = field(default_factory=list)


@dataclass
class RegisteredModel:
    name: str
    description: str
    aliases: dict[str, str]  # alias -> version
    versions: list[Version]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def registered_models(state: PlatformState, only: str | None = None) -> list[RegisteredModel]:
    """Every registered model (or just `only`) at the current MLflow tracking URI, newest version first."""
    import mlflow

    client = mlflow.MlflowClient()
    if only is not None:
        names = [only]
        if not client.search_registered_models(filter_string=f"name = '{_quoted(only)}'"):
            known = ", ".join(_all_names(client)) or "none yet"
            raise UsageError(
                f"no registered model named '{only}' at {mlflow.get_tracking_uri()} (registered: {known}); "
                "see 'iml4e models list'"
            )
    else:
        names = _all_names(client)
    servers = _servers(state)
    return [_describe(client, name, servers) for name in names]


def _quoted(name: str) -> str:
    return name.replace("'", "\\'")


def _all_names(client: Any) -> list[str]:
    names: list[str] = []
    token = None
    while True:
        page = client.search_registered_models(max_results=1000, page_token=token)
        names.extend(str(model.name) for model in page)
        token = page.token
        if not token:
            return sorted(names)


def _describe(client: Any, name: str, servers: list[Served]) -> RegisteredModel:
    from iml4e_components.conventions import CARD_VERDICT_TAG

    model = client.get_registered_model(name)
    aliases = {str(alias): str(version) for alias, version in (model.aliases or {}).items()}
    versions = [
        Version(
            version=str(v.version),
            aliases=sorted(a for a, number in aliases.items() if number == str(v.version)),
            card_verdict=str((v.tags or {}).get(CARD_VERDICT_TAG, "")),
            run_id=str(v.run_id or ""),
            source=str(v.source or ""),
            created=int(v.creation_timestamp or 0),
            metrics={
                key.removeprefix("iml4e."): value
                for key, value in sorted((v.tags or {}).items())
                if key.startswith("iml4e.") and key != CARD_VERDICT_TAG
            },
        )
        for v in client.search_model_versions(f"name = '{_quoted(name)}'")
    ]
    versions.sort(key=lambda v: int(v.version) if v.version.isdigit() else 0, reverse=True)
    for version in versions:
        version.served = [s for s in servers if _points_at(s.model_uri, name, version, aliases, versions)]
    return RegisteredModel(
        name=name, description=str(model.description or ""), aliases=aliases, versions=versions
    )


def _points_at(
    uri: str, name: str, version: Version, aliases: dict[str, str], versions: list[Version]
) -> bool:
    """Whether a served model URI resolves to `version` of `name` (by alias, number, latest or run)."""
    if uri.startswith("runs:/"):
        return bool(version.run_id) and uri.removeprefix("runs:/").split("/", 1)[0] == version.run_id
    reference = uri.removeprefix("models:/").strip("/") if uri.startswith("models:/") else None
    if reference is None:
        return False
    if "@" in reference:
        model, alias = reference.split("@", 1)
        return model == name and aliases.get(alias) == version.version
    if "/" in reference:
        model, number = reference.split("/", 1)
        return model == name and number == version.version
    return reference == name and bool(versions) and versions[0] is version


def _servers(state: PlatformState) -> list[Served]:
    listed: list[Served] = []
    for records, stopped in ((state.services, False), (state.stopped, True)):
        for record in records.values():
            if record.name.startswith(PREFIX):
                running = not stopped and status_of(record).running
                listed.append(_served(record, "running" if running else "stopped" if stopped else "down"))
    return listed


def _served(record: ServiceRecord, state: str) -> Served:
    extra = record.extra
    return Served(
        name=record.name.removeprefix(PREFIX),
        model_uri=str(extra.get("model_uri", "")),
        url=record.url,
        v2=str(extra.get("v2", "")),
        v1=str(extra.get("v1", "")),
        state=state,
    )
