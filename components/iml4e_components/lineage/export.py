"""A technical-documentation bundle for one model, in the spirit of the EU AI Act's Annex IV: its
card and conformance verdict, lineage graph, datasets with digests, training parameters and
evaluation results, with a README that maps each file to the documentation it supports."""

from __future__ import annotations

import json
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from iml4e_components.lineage.graph import LineageGraph, TreeNode, tree_edges
from iml4e_components.lineage.picture import graph_html
from iml4e_components.lineage.resolve import ModelRef
from iml4e_components.output_files import check_output_directory

CARD_ARTIFACTS = "model_card"

#: The bundle's index: which file documents which Annex IV point.
README_TEMPLATE = Path(__file__).parent / "templates" / "bundle_readme.md"


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")


def export_bundle(ref: ModelRef, graph: LineageGraph, tree: TreeNode, target: Path) -> list[str]:
    """Write the bundle into `target` (created; must not exist or be empty) atomically; returns file names."""
    import mlflow
    from mlflow.exceptions import MlflowException

    check_output_directory(target, "documentation bundle")
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        client = mlflow.MlflowClient()
        run = client.get_run(ref.run_id) if ref.run_id else None
        _write_json(staging / "model.json", ref.as_dict())
        _write_json(staging / "parameters.json", dict(run.data.params) if run else {})
        _write_json(staging / "metrics.json", dict(run.data.metrics) if run else {})
        verdict = "not checked"
        spec = "none"
        if run is not None:
            try:
                mlflow.artifacts.download_artifacts(
                    run_id=ref.run_id, artifact_path=CARD_ARTIFACTS, dst_path=str(staging)
                )
                verdict_file = staging / CARD_ARTIFACTS / "verdict.json"
                if verdict_file.is_file():
                    content = json.loads(verdict_file.read_text(encoding="utf-8"))
                    verdict = "pass" if content.get("passed") else "fail"
                    spec = str(content.get("spec", spec))
            except (MlflowException, OSError):
                pass  # no card logged for this run: the README says so
        nodes, edges = tree_edges(tree)
        run_ids = {key for key, node in nodes.items() if node.kind == "run"}
        dataset_keys = [key for key, node in nodes.items() if node.kind == "dataset"]
        _write_json(
            staging / "lineage.json",
            {
                "tree": tree.as_dict(),
                "edges": [{"from": a, "to": b} for a, b in edges],
                "runs": [graph.runs[r].as_dict() for r in sorted(run_ids) if r in graph.runs],
            },
        )
        _write_json(staging / "datasets.json", [graph.datasets[k].as_dict() for k in dataset_keys])
        (staging / "lineage.html").write_text(graph_html(f"Lineage of {ref.uri}", tree), encoding="utf-8")
        raw = graph.raw_datasets(tree)
        files = sorted(str(p.relative_to(staging)) for p in staging.rglob("*") if p.is_file())
        (staging / "README.md").write_text(
            README_TEMPLATE.read_text(encoding="utf-8").format(
                title=f"{ref.name or ref.uri} version {ref.version or '?'}",
                when=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                uri=ref.uri,
                run=ref.run_id or "unknown",
                spec=spec,
                verdict=verdict,
                raw="\n".join(f"- `{d.namespace}:{d.name}` digest `{d.digest or 'unknown'}`" for d in raw)
                or "- none recorded",
                files="\n".join(f"- `{f}`" for f in [*files, "README.md"]),
            ),
            encoding="utf-8",
        )
        if target.exists():
            target.rmdir()
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
