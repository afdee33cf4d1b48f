"""The kustomize-style composer: resources, strategic-merge patches, generators, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from iml4e.errors import UsageError
from iml4e.installer.compose import compose, merge_patch


def _write(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump_all(data if isinstance(data, list) else [data]), encoding="utf-8")


def _deployment(name: str) -> dict[str, object]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "ns"},
        "spec": {
            "replicas": 1,
            "template": {
                "spec": {
                    "containers": [
                        {"name": "a", "image": "x:1", "env": [{"name": "K", "value": "1"}]},
                        {"name": "b", "image": "y:1"},
                    ]
                }
            },
        },
    }


def test_merge_patch_merges_named_lists_and_deletes() -> None:
    patch = {
        "spec": {
            "replicas": 2,
            "template": {
                "spec": {
                    "containers": [
                        {"name": "a", "env": [{"name": "L", "value": "2"}]},
                        {"name": "b", "$patch": "delete"},
                    ]
                }
            },
        }
    }
    merged = merge_patch(_deployment("d"), patch)
    containers = merged["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["a"]
    assert containers[0]["image"] == "x:1"
    assert containers[0]["env"] == [{"name": "K", "value": "1"}, {"name": "L", "value": "2"}]
    assert merged["spec"]["replicas"] == 2


def test_overlay_composes_parent_and_patch(tmp_path: Path) -> None:
    _write(tmp_path / "base" / "d.yaml", [_deployment("one"), _deployment("two")])
    _write(tmp_path / "base" / "kustomization.yaml", {"resources": ["d.yaml"], "commonLabels": {"c": "x"}})
    _write(
        tmp_path / "overlay" / "p.yaml",
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "two", "namespace": "ns"},
            "spec": {"replicas": 3},
        },
    )
    _write(
        tmp_path / "overlay" / "kustomization.yaml",
        {"resources": ["../base"], "patches": [{"path": "p.yaml"}]},
    )
    objects = compose(tmp_path / "overlay")
    assert [o["spec"]["replicas"] for o in objects] == [1, 3]
    assert all(o["metadata"]["labels"] == {"c": "x"} for o in objects)


def test_config_map_generator_globs_and_tolerates_no_match(tmp_path: Path) -> None:
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "b.json").write_text("{}", encoding="utf-8")
    (tmp_path / "files" / "a.json").write_text("[]", encoding="utf-8")
    _write(
        tmp_path / "kustomization.yaml",
        {
            "configMapGenerator": [
                {"name": "cm", "namespace": "ns", "files": ["files/*.json", "absent/*.json"]}
            ]
        },
    )
    (config_map,) = compose(tmp_path)
    assert list(config_map["data"]) == ["a.json", "b.json"]


@pytest.mark.parametrize(
    ("kustomization", "message"),
    [
        ({"resources": ["missing.yaml"]}, "does not exist"),
        ({"resources": [], "images": []}, "unsupported keys"),
        ({"resources": ["d.yaml"], "patches": [{"path": "p.yaml"}]}, "does not contain"),
    ],
)
def test_composition_errors_name_the_problem(
    tmp_path: Path, kustomization: dict[str, object], message: str
) -> None:
    _write(tmp_path / "d.yaml", _deployment("one"))
    _write(
        tmp_path / "p.yaml",
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "nope", "namespace": "ns"}},
    )
    _write(tmp_path / "kustomization.yaml", kustomization)
    with pytest.raises(UsageError, match=message):
        compose(tmp_path)


def test_duplicate_objects_are_refused(tmp_path: Path) -> None:
    _write(tmp_path / "d.yaml", [_deployment("one"), _deployment("one")])
    _write(tmp_path / "kustomization.yaml", {"resources": ["d.yaml"]})
    with pytest.raises(UsageError, match="defined twice"):
        compose(tmp_path)
