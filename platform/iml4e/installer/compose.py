"""Kustomize-style composition of our own bases and overlays, in Python (no kustomize binary).

A directory holds a `kustomization.yaml` with the subset of kustomize we use:

    resources:            files (one or more YAML documents) or directories with a kustomization
    patches:              - path: file.yaml   strategic-merge patches, matched by kind/name/namespace
    configMapGenerator:   - name, namespace, files: [globs], labels   (one key per matched file)

Overlays only patch: an overlay lists its parent(s) under `resources` and changes them under
`patches`. Differences from kustomize, on purpose: `files` accepts glob patterns and an absent
match yields an empty ConfigMap (dashboards are written by another part of iml4e and may not exist
yet), generated ConfigMaps get no hash suffix (names stay stable for golden files), and lists of
objects are merged by their `name` key (containers, env, volumes, ports), which covers every patch
we write. `$patch: delete` on a list item removes it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from iml4e.errors import UsageError

KUSTOMIZATION = "kustomization.yaml"
_KNOWN_KEYS = {"apiVersion", "kind", "resources", "patches", "configMapGenerator", "commonLabels"}

Object = dict[str, Any]


def object_key(obj: Object) -> tuple[str, str, str]:
    """(kind, namespace, name): how objects and patches are matched."""
    meta = obj.get("metadata") or {}
    return (str(obj.get("kind", "")), str(meta.get("namespace", "")), str(meta.get("name", "")))


def _load_documents(path: Path) -> list[Object]:
    try:
        documents = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    except yaml.YAMLError as exc:
        raise UsageError(f"{path} is not valid YAML ({str(exc).splitlines()[0]}); fix the file") from None
    objects = [doc for doc in documents if doc]
    for obj in objects:
        if not isinstance(obj, dict) or "kind" not in obj or "metadata" not in obj:
            raise UsageError(
                f"{path} holds a document without kind/metadata; every document must be an object"
            )
    return objects


def _read_kustomization(directory: Path) -> dict[str, Any]:
    file = directory / KUSTOMIZATION
    if not file.is_file():
        raise UsageError(f"{directory} has no {KUSTOMIZATION}; add one listing its resources")
    data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    unknown = set(data) - _KNOWN_KEYS
    if unknown:
        raise UsageError(
            f"{file}: unsupported keys {sorted(unknown)}; use resources, patches, configMapGenerator"
        )
    return dict(data)


def merge_patch(target: Any, patch: Any) -> Any:
    """Strategic merge of `patch` into `target` (both plain YAML data); returns the merged value."""
    if isinstance(target, dict) and isinstance(patch, dict):
        merged = dict(target)
        for key, value in patch.items():
            if key == "$patch":
                continue
            merged[key] = merge_patch(target[key], value) if key in target else copy.deepcopy(value)
        return merged
    if isinstance(target, list) and isinstance(patch, list) and _named_items(target) and _named_items(patch):
        by_name = {item["name"]: index for index, item in enumerate(target)}
        merged_list = [copy.deepcopy(item) for item in target]
        deleted: set[str] = set()
        for item in patch:
            name = item["name"]
            if item.get("$patch") == "delete":
                deleted.add(name)
            elif name in by_name:
                merged_list[by_name[name]] = merge_patch(merged_list[by_name[name]], item)
            else:
                merged_list.append({k: v for k, v in item.items() if k != "$patch"})
        return [item for item in merged_list if item["name"] not in deleted]
    return copy.deepcopy(patch)


def _named_items(items: list[Any]) -> bool:
    return bool(items) and all(isinstance(item, dict) and "name" in item for item in items)


def _generate_config_map(directory: Path, spec: dict[str, Any]) -> Object:
    data: dict[str, str] = {}
    for pattern in spec.get("files", []):
        for file in sorted(directory.glob(pattern)):
            if file.is_file():
                data[file.name] = file.read_text(encoding="utf-8")
    metadata: dict[str, Any] = {"name": spec["name"]}
    if spec.get("namespace"):
        metadata["namespace"] = spec["namespace"]
    if spec.get("labels"):
        metadata["labels"] = dict(spec["labels"])
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}


def _resources(directory: Path, kustomization: dict[str, Any]) -> Iterator[Object]:
    for entry in kustomization.get("resources", []):
        path = (directory / entry).resolve()
        if path.is_dir():
            yield from compose(path)
        elif path.is_file():
            yield from _load_documents(path)
        else:
            raise UsageError(
                f"{directory / KUSTOMIZATION} lists '{entry}', which does not exist; fix the entry"
            )
    for spec in kustomization.get("configMapGenerator", []):
        yield _generate_config_map(directory, spec)


def bases_of(directory: Path) -> frozenset[str]:
    """The names of the `base/*` folders the kustomization in `directory` includes, directly or
    through other overlays: what a profile's overlay holds (mlflow, serving, monitoring, feast, ...)."""
    found: set[str] = set()
    for entry in _read_kustomization(directory).get("resources", []):
        path = (directory / entry).resolve()
        if path.is_dir() and path.parent.name == "base":
            found.add(path.name)
        elif path.is_dir():
            found |= bases_of(path)
    return frozenset(found)


def compose(directory: Path) -> list[Object]:
    """Build the objects of the kustomization in `directory` (resources, generators, then patches)."""
    kustomization = _read_kustomization(directory)
    objects = list(_resources(directory, kustomization))
    index = {object_key(obj): position for position, obj in enumerate(objects)}
    if len(index) != len(objects):
        seen: set[tuple[str, str, str]] = set()
        for obj in objects:
            key = object_key(obj)
            if key in seen:
                raise UsageError(
                    f"{directory}: {key[0]} {key[1]}/{key[2]} is defined twice; keep one definition"
                )
            seen.add(key)
    for entry in kustomization.get("patches", []):
        patch_file = directory / entry["path"]
        for patch in _load_documents(patch_file):
            key = object_key(patch)
            if key not in index:
                raise UsageError(
                    f"{patch_file} patches {key[0]} {key[1]}/{key[2]}, which the overlay does not contain; "
                    "fix the patch's kind/name/namespace"
                )
            objects[index[key]] = merge_patch(objects[index[key]], patch)
    labels = kustomization.get("commonLabels") or {}
    if labels:
        for obj in objects:
            obj.setdefault("metadata", {}).setdefault("labels", {}).update(labels)
    return objects
