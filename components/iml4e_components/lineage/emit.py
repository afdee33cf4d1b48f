"""OpenLineage run events for one pipeline step, through the official `openlineage-python` client.

    with lineage_step("train_model", inputs={"train": train}, outputs={"model": model}) as step:
        ...
        step.annotate(mlflow_run_id=run_id, model_uri=uri)

emits START on enter and COMPLETE (or FAIL with the error message) on exit. Job namespace is
`$IML4E_LINEAGE_NAMESPACE` (default `iml4e`), job name `<pipeline>.<job>` with the pipeline from
`$IML4E_PIPELINE_NAME`; the parent run facet points at the pipeline run `$IML4E_PIPELINE_RUN_ID`
(on a cluster `$KFP_RUN_ID`). Events go to the local store (`<state>/lineage/events.jsonl`) and,
when `$OPENLINEAGE_URL` is set, over HTTP to Marquez or any OpenLineage backend.

Emitting never breaks a pipeline: every failure is logged, counted (`emit_stats()`) and retried.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
import traceback
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attr
from openlineage.client.generated import base as ol
from openlineage.client.generated import (
    data_quality_metrics_input_dataset,
    dataset_version_dataset,
    error_message_run,
    job_type_job,
    output_statistics_output_dataset,
    parent_run,
    schema_dataset,
)
from openlineage.client.transport import Transport

from iml4e_components import __version__
from iml4e_components.conventions import lineage_store_path
from iml4e_components.lineage.store import append_event
from iml4e_components.task_errors import record_task_error

log = logging.getLogger(__name__)

PRODUCER = f"https://github.com/iml4e/iml4e/tree/v{__version__}/components/iml4e_components/lineage"
FACET_SCHEMA_BASE = "https://iml4e.dev/spec/lineage/1-0-0"
#: Name of the custom run facet holding `annotate()` values and the pipeline run id.
RUN_FACET = "iml4e"
#: Name of the custom dataset facet holding the artifact's kind, metadata and content digest.
DATASET_FACET = "iml4e_artifact"
NAMESPACE_ENV = "IML4E_LINEAGE_NAMESPACE"
DEFAULT_NAMESPACE = "iml4e"
ATTEMPTS = 3
#: Undelivered events are counted here, beside the event store.
FAILURES_FILE = "delivery-failures.jsonl"
_MAX_DIGEST_BYTES = 512 * 1024 * 1024

_stats = {"emitted": 0, "failed": 0, "retried": 0}


def emit_stats() -> dict[str, int]:
    """Counts of events emitted, deliveries failed after all retries, and retries, in this process."""
    return dict(_stats)


@attr.define
class Iml4eRunFacet(ol.RunFacet):  # type: ignore[misc]  # openlineage is Any to mypy (follow_imports=skip)
    """iml4e values of a step run: pipeline run, MLflow run, model name/version/URI/alias, card verdict."""

    values: dict[str, Any] = attr.field(factory=dict)

    @staticmethod
    def _get_schema() -> str:
        return f"{FACET_SCHEMA_BASE}/Iml4eRunFacet.json"


@attr.define
class Iml4eArtifactFacet(ol.DatasetFacet):  # type: ignore[misc]  # openlineage is Any to mypy (follow_imports=skip)
    """What the dataset is to iml4e: artifact kind, its KFP metadata and a content digest."""

    kind: str = ""
    digest: str | None = None
    metadata: dict[str, Any] = attr.field(factory=dict)

    @staticmethod
    def _get_schema() -> str:
        return f"{FACET_SCHEMA_BASE}/Iml4eArtifactFacet.json"


class LocalStoreTransport(Transport):  # type: ignore[misc]  # openlineage is Any to mypy (follow_imports=skip)
    """Appends every event to the local event store (one JSON line each)."""

    kind = "iml4e-local"

    def __init__(self, path: Path | None = None) -> None:
        self.path = path

    def emit(self, event: Any) -> None:
        append_event(event_as_dict(event), self.path)


def event_as_dict(event: Any) -> dict[str, Any]:
    """The event as the JSON object the OpenLineage spec describes."""
    from openlineage.client.serde import Serde

    result: dict[str, Any] = json.loads(Serde.to_json(event))
    return result


def configured_transports() -> list[Transport]:
    """The local store always; HTTP too when `OPENLINEAGE_URL` names a backend (e.g. Marquez)."""
    transports: list[Transport] = [LocalStoreTransport(lineage_store_path())]
    url = os.environ.get("OPENLINEAGE_URL", "").strip()
    if url:
        from openlineage.client.transport.http import HttpConfig, HttpTransport

        params: dict[str, Any] = {
            "url": url,
            "endpoint": os.environ.get("OPENLINEAGE_ENDPOINT", "api/v1/lineage"),
            "timeout": 5.0,
            "retry": {"total": 0},
        }
        if api_key := os.environ.get("OPENLINEAGE_API_KEY"):
            params["auth"] = {"type": "api_key", "apiKey": api_key}
        transports.append(HttpTransport(HttpConfig.from_dict(params)))
    return transports


def record_failure(transport: str | None, error: str, event: Any) -> None:
    """Count an undelivered event in `<state>/lineage/delivery-failures.jsonl` (best effort)."""
    try:
        append_event(
            {
                "eventTime": datetime.now(UTC).isoformat(),
                "transport": transport,
                "error": error[:500],
                "job": getattr(getattr(event, "job", None), "name", None),
                "eventType": getattr(getattr(event, "eventType", None), "value", None),
            },
            lineage_store_path().with_name(FAILURES_FILE),
        )
    except Exception as exc:  # the disk itself may be the problem; the warning above already tells
        log.debug("lineage: cannot record the delivery failure (%s)", exc)


def deliver(event: Any, transports: list[Transport] | None = None, backoff: float = 0.2) -> bool:
    """Send `event` through every transport, retrying each; never raises. True if all delivered."""
    delivered = True
    try:
        targets = configured_transports() if transports is None else transports
    except Exception as exc:  # a bad OPENLINEAGE_* setting must not fail the step
        log.warning("lineage: cannot configure transports (%s: %s); event dropped", type(exc).__name__, exc)
        _stats["failed"] += 1
        return False
    for transport in targets:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                transport.emit(event)
                _stats["emitted"] += 1
                break
            except Exception as exc:  # delivery problems are reported, never raised
                if attempt == ATTEMPTS:
                    _stats["failed"] += 1
                    delivered = False
                    log.warning(
                        "lineage: %s transport failed %d times (%s: %s); event dropped",
                        transport.kind,
                        ATTEMPTS,
                        type(exc).__name__,
                        exc,
                    )
                    record_failure(transport.kind, f"{type(exc).__name__}: {exc}", event)
                else:
                    _stats["retried"] += 1
                    time.sleep(backoff * attempt)
    return delivered


@dataclass
class _DatasetRef:
    namespace: str
    name: str
    path: Path | None
    kind: str
    metadata: dict[str, Any]


def _as_uuid(text: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"iml4e:pipeline-run:{text}"))


def dataset_identity(uri: str) -> tuple[str, str]:
    """OpenLineage (namespace, name) of a URI or path: (`s3://bucket`, key), (`file`, absolute path)."""
    if "://" in uri:
        scheme, _, rest = uri.partition("://")
        if scheme == "file":
            return "file", str(Path(rest).resolve())
        bucket, _, key = rest.partition("/")
        return f"{scheme}://{bucket}", key or "/"
    scheme, sep, rest = uri.partition(":")
    if sep and len(scheme) > 1 and not uri.startswith("/"):
        return scheme, rest.lstrip("/") or rest
    return "file", str(Path(uri).expanduser().resolve())


def _reference(value: Any) -> _DatasetRef | None:
    if value is None or value == "":
        return None
    if isinstance(value, str | Path):
        text = str(value)
        namespace, name = dataset_identity(text)
        local = Path(name) if namespace == "file" else None
        return _DatasetRef(namespace, name, local, "path" if local else "uri", {})
    uri = getattr(value, "uri", None)
    if not isinstance(uri, str) or not uri:
        return None
    namespace, name = dataset_identity(uri)
    try:
        local_path = getattr(value, "path", None)
    except Exception:  # KFP raises for URIs it cannot map to a local path
        local_path = None
    metadata = getattr(value, "metadata", None) or {}
    kind = str(getattr(value, "schema_title", "") or type(value).__name__)
    return _DatasetRef(
        namespace, name, Path(local_path) if local_path else None, kind, _json_safe(dict(metadata))
    )


def _json_safe(values: Mapping[str, Any]) -> dict[str, Any]:
    """Plain JSON values only: objects become strings, NaN and infinities become null (strict JSON
    parsers in OpenLineage backends reject them)."""

    def finite(node: Any) -> Any:
        if isinstance(node, float) and not math.isfinite(node):
            return None
        if isinstance(node, dict):
            return {k: finite(v) for k, v in node.items()}
        if isinstance(node, list):
            return [finite(v) for v in node]
        return node

    result: dict[str, Any] = finite(json.loads(json.dumps(dict(values), default=str)))
    return result


@dataclass
class _TableStats:
    fields: list[tuple[str, str]]
    rows: int
    nulls: dict[str, int]
    digest: str
    size: int


def _table_stats(path: Path) -> _TableStats | None:
    """Schema, row count, null counts and content digest of a Parquet/CSV file; None for other files."""
    if not path.is_file():
        return None
    with open(path, "rb") as handle:
        is_parquet = handle.read(4) == b"PAR1"
    if not is_parquet and path.suffix.lower() not in {".csv", ".parquet", ".pq"}:
        return None
    import pandas as pd

    from iml4e_components.table_digests import table_digest

    frame = pd.read_parquet(path) if is_parquet or path.suffix.lower() != ".csv" else pd.read_csv(path)
    return _TableStats(
        fields=[(str(c), str(t)) for c, t in frame.dtypes.items()],
        rows=len(frame),
        nulls={str(c): int(n) for c, n in frame.isna().sum().items()},
        digest=table_digest(frame),
        size=path.stat().st_size,
    )


def _file_digest(path: Path) -> str | None:
    if not path.is_file() or path.stat().st_size > _MAX_DIGEST_BYTES:
        return None
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(block)
    return f"sha256:{hasher.hexdigest()}"


def describe_dataset(ref: _DatasetRef, role: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(dataset facets, input/output facets) from the file behind `ref`; empty when unreadable."""
    facets: dict[str, Any] = {}
    io_facets: dict[str, Any] = {}
    stats: _TableStats | None = None
    digest: str | None = None
    if ref.path is not None:
        try:
            stats = _table_stats(ref.path)
            digest = stats.digest if stats else _file_digest(ref.path)
        except Exception as exc:  # unreadable data is described as unknown, never fails the step
            log.warning("lineage: cannot describe %s (%s: %s)", ref.path, type(exc).__name__, exc)
    digest = digest or ref.metadata.get("digest")
    if stats:
        facets["schema"] = schema_dataset.SchemaDatasetFacet(
            producer=PRODUCER,
            fields=[schema_dataset.SchemaDatasetFacetFields(name=n, type=t) for n, t in stats.fields],
        )
        if role == "input":
            io_facets["dataQualityMetrics"] = (
                data_quality_metrics_input_dataset.DataQualityMetricsInputDatasetFacet(
                    producer=PRODUCER,
                    columnMetrics={
                        name: data_quality_metrics_input_dataset.ColumnMetrics(nullCount=count)
                        for name, count in stats.nulls.items()
                    },
                    rowCount=stats.rows,
                    bytes=stats.size,
                )
            )
        else:
            io_facets["outputStatistics"] = (
                output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                    producer=PRODUCER, rowCount=stats.rows, size=stats.size
                )
            )
    if digest:
        facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(
            producer=PRODUCER, datasetVersion=str(digest)
        )
    facets[DATASET_FACET] = Iml4eArtifactFacet(  # type: ignore[call-arg]  # attrs adds `producer`
        producer=PRODUCER, kind=ref.kind, digest=digest, metadata=ref.metadata
    )
    return facets, io_facets


@dataclass
class LineageStep:
    """One step run: its OpenLineage run id, job, datasets and the values added with `annotate`."""

    job: str
    namespace: str
    run_id: str
    parent: parent_run.ParentRunFacet | None
    pipeline_run_id: str | None
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    transports: list[Transport] | None = None
    _described: dict[str, tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=dict)

    def annotate(self, **values: Any) -> None:
        """Record custom values: mlflow_run_id, model_name, model_version, model_uri, alias, card_verdict."""
        self.values.update({k: v for k, v in values.items() if v is not None})

    def add_output(self, name: str, value: Any) -> None:
        self.outputs[name] = value

    def describe_input(self, name: str, **facts: Any) -> None:
        """Facts the step learned by reading input `name` (e.g. `digest`, `rows` of a generated sample
        or a remote table, which cannot be read from a file); the COMPLETE event carries them."""
        ref = _reference(self.inputs.get(name))
        if ref is None:
            return
        ref = replace(ref, metadata={**ref.metadata, **_json_safe(facts)})
        facets, io_facets = describe_dataset(ref, "input")
        if isinstance(facts.get("rows"), int):
            io_facets["dataQualityMetrics"] = (
                data_quality_metrics_input_dataset.DataQualityMetricsInputDatasetFacet(
                    producer=PRODUCER, columnMetrics={}, rowCount=facts["rows"]
                )
            )
        self._described[f"input:{name}:{ref.namespace}:{ref.name}"] = facets, io_facets

    def event(self, state: str, error: BaseException | None = None, describe: bool = True) -> ol.RunEvent:
        """The RunEvent for `state` (START, COMPLETE, FAIL, ABORT)."""
        run_facets: dict[str, Any] = {
            RUN_FACET: Iml4eRunFacet(  # type: ignore[call-arg]  # attrs adds `producer`
                producer=PRODUCER,
                values=_json_safe({"pipeline_run_id": self.pipeline_run_id, "step": self.job, **self.values}),
            )
        }
        if self.parent is not None:
            run_facets["parent"] = self.parent
        if error is not None:
            run_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
                producer=PRODUCER,
                message=f"{type(error).__name__}: {error}",
                programmingLanguage="python",
                stackTrace="".join(traceback.format_exception(error)),
            )
        return ol.RunEvent(
            eventType=ol.EventType[state],
            eventTime=datetime.now(UTC).isoformat(),
            run=ol.Run(runId=self.run_id, facets=run_facets),
            job=ol.Job(
                namespace=self.namespace,
                name=self.job,
                facets={
                    "jobType": job_type_job.JobTypeJobFacet(
                        producer=PRODUCER, processingType="BATCH", integration="IML4E", jobType="TASK"
                    )
                },
            ),
            inputs=self._datasets(self.inputs, "input", describe),
            outputs=self._datasets(self.outputs, "output", describe and state == "COMPLETE"),
            producer=PRODUCER,
        )

    def _datasets(self, values: Mapping[str, Any], role: str, describe: bool) -> list[Any]:
        result: list[Any] = []
        for key, value in values.items():
            try:
                ref = _reference(value)
                if ref is None:
                    continue
                cache_key = f"{role}:{key}:{ref.namespace}:{ref.name}"
                if cache_key in self._described:
                    facets, io_facets = self._described[cache_key]
                elif describe:
                    facets, io_facets = self._described[cache_key] = describe_dataset(ref, role)
                else:
                    facets, io_facets = {}, {}
                if role == "input":
                    result.append(
                        ol.InputDataset(ref.namespace, ref.name, inputFacets=io_facets, facets=facets)
                    )
                else:
                    result.append(
                        ol.OutputDataset(ref.namespace, ref.name, outputFacets=io_facets, facets=facets)
                    )
            except Exception as exc:  # one odd value must not cost the whole event
                log.warning("lineage: skipped dataset %r (%s: %s)", value, type(exc).__name__, exc)
        return result

    def emit(self, state: str, error: BaseException | None = None, describe: bool = True) -> None:
        """Build and deliver the event; never raises. Inputs are described once, outputs on COMPLETE."""
        try:
            deliver(self.event(state, error, describe), self.transports)
        except Exception as exc:  # building an event must not fail the step either
            _stats["failed"] += 1
            log.warning("lineage: cannot emit %s for %s (%s: %s)", state, self.job, type(exc).__name__, exc)


def _new_step(
    job: str, inputs: Mapping[str, Any], outputs: Mapping[str, Any], transports: list[Transport] | None
) -> LineageStep:
    from openlineage.client.uuid import generate_new_uuid

    namespace = os.environ.get(NAMESPACE_ENV) or DEFAULT_NAMESPACE
    pipeline = os.environ.get("IML4E_PIPELINE_NAME", "").strip()
    pipeline_run = (os.environ.get("IML4E_PIPELINE_RUN_ID") or os.environ.get("KFP_RUN_ID") or "").strip()
    parent = None
    if pipeline_run:
        parent = parent_run.ParentRunFacet(
            producer=PRODUCER,
            run=parent_run.Run(runId=_as_uuid(pipeline_run)),
            job=parent_run.Job(namespace=namespace, name=pipeline or "pipeline"),
        )
    return LineageStep(
        job=f"{pipeline}.{job}" if pipeline else job,
        namespace=namespace,
        run_id=str(generate_new_uuid()),
        parent=parent,
        pipeline_run_id=pipeline_run or None,
        inputs=dict(inputs),
        outputs=dict(outputs),
        transports=transports,
    )


@contextmanager
def lineage_step(
    job: str,
    inputs: Mapping[str, Any] = {},
    outputs: Mapping[str, Any] = {},
    transports: list[Transport] | None = None,
) -> Iterator[LineageStep]:
    """Emit START now, then COMPLETE on normal exit or FAIL (with the error) on an exception.

    Every iml4e component runs its body in this block, so it is also where a failing task writes
    its error record for the runner (`iml4e_components.task_errors`).

    `inputs`/`outputs` map names to KFP artifacts (`.uri`, `.path`, `.metadata`) or path/URI
    strings; Parquet/CSV tables get schema, row-count and content-digest facets (inputs described
    on enter, outputs on exit). The step's own exception is re-raised unchanged; lineage problems
    are only logged.
    """
    try:
        step = _new_step(job, inputs, outputs, transports)
    except Exception as exc:  # even a broken environment must not stop the step
        log.warning("lineage: cannot start step %s (%s: %s)", job, type(exc).__name__, exc)
        step = LineageStep(
            job=job,
            namespace=DEFAULT_NAMESPACE,
            run_id=str(uuid.uuid4()),
            parent=None,
            pipeline_run_id=None,
            transports=[],
        )
    step.emit("START", describe=True)
    try:
        yield step
    except Exception as exc:
        record_task_error(exc, job)  # the runner reads why the task failed from this record
        step.emit("FAIL", error=exc, describe=False)
        raise
    except BaseException as exc:
        step.emit("ABORT", error=exc, describe=False)
        raise
    step.emit("COMPLETE", describe=True)
