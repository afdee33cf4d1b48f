"""Image digests in the lock: read them from what an operator mirrored, record them, pin images to them.

With `images.pin_digests: true` in iml4e.yaml, `render` writes every image iml4e renders as
`name:tag@sha256:...`, so a re-pushed tag cannot change what runs. The digests come from the
`images:` section of manifests/upstream.lock.yaml, keyed by the tagged reference (a version bump
in `versions.IMAGES` therefore needs a new digest, and rendering says so instead of pinning a stale one).

Nothing here talks to a registry (there may be none within reach): `iml4e bundle --record-digests
--image-digests SOURCE` reads them from what the operator already has, either
  - an OCI image layout directory (`index.json`), as `skopeo copy ... oci:DIR:REF` or `docker save`
    (Docker 25+) write it, or a directory holding several of them; a manifest counts only when its
    annotations name the full reference (`io.containerd.image.name`, or an
    `org.opencontainers.image.ref.name` holding a registry path), since a bare tag is ambiguous; or
  - a text file with one `REFERENCE@sha256:HEX` or `REFERENCE sha256:HEX` per line (`#` comments),
    such as a registry mirror's listing.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from iml4e.errors import UsageError
from iml4e_components.output_files import write_text_atomically

LOCK_FILE = "upstream.lock.yaml"
IMAGES_KEY = "images"
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_OCI_NAME_ANNOTATIONS = ("io.containerd.image.name", "org.opencontainers.image.ref.name")
_IMAGES_SECTION_HEADER = (
    "# Image digests, keyed by the tagged reference: with images.pin_digests: true in iml4e.yaml every image\n"
    "# iml4e renders is pinned to tag@digest. Recorded by `iml4e bundle -o DIR --record-digests\n"
    "# --image-digests SOURCE` (an OCI layout or a REFERENCE@sha256:... list), which rewrites this last section.\n"
)


def lock_path(manifests: Path | None = None) -> Path:
    from iml4e.paths import manifests_dir

    return (manifests or manifests_dir()) / LOCK_FILE


def read_image_digests(manifests: Path | None = None) -> dict[str, str]:
    """Tagged reference -> sha256 digest, from the lock's `images:` section (empty when there is none)."""
    file = lock_path(manifests)
    data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    recorded = data.get(IMAGES_KEY) or {}
    if not isinstance(recorded, dict):
        raise UsageError(f"{file}: '{IMAGES_KEY}' must map image references to digests; fix the file")
    for reference, digest in recorded.items():
        if not isinstance(digest, str) or not _DIGEST.match(digest):
            raise UsageError(
                f"{file}: {IMAGES_KEY}.{reference} is {digest!r}, not sha256:<64 hex digits>; record it again"
            )
    return {str(reference): str(digest) for reference, digest in recorded.items()}


def pinned(reference: str, digests: dict[str, str], source: str = LOCK_FILE) -> str:
    """`reference` (name:tag) with its recorded digest appended; a missing digest is a usage error."""
    if "@" in reference:
        return reference
    digest = digests.get(reference)
    if digest is None:
        raise UsageError(
            f"images.pin_digests is on but manifests/{source} has no digest for {reference}; record it with "
            "'iml4e bundle -o DIR --record-digests --image-digests SOURCE', or set images.pin_digests: false"
        )
    return f"{reference}@{digest}"


def _normalized(reference: str) -> str:
    """A reference as iml4e writes it: registry host first (Docker Hub's implicit names made explicit)."""
    first, _, rest = reference.partition("/")
    if not rest:
        return f"docker.io/library/{reference}"
    if "." not in first and ":" not in first and first != "localhost":
        return f"docker.io/{reference}"
    return reference


def _from_oci_index(index_file: Path) -> dict[str, str]:
    try:
        index: Any = json.loads(index_file.read_text(encoding="utf-8"))
        manifests = index["manifests"]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        raise UsageError(
            f"{index_file} is not an OCI image index; give an OCI layout directory or a REFERENCE@sha256 list"
        ) from None
    found = {}
    for manifest in manifests if isinstance(manifests, list) else []:
        annotations = manifest.get("annotations") or {}
        names = [str(annotations[key]) for key in _OCI_NAME_ANNOTATIONS if key in annotations]
        full = next((name for name in names if "/" in name and ":" in name.rsplit("/", 1)[-1]), None)
        digest = str(manifest.get("digest", ""))
        if full and _DIGEST.match(digest):
            found[_normalized(full)] = digest
    return found


def _from_text(file: Path) -> dict[str, str]:
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(
            f"cannot read {file} ({exc.__class__.__name__}); give a REFERENCE@sha256 list"
        ) from None
    found = {}
    for number, raw in enumerate(lines, start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        reference, separator, digest = line.replace(" ", "@", 1).partition("@")
        digest = digest.strip()
        if not separator or not reference or not _DIGEST.match(digest):
            raise UsageError(
                f"{file}:{number}: '{raw.strip()}' is not REFERENCE@sha256:<64 hex digits>; fix the line"
            )
        found[_normalized(reference.strip())] = digest
    return found


def digests_from(source: Path) -> dict[str, str]:
    """Every tagged reference -> digest that `source` names (an OCI layout, a directory of them, or a list)."""
    if source.is_file():
        return _from_oci_index(source) if source.name == "index.json" else _from_text(source)
    if not source.is_dir():
        raise UsageError(f"{source} does not exist; give an OCI layout directory or a REFERENCE@sha256 list")
    indexes = (
        [source / "index.json"] if (source / "index.json").is_file() else sorted(source.glob("*/index.json"))
    )
    if not indexes:
        raise UsageError(
            f"{source} holds no OCI layout (index.json); give an OCI layout or a REFERENCE@sha256 list"
        )
    found: dict[str, str] = {}
    for index in indexes:
        found.update(_from_oci_index(index))
    return found


def record_image_digests(
    images: list[str], available: dict[str, str], manifests: Path | None = None
) -> dict[str, list[str]]:
    """Write the digest of each of `images` found in `available` into the lock's `images:` section.

    Digests already recorded for other references are kept. Returns the references recorded and
    those `available` had no digest for."""
    file = lock_path(manifests)
    digests = read_image_digests(manifests)
    recorded = sorted(reference for reference in images if reference in available)
    missing = sorted(reference for reference in images if reference not in available)
    digests.update({reference: available[reference] for reference in recorded})
    text = file.read_text(encoding="utf-8")
    kept = re.split(rf"^(?:#.*\n)*{IMAGES_KEY}:.*$", text, maxsplit=1, flags=re.MULTILINE)[0].rstrip("\n")
    section = yaml.safe_dump({IMAGES_KEY: dict(sorted(digests.items()))}, sort_keys=False, width=200)
    write_text_atomically(file, f"{kept}\n{_IMAGES_SECTION_HEADER}{section}")
    return {"recorded": recorded, "missing": missing}
