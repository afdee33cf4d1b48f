"""Feast feature store: apply a feature repo, materialize it online, fetch training and serving features.

The feature repo's `feature_store.yaml` decides where the stores live. The local default is Feast's
`local` provider with a `file` offline store and a `sqlite` online store inside the repo; the cluster
profile points the same repo at the platform's Feast server (`registry_type: remote`,
`offline_store: type: remote`, `online_store: type: remote`). `IML4E_FEAST_FS_YAML` may name another
`feature_store.yaml` to use instead of the repo's own, so one repo serves both targets without edits.
"""

from __future__ import annotations

import importlib.util
import os
import re
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from iml4e_components.errors import ComponentError

if TYPE_CHECKING:
    from feast import FeatureStore

#: Environment variable naming a `feature_store.yaml` that overrides the repo's own (e.g. a remote server).
FS_YAML_ENV = "IML4E_FEAST_FS_YAML"
#: Column of the entity table holding each row's point in time (Feast's default name).
TIMESTAMP_COLUMN = "event_timestamp"
_FEATURE_REF = re.compile(r"^[\w-]+:[\w-]+$")


@dataclass(frozen=True)
class Materialization:
    """What `materialize_features` loaded into the online store."""

    project: str
    feature_views: list[str]
    start: str | None
    end: str
    online_store: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def open_feature_store(repo_path: str | Path) -> FeatureStore:
    """The Feast store of the repo at `repo_path` (its `feature_store.yaml`, or `$IML4E_FEAST_FS_YAML`)."""
    from feast import FeatureStore

    repo = Path(repo_path).expanduser()
    override = os.environ.get(FS_YAML_ENV, "")
    fs_yaml = Path(override).expanduser() if override else repo / "feature_store.yaml"
    if not repo.is_dir():
        raise ComponentError(f"feature repo not found: {repo}; pass the folder holding feature_store.yaml")
    if not fs_yaml.is_file():
        where = f"{FS_YAML_ENV}={override}" if override else f"feature repo {repo}"
        raise ComponentError(
            f"no feature_store.yaml in {where}; create one (see `feast init`) or fix the path"
        )
    try:
        return FeatureStore(repo_path=str(repo.resolve()), fs_yaml_file=fs_yaml.resolve())
    except Exception as exc:  # Feast raises pydantic, yaml and its own errors for a bad config
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ComponentError(f"invalid feature store config {fs_yaml}: {reason}") from exc


def feature_repo_objects(repo_path: str | Path) -> list[Any]:
    """The Feast objects (entities, sources, feature views, services) defined in the repo's Python files.

    Each file is imported under a unique module name, so two repos with same-named files never mix.
    """
    from feast import Entity, FeatureService, FeatureView, OnDemandFeatureView
    from feast.data_source import DataSource
    from feast.repo_operations import get_repo_files

    kinds = (Entity, DataSource, FeatureView, OnDemandFeatureView, FeatureService)
    repo = Path(repo_path).expanduser().resolve()
    found: list[Any] = []
    for file in get_repo_files(repo):
        spec = importlib.util.spec_from_file_location(f"iml4e_feature_repo_{uuid.uuid4().hex[:8]}", file)
        if spec is None or spec.loader is None:
            raise ComponentError(f"cannot import feature definition file {file}")
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise ComponentError(
                f"importing feature definitions {file} failed: {type(exc).__name__}: {exc}"
            ) from exc
        found.extend(
            obj
            for obj in vars(module).values()
            if isinstance(obj, kinds) and not any(obj is f for f in found)
        )
    if not any(isinstance(obj, FeatureView) for obj in found):
        raise ComponentError(f"feature repo {repo} defines no FeatureView; add one in a .py file of the repo")
    return found


def apply_feature_repo(repo_path: str | Path, store: FeatureStore | None = None) -> list[str]:
    """Register the repo's definitions in its registry (like `feast apply`); returns the feature views."""
    from feast import FeatureView

    store = store or open_feature_store(repo_path)
    objects = feature_repo_objects(repo_path)
    try:
        store.apply(objects)
    except Exception as exc:
        raise ComponentError(f"feast apply failed for {repo_path}: {type(exc).__name__}: {exc}") from exc
    return sorted(obj.name for obj in objects if isinstance(obj, FeatureView))


def materialize_features(
    repo_path: str | Path,
    end_date: str = "",
    start_date: str = "",
    feature_views: list[str] | None = None,
    apply: bool = True,
) -> Materialization:
    """Load feature values from the offline store into the online store.

    With `start_date`, the window [start, end] is loaded; without it, everything since the last
    materialization (or each view's TTL) up to `end_date` (default: now, UTC). `apply` first
    registers the repo's definitions, so a fresh repo works in one step.
    """
    store = open_feature_store(repo_path)
    known = (
        apply_feature_repo(repo_path, store) if apply else sorted(v.name for v in store.list_feature_views())
    )
    chosen = feature_views or known
    unknown = [name for name in chosen if name not in known]
    if unknown:
        raise ComponentError(
            f"unknown feature view(s) {', '.join(unknown)}; the repo defines: {', '.join(known) or 'none'}"
        )
    end = parse_timestamp(end_date, "end_date") if end_date else datetime.now(UTC)
    start = parse_timestamp(start_date, "start_date") if start_date else None
    if start is not None and start >= end:
        raise ComponentError(f"start_date {start.isoformat()} is not before end_date {end.isoformat()}")
    try:
        if start is None:
            store.materialize_incremental(end_date=end, feature_views=chosen)
        else:
            store.materialize(start_date=start, end_date=end, feature_views=chosen)
    except Exception as exc:
        raise ComponentError(
            f"materializing {', '.join(chosen)} failed: {type(exc).__name__}: {exc}"
        ) from exc
    return Materialization(
        project=store.project,
        feature_views=chosen,
        start=start.isoformat() if start else None,
        end=end.isoformat(),
        online_store=str(store.config.online_store.type),
    )


def get_training_features(
    repo_path: str | Path,
    entities: pd.DataFrame,
    features: list[str] | None = None,
    feature_service: str = "",
) -> pd.DataFrame:
    """Point-in-time correct training table: each entity row joined with its features as of its timestamp.

    `entities` holds the entity join keys, an `event_timestamp` column and any labels; features
    are `view:feature` references or a feature service by name (one of the two).
    """
    if entities.empty:
        raise ComponentError(
            "entity table is empty; it needs the join key(s), event_timestamp and at least one row"
        )
    if TIMESTAMP_COLUMN not in entities.columns:
        raise ComponentError(
            f"entity table has no '{TIMESTAMP_COLUMN}' column; "
            f"add each row's point in time as '{TIMESTAMP_COLUMN}'"
        )
    store = open_feature_store(repo_path)
    wanted = _feature_selection(store, features, feature_service)
    join_keys = _join_keys(store, wanted)
    missing = [key for key in join_keys if key not in entities.columns]
    if missing:
        raise ComponentError(
            f"entity table lacks join key column(s) {', '.join(missing)}; "
            f"its columns: {', '.join(map(str, entities.columns))}"
        )
    frame = entities.copy()
    try:
        frame[TIMESTAMP_COLUMN] = pd.to_datetime(frame[TIMESTAMP_COLUMN], utc=True)
    except (ValueError, TypeError) as exc:
        raise ComponentError(
            f"column '{TIMESTAMP_COLUMN}' has values that are not timestamps: {exc}"
        ) from exc
    try:
        job = store.get_historical_features(entity_df=frame, features=wanted)
        return job.to_df()
    except Exception as exc:
        raise ComponentError(f"fetching training features failed: {type(exc).__name__}: {exc}") from exc


def get_online_features(
    repo_path: str | Path,
    entity_rows: list[dict[str, Any]],
    features: list[str] | None = None,
    feature_service: str = "",
) -> pd.DataFrame:
    """The latest materialized feature values for each entity row (serving time)."""
    if not entity_rows:
        raise ComponentError("no entity rows given; pass at least one row of join key values")
    store = open_feature_store(repo_path)
    wanted = _feature_selection(store, features, feature_service)
    try:
        return store.get_online_features(features=wanted, entity_rows=entity_rows).to_df()
    except Exception as exc:
        raise ComponentError(f"fetching online features failed: {type(exc).__name__}: {exc}") from exc


def parse_name_list(text: str, parameter: str, example: str) -> list[str]:
    """A component parameter holding a JSON list of names ("" means none); errors name the parameter."""
    import json

    try:
        names = json.loads(text or "[]")
    except json.JSONDecodeError as exc:
        raise ComponentError(f"{parameter} is not JSON ({exc.msg}); pass e.g. '{example}'") from exc
    return names  # type: ignore[no-any-return]  # json.loads returns Any


def parse_timestamp(text: str, name: str) -> datetime:
    """An ISO 8601 date or time as an aware UTC datetime; errors name the parameter."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ComponentError(
            f"{name} '{text}' is not an ISO date or time; write e.g. 2026-01-31 or 2026-01-31T12:00:00"
        ) from exc
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _feature_selection(store: FeatureStore, features: list[str] | None, feature_service: str) -> Any:
    if bool(features) == bool(feature_service):
        raise ComponentError(
            "name the features to fetch: pass either features (view:feature, ...) or feature_service"
        )
    if feature_service:
        try:
            return store.get_feature_service(feature_service)
        except Exception as exc:
            raise ComponentError(
                f"unknown feature service '{feature_service}'; "
                "apply the repo first (materialize_features) or fix the name"
            ) from exc
    refs = list(features or [])
    malformed = [ref for ref in refs if not _FEATURE_REF.match(ref)]
    if malformed:
        raise ComponentError(
            f"malformed feature reference(s) {', '.join(malformed)}; write them as view:feature"
        )
    views = {view.name: view for view in store.list_feature_views()}
    for ref in refs:
        view_name, feature = ref.split(":")
        if view_name not in views:
            raise ComponentError(
                f"unknown feature view '{view_name}' in '{ref}'; "
                f"registered views: {', '.join(sorted(views)) or 'none'} "
                "(apply the repo first with materialize_features)"
            )
        names = [field.name for field in views[view_name].features]
        if feature not in names:
            raise ComponentError(
                f"feature view '{view_name}' has no feature '{feature}'; it has: {', '.join(names)}"
            )
    return refs


def _join_keys(store: FeatureStore, selection: Any) -> list[str]:
    """The entity join keys the selected feature views need."""
    if isinstance(selection, list):
        view_names = {ref.split(":")[0] for ref in selection}
    else:
        view_names = {projection.name for projection in selection.feature_view_projections}
    keys: list[str] = []
    for view in store.list_feature_views():
        if view.name in view_names:
            for column in view.entity_columns:
                if column.name not in keys:
                    keys.append(column.name)
    return keys
