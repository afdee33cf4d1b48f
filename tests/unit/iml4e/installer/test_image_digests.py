"""images.pin_digests: digests read offline (OCI layout, REFERENCE@sha256 list), recorded in the lock, rendered."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from iml4e.cli.app import app
from iml4e.errors import UsageError
from iml4e.installer import image_digests
from iml4e.installer.config import parse_config
from iml4e.installer.render import containers, render_platform
from iml4e.installer.versions import image_tags

REPOSITORY_MANIFESTS = Path(__file__).resolve().parents[4] / "manifests"


def _digest(reference: str) -> str:
    return "sha256:" + hashlib.sha256(reference.encode()).hexdigest()  # deterministic, one per image


@pytest.fixture
def manifests(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the shipped manifests with no upstream entries (a bundle then needs no download)."""
    root = tmp_path / "manifests"
    shutil.copytree(REPOSITORY_MANIFESTS, root)
    lock = root / image_digests.LOCK_FILE
    text = lock.read_text(encoding="utf-8")
    head, _, tail = text.partition("upstream:\n")
    lock.write_text(head + "upstream: []\n" + tail[tail.index("# Image digests") :], encoding="utf-8")
    monkeypatch.setattr("iml4e.paths.manifests_dir", lambda: root)
    return root


def _oci_layout(directory: Path, references: list[str]) -> Path:
    """An OCI image layout as `docker save` writes it: full names in io.containerd.image.name."""
    directory.mkdir(parents=True)
    (directory / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}', encoding="utf-8")
    manifests = [
        {
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": _digest(reference),
            "size": 1234,
            "annotations": {
                "io.containerd.image.name": reference,
                "org.opencontainers.image.ref.name": reference.rsplit(":", 1)[-1],
            },
        }
        for reference in references
    ]
    # A manifest named by its tag only is ambiguous (which image?) and must not count.
    manifests.append({"digest": _digest("x"), "annotations": {"org.opencontainers.image.ref.name": "4.47"}})
    (directory / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": manifests}))
    return directory


def test_digests_are_read_from_an_oci_layout_and_from_a_reference_list(tmp_path: Path) -> None:
    layout = _oci_layout(tmp_path / "oci", ["docker.io/library/postgres:18.1-bookworm"])
    assert image_digests.digests_from(layout) == {
        "docker.io/library/postgres:18.1-bookworm": _digest("docker.io/library/postgres:18.1-bookworm")
    }
    listing = tmp_path / "digests.txt"
    listing.write_text(
        f"# from the mirror\npostgres:18.1-bookworm@{_digest('a')}\n"
        f"quay.io/prometheus/prometheus:v3.11.2 {_digest('b')}  # by hand\n\n",
        encoding="utf-8",
    )
    assert image_digests.digests_from(listing) == {
        "docker.io/library/postgres:18.1-bookworm": _digest("a"),  # Docker Hub's short name made explicit
        "quay.io/prometheus/prometheus:v3.11.2": _digest("b"),
    }
    listing.write_text("postgres:18.1-bookworm@sha256:abc\n", encoding="utf-8")
    with pytest.raises(UsageError, match=r"digests.txt:1: .* is not REFERENCE@sha256:<64 hex digits>"):
        image_digests.digests_from(listing)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="holds no OCI layout"):
        image_digests.digests_from(tmp_path / "empty")
    in_a_directory_of_layouts = image_digests.digests_from(tmp_path)
    assert "docker.io/library/postgres:18.1-bookworm" in in_a_directory_of_layouts


def test_pin_digests_renders_tag_at_digest_and_a_missing_digest_stops_in_one_line(manifests: Path) -> None:
    references = sorted(image_tags().values())
    config = parse_config({"profile": "full", "images": {"pin_digests": True}})
    with pytest.raises(UsageError) as missing:
        render_platform(config, manifests)
    assert "\n" not in str(missing.value) and "has no digest for" in str(missing.value)
    assert "iml4e bundle -o DIR --record-digests --image-digests SOURCE" in str(missing.value)

    result = image_digests.record_image_digests(references, {r: _digest(r) for r in references}, manifests)
    assert result == {"recorded": references, "missing": []}
    lock = yaml.safe_load((manifests / image_digests.LOCK_FILE).read_text(encoding="utf-8"))
    assert lock["upstream"] == [] and lock["images"] == {r: _digest(r) for r in references}

    images = {c["image"] for obj in render_platform(config, manifests).objects for c in containers(obj)}
    assert images and all(
        image == f"{image.split('@')[0]}@{_digest(image.split('@')[0])}" for image in images
    )
    mirrored = parse_config(
        {"profile": "minimal", "images": {"pin_digests": True, "registry_mirror": "m:5000"}}
    )
    for obj in render_platform(mirrored, manifests).objects:
        for container in containers(obj):
            name, _, digest = container["image"].partition("@")
            assert name.startswith("m:5000/") and digest.startswith("sha256:")
    # Without pin_digests nothing changes: tags only, as before.
    plain = render_platform(parse_config({"profile": "full"}), manifests).objects
    assert not [c for obj in plain for c in containers(obj) if "@" in c["image"]]


def _bundle(runner: CliRunner, tmp_path: Path, source: Path, *more: str) -> Any:
    options = ["-o", str(tmp_path / "bundle"), "--record-digests", "--image-digests", str(source)]
    return runner.invoke(app, ["bundle", *options, *more])


def test_bundle_records_digests_from_an_oci_layout_then_render_pins_them(
    manifests: Path, tmp_path: Path
) -> None:
    references = sorted(image_tags().values())
    layout = _oci_layout(tmp_path / "mirror", references[1:])  # one image not mirrored yet
    runner = CliRunner()
    result = _bundle(runner, tmp_path, layout, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["image_digests"] == {"recorded": references[1:], "missing": references[:1]}
    assert f"no digest in {layout} for {references[0]}" in result.stderr

    config = tmp_path / "iml4e.yaml"
    config.write_text("profile: full\nimages:\n  pin_digests: true\n", encoding="utf-8")
    refused = runner.invoke(app, ["render", "-c", str(config)])
    assert refused.exit_code == 2 and "Traceback" not in refused.output
    assert len(refused.stderr.strip().splitlines()) == 1 and references[0] in refused.stderr

    (tmp_path / "rest.txt").write_text(f"{references[0]}@{_digest(references[0])}\n", encoding="utf-8")
    again = _bundle(runner, tmp_path, tmp_path / "rest.txt")
    assert again.exit_code == 0, again.output
    rendered = runner.invoke(app, ["render", "-c", str(config)])
    assert rendered.exit_code == 0, rendered.output
    images = {c["image"] for obj in yaml.safe_load_all(rendered.stdout) if obj for c in containers(obj)}
    assert images and all("@sha256:" in image for image in images)


def test_bundle_refuses_image_digests_without_record_digests_and_a_bad_source_before_writing(
    manifests: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    alone = runner.invoke(app, ["bundle", "-o", str(tmp_path / "b"), "--image-digests", str(tmp_path)])
    assert alone.exit_code == 2 and "add --record-digests" in alone.stderr
    bad = tmp_path / "bad.txt"
    bad.write_text("not a digest line\n", encoding="utf-8")
    refused = runner.invoke(
        app, ["bundle", "-o", str(tmp_path / "b"), "--record-digests", "--image-digests", str(bad)]
    )
    assert refused.exit_code == 2 and "bad.txt:1:" in refused.stderr
    assert not (tmp_path / "b").exists()  # nothing written
