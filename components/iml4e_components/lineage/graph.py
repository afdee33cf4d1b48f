"""The lineage graph rebuilt from stored OpenLineage events: step runs, the datasets they read and
wrote, and walks back from a model to raw data and forward from a dataset to the models built on
it. lineage/picture.py draws the result."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from iml4e_components.lineage.emit import DATASET_FACET, RUN_FACET, dataset_identity

FINAL_STATES = ("COMPLETE", "FAIL", "ABORT")


@dataclass
class StepRun:
    run_id: str
    job: str
    state: str
    started: str
    ended: str
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.job.rsplit(".", 1)[-1]

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "job": self.job,
            "state": self.state,
            "started": self.started,
            "ended": self.ended,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "values": self.values,
        }


@dataclass
class DatasetInfo:
    key: str
    namespace: str
    name: str
    digest: str | None = None
    rows: int | None = None
    columns: list[str] = field(default_factory=list)
    kind: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        if self.namespace == "file":
            parts = self.name.rstrip("/").split("/")
            return "/".join(parts[-2:])
        return f"{self.namespace}:{self.name}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "namespace": self.namespace,
            "name": self.name,
            "digest": self.digest,
            "rows": self.rows,
            "columns": self.columns,
            "kind": self.kind,
            "metadata": self.metadata,
        }


def dataset_key(namespace: str, name: str) -> str:
    return f"{namespace}:{name}"


@dataclass
class TreeNode:
    kind: str  # "model", "run", "dataset"
    key: str
    label: str
    detail: str = ""
    repeated: bool = False
    children: list[TreeNode] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "key": self.key,
            "label": self.label,
            "detail": self.detail,
            "repeated": self.repeated,
            "children": [c.as_dict() for c in self.children],
        }

    def leaves(self) -> list[TreeNode]:
        if not self.children:
            return [self]
        return [leaf for child in self.children for leaf in child.leaves()]


class LineageGraph:
    """Runs and datasets from a list of OpenLineage run events (START merged with its final event)."""

    def __init__(self, events: Iterable[dict[str, Any]]) -> None:
        self.runs: dict[str, StepRun] = {}
        self.datasets: dict[str, DatasetInfo] = {}
        for event in sorted(events, key=lambda e: str(e.get("eventTime", ""))):
            self._add(event)
        self.producers: dict[str, list[str]] = {}
        self.consumers: dict[str, list[str]] = {}
        for run in self.runs.values():
            for key in run.inputs:
                self.consumers.setdefault(key, []).append(run.run_id)
            if run.state == "COMPLETE":
                for key in run.outputs:
                    self.producers.setdefault(key, []).append(run.run_id)

    def _add(self, event: dict[str, Any]) -> None:
        run_info, job = event.get("run") or {}, event.get("job") or {}
        run_id = str(run_info.get("runId", ""))
        if not run_id:
            return
        state = str(event.get("eventType", "OTHER"))
        time = str(event.get("eventTime", ""))
        run = self.runs.get(run_id)
        if run is None:
            run = self.runs[run_id] = StepRun(run_id, str(job.get("name", "?")), state, time, "")
        if state in FINAL_STATES or run.state not in FINAL_STATES:
            run.state = state
        if state in FINAL_STATES:
            run.ended = time
        facet = (run_info.get("facets") or {}).get(RUN_FACET) or {}
        run.values.update(facet.get("values") or {})
        for role, target in (("inputs", run.inputs), ("outputs", run.outputs)):
            for dataset in event.get(role) or []:
                key = self._dataset(dataset)
                if key not in target:
                    target.append(key)

    def _dataset(self, entry: dict[str, Any]) -> str:
        namespace, name = str(entry.get("namespace", "")), str(entry.get("name", ""))
        key = dataset_key(namespace, name)
        info = self.datasets.setdefault(key, DatasetInfo(key, namespace, name))
        facets = entry.get("facets") or {}
        io_facets = {**(entry.get("inputFacets") or {}), **(entry.get("outputFacets") or {})}
        if version := (facets.get("version") or {}).get("datasetVersion"):
            info.digest = str(version)
        if fields := (facets.get("schema") or {}).get("fields"):
            info.columns = [str(f.get("name")) for f in fields]
        for stats in ("dataQualityMetrics", "outputStatistics"):
            if (rows := (io_facets.get(stats) or {}).get("rowCount")) is not None:
                info.rows = int(rows)
        artifact = facets.get(DATASET_FACET) or {}
        info.kind = str(artifact.get("kind") or info.kind)
        info.metadata.update(artifact.get("metadata") or {})
        return key

    # ---- lookups -----------------------------------------------------------------------------

    def runs_annotated(self, **values: str) -> list[StepRun]:
        """Step runs whose iml4e facet has all of `values` (e.g. mlflow_run_id=...), oldest first."""
        found = [
            run
            for run in self.runs.values()
            if all(str(run.values.get(k)) == str(v) for k, v in values.items() if v is not None)
        ]
        return sorted(found, key=lambda r: r.started)

    def find_dataset(self, reference: str) -> DatasetInfo | None:
        """A dataset by its key (`namespace:name`), its path/URI, or a unique name suffix."""
        if reference in self.datasets:
            return self.datasets[reference]
        namespace, name = dataset_identity(reference)
        if (key := dataset_key(namespace, name)) in self.datasets:
            return self.datasets[key]
        matches = [d for d in self.datasets.values() if d.name.endswith(reference)]
        return matches[0] if len(matches) == 1 else None

    def raw_datasets(self, tree: TreeNode) -> list[DatasetInfo]:
        """Datasets in `tree` that no step produced: where the data came from."""
        seen: dict[str, DatasetInfo] = {}
        for leaf in tree.leaves():
            if leaf.kind == "dataset" and leaf.key not in self.producers and not leaf.repeated:
                seen.setdefault(leaf.key, self.datasets[leaf.key])
        return list(seen.values())

    # ---- walks -------------------------------------------------------------------------------

    def _run_node(self, run: StepRun) -> TreeNode:
        detail = run.state.lower()
        if run.values.get("mlflow_run_id"):
            detail += f", mlflow run {str(run.values['mlflow_run_id'])[:8]}"
        if run.values.get("card_verdict"):
            detail += f", card {run.values['card_verdict']}"
        return TreeNode("run", run.run_id, run.job, detail)

    def _dataset_node(self, key: str) -> TreeNode:
        info = self.datasets[key]
        parts = [info.kind] if info.kind and info.kind not in ("path", "uri") else []
        if info.rows is not None:
            parts.append(f"{info.rows} rows")
        if info.digest:
            parts.append(info.digest[:19])
        return TreeNode("dataset", key, info.label, ", ".join(parts))

    def upstream(self, runs: list[StepRun], root: TreeNode) -> TreeNode:
        """`root` with, under it, each run and everything it was made from, back to raw data."""
        seen: set[str] = set()

        def expand_run(run: StepRun) -> TreeNode:
            node = self._run_node(run)
            if run.run_id in seen:
                node.repeated = True
                return node
            seen.add(run.run_id)
            for key in run.inputs:
                node.children.append(expand_dataset(key, run))
            return node

        def expand_dataset(key: str, consumer: StepRun) -> TreeNode:
            node = self._dataset_node(key)
            if key in seen:
                node.repeated = True
                return node
            seen.add(key)
            producers = [self.runs[r] for r in self.producers.get(key, [])]
            # Prefer the producer from the same pipeline run; else the latest one before the consumer.
            same = [
                p
                for p in producers
                if p.values.get("pipeline_run_id") == consumer.values.get("pipeline_run_id")
            ]
            earlier = [p for p in producers if p.ended <= consumer.started] or producers
            chosen = same or earlier[-1:]
            for producer in chosen:
                node.children.append(expand_run(producer))
            return node

        for run in runs:
            root.children.append(expand_run(run))
        return root

    def downstream(self, key: str) -> TreeNode:
        """The dataset and every step run and dataset derived from it."""
        seen: set[str] = set()

        def expand_dataset(dataset: str) -> TreeNode:
            node = self._dataset_node(dataset)
            if dataset in seen:
                node.repeated = True
                return node
            seen.add(dataset)
            for run_id in self.consumers.get(dataset, []):
                node.children.append(expand_run(self.runs[run_id]))
            return node

        def expand_run(run: StepRun) -> TreeNode:
            node = self._run_node(run)
            if run.values.get("model_name"):
                node.detail += f", model {run.values['model_name']}"
                if run.values.get("model_version"):
                    node.detail += f" v{run.values['model_version']}"
            if run.run_id in seen:
                node.repeated = True
                return node
            seen.add(run.run_id)
            for output in run.outputs:
                node.children.append(expand_dataset(output))
            return node

        return expand_dataset(key)

    def models_in(self, tree: TreeNode) -> list[dict[str, Any]]:
        """Registered models reached in a downstream tree (runs annotated with model name/version)."""
        found: dict[tuple[str, str], dict[str, Any]] = {}

        def visit(node: TreeNode) -> None:
            if node.kind == "run" and node.key in self.runs:
                values = self.runs[node.key].values
                if values.get("model_name") and values.get("model_version"):
                    found[(str(values["model_name"]), str(values["model_version"]))] = {
                        "name": values["model_name"],
                        "version": values["model_version"],
                        "mlflow_run_id": values.get("mlflow_run_id"),
                    }
            for child in node.children:
                visit(child)

        visit(tree)
        return list(found.values())


# ---- picture -----------------------------------------------------------------------------------


def tree_edges(tree: TreeNode) -> tuple[dict[str, TreeNode], list[tuple[str, str]]]:
    """Unique nodes and (from, to) edges of a tree, data flowing from children to parents."""
    nodes: dict[str, TreeNode] = {}
    edges: list[tuple[str, str]] = []

    def visit(node: TreeNode) -> None:
        nodes.setdefault(node.key, node)
        for child in node.children:
            if (child.key, node.key) not in edges:
                edges.append((child.key, node.key))
            visit(child)

    visit(tree)
    return nodes, edges
