"""Which variant answers a request, and the control file through which the split changes.

The split is by request id: the id's BLAKE2b digest picks one of `BUCKETS` buckets, and the first
`share * BUCKETS / 100` buckets go to the canary. The same id therefore always gets the same variant
for a given share, on any server process and after a restart (Python's own `hash` is salted per
process, so it is not used).

The split changes through a small JSON file next to the request log
(`<state>/serving/<name>/rollout.json`) that the model server polls: the file holds the wanted
state and a generation number, the server applies each new generation between two requests and
reports what it applied on `GET /iml4e/rollout`. A file rather than an HTTP admin route: changing
it needs write access to the owner's state directory (owner-only permissions), so the server gains
no new way in, and the same file restores the split when the server restarts.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from iml4e_components.errors import ComponentError
from iml4e_components.output_files import write_atomically

#: Buckets a request id falls into (a share is set in hundredths of a percent).
BUCKETS = 10_000
PRIMARY = "primary"
CANARY = "canary"
VARIANTS = (PRIMARY, CANARY)
CONTROL_FILE = "rollout.json"
#: The read-only route on which a model server reports the split it serves.
STATUS_PATH = "/iml4e/rollout"


def request_bucket(request_id: str) -> int:
    """The request id's bucket, 0 to BUCKETS - 1, the same in every process."""
    digest = hashlib.blake2b(request_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def canary_buckets(share: float) -> int:
    """How many buckets go to the canary at `share` percent."""
    return round(share * BUCKETS / 100)


def check_share(share: float, option: str = "--canary-traffic") -> float:
    if not 0.0 <= share <= 100.0:  # NaN fails this too
        raise ComponentError(f"{option} {share} is out of range; give a percentage from 0 to 100")
    return float(share)


@dataclass(frozen=True)
class RolloutControl:
    """The wanted split: which canary (None: none), the share of requests it answers (percent), and
    `promote`: make the loaded canary the primary. The server applies each `generation` once."""

    generation: int = 0
    canary_uri: str | None = None
    canary_traffic: float = 0.0
    promote: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def control_path(state_dir: str | Path, model: str) -> Path:
    return Path(state_dir) / "serving" / model / CONTROL_FILE


def read_control(path: Path) -> RolloutControl | None:
    """The control file's content; None when there is none. A file that does not parse raises."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        data = orjson.loads(raw)
        control = RolloutControl(
            generation=int(data["generation"]),
            canary_uri=data.get("canary_uri") or None,
            canary_traffic=check_share(float(data.get("canary_traffic", 0.0)), "canary_traffic"),
            promote=bool(data.get("promote", False)),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ComponentError(
            f"rollout control file {path} is not valid ({exc}); delete it and set the split again"
        ) from None
    return control


def write_control(path: Path, control: RolloutControl) -> Path:
    """Replace the control file atomically (the server never reads half a file)."""
    data = orjson.dumps(control.as_dict(), option=orjson.OPT_INDENT_2)
    return write_atomically(path, lambda tmp: tmp.write_bytes(data), "rollout control", create_parent=True)
