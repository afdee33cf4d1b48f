"""Canary rollouts under steady load: how fast `iml4e rollout watch` stops a bad canary, and whether a
promotion or rollback fails any request, beside replacing the model by restarting its server.

One local model server (the churn training pipeline's model, about 8 ms per call) on loopback under
steady load from CONCURRENCY clients (one-row V2 requests, each with its own id), four phases:

- broken canary (a real MLflow pyfunc that raises on 20% of its rows, 5xx): canary requests it
  served, and seconds from its first 5xx to the rollback;
- wrong canary (predicts the opposite class), labels sent back every 0.5 s as `iml4e label` stores
  them: labelled canary rows and seconds before the rollback;
- good canary: promoted after PROMOTE_AFTER seconds without a breach; failed requests in the phase;
- the alternative: `iml4e serve NEW_MODEL` replacing the running server (stop, start): failed requests.

Thresholds are the shipped rollout.* defaults except promote_after_seconds. Targets (issue 15): the
broken canary rolled back within 10 s of its first error and after at most 200 canary requests; 0
requests failed by promote or rollback.

    python benchmarks/rollout.py [--share 10] [--promote-after 15] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration" / "serving"))
NAME = "churn"
CONCURRENCY = 8


def _watch(thresholds: Any, interval: float) -> dict[str, Any]:
    from iml4e.local.rollout import watch

    return watch(NAME, thresholds, interval)


def _failed_outside_canary(load: Any, since: float) -> int:
    """Requests that failed and were not a broken canary's own 5xx: transport errors, and non-200
    answers from the primary."""
    return len(load.failures) + sum(
        1 for a in load.answers if a.at >= since and a.status != 200 and a.variant != "canary"
    )


def phase_broken(registry: dict[str, Any], settings: Any, share: float) -> dict[str, Any]:
    from steady_load import SteadyLoad

    from iml4e.local.serving import serve_detached

    url = _serve(registry, registry["broken"], share)
    with SteadyLoad(url, registry["features"], CONCURRENCY, prefix="broken") as load:
        started = time.time()
        result = _watch(settings.thresholds(), settings.interval_seconds)
        done = time.time()
        load.wait_for(len(load.answers) + 200)
    canary = [a for a in load.answers if a.variant == "canary" and a.at >= started]
    first_error = min((a.at for a in canary if a.status >= 500), default=None)
    late = [a for a in canary if a.at > done + 0.5]  # answered by the canary after the rollback
    serve_detached(registry["champion"], NAME)
    return {
        "phase": "broken canary",
        "decision": result["action"],
        "canary_requests": len(canary),
        "canary_5xx": sum(1 for a in canary if a.status >= 500),
        "seconds_first_error_to_rollback": None if first_error is None else round(done - first_error, 2),
        "requests_failed_by_switch": _failed_outside_canary(load, started) + len(late),
        "figures": result["figures"]["canary"],
    }


def phase_wrong(registry: dict[str, Any], settings: Any, share: float) -> dict[str, Any]:
    import orjson
    from steady_load import SteadyLoad

    from iml4e.paths import state_dir
    from iml4e_components.serving.log_store import LocalLogStore

    url = _serve(registry, registry["wrong"], share)
    truth = registry["truth"]
    store = LocalLogStore(state_dir())
    result: dict[str, Any] = {}
    watcher = threading.Thread(
        target=lambda: result.update(_watch(settings.thresholds(), settings.interval_seconds))
    )
    with SteadyLoad(url, registry["features"], CONCURRENCY, prefix="wrong") as load:
        started = time.time()
        watcher.start()
        labelled = 0
        while watcher.is_alive():
            answers = load.answers[labelled:]
            labelled += len(answers)
            lines = b"".join(
                orjson.dumps({"request_id": a.request_id, "row": 0, "label": str(truth[a.row])}) + b"\n"
                for a in answers
                if a.status == 200
            )
            if lines:
                store.add_labels(NAME, lines)
            watcher.join(0.5)
        done = time.time()
    return {
        "phase": "wrong canary",
        "decision": result["action"],
        "canary_requests": sum(1 for a in load.answers if a.variant == "canary"),
        "labelled_canary_rows": result["figures"]["canary"]["labelled_rows"],
        "seconds_to_rollback": round(done - started, 2),
        "requests_failed_by_switch": _failed_outside_canary(load, started)
        + sum(1 for a in load.answers if a.variant == "canary" and a.status != 200),
        "figures": result["figures"]["canary"],
    }


def phase_good(registry: dict[str, Any], settings: Any, share: float) -> dict[str, Any]:
    from steady_load import SteadyLoad

    url = _serve(registry, registry["good"], share)
    with SteadyLoad(url, registry["features"], CONCURRENCY, prefix="good") as load:
        started = time.time()
        result = _watch(settings.thresholds(), settings.interval_seconds)
        done = time.time()
        load.wait_for(len(load.answers) + 300)
    failed = len(load.failures) + sum(1 for a in load.answers if a.status != 200)
    return {
        "phase": "good canary",
        "decision": result["action"],
        "canary_requests": sum(1 for a in load.answers if a.variant == "canary"),
        "seconds_to_promotion": round(done - started, 2),
        "requests": len(load.answers),
        "requests_failed_by_switch": failed,
        "figures": result["figures"]["canary"],
    }


def phase_restart(registry: dict[str, Any]) -> dict[str, Any]:
    """The alternative: replace the served model by restarting the server with the new model."""
    from steady_load import SteadyLoad

    from iml4e.local.serving import serve_detached

    url = _serve(registry, None, 0.0)
    with SteadyLoad(url, registry["features"], CONCURRENCY, prefix="restart") as load:
        load.wait_for(300)
        started = time.time()
        serve_detached(registry["good"], NAME)  # another model URI: the server is stopped and started
        done = time.time()
        load.wait_for(len(load.answers) + 300)
    failed = len(load.failures) + sum(1 for a in load.answers if a.status != 200)
    return {
        "phase": "replace by restart",
        "decision": "replace",
        "seconds_to_switch": round(done - started, 2),
        "requests": len(load.answers) + len(load.failures),
        "requests_failed_by_switch": failed,
    }


def _serve(registry: dict[str, Any], canary: str | None, share: float) -> str:
    from iml4e.local.serving import serve_detached

    record = serve_detached(registry["champion"], NAME, canary_uri=canary, canary_traffic=share)
    return f"{record.url}/v2/models/{NAME}/infer"


def _registry(root: Path) -> dict[str, Any]:
    from churn_model import FEATURES, register_churn_model, register_variant

    tracking_uri, champion, data = register_churn_model(root, NAME)
    os.environ["MLFLOW_TRACKING_URI"] = tracking_uri
    os.environ["IML4E_HOME"] = str(root / "home")
    variants = {kind: register_variant(root, kind, NAME) for kind in ("good", "broken", "wrong")}
    return {
        "champion": champion,
        **variants,
        "features": data[FEATURES],
        "truth": data["churned"].tolist(),
        "tracking_uri": tracking_uri,
    }


def _reset_champion(registry: dict[str, Any]) -> None:
    import mlflow

    mlflow.MlflowClient(registry["tracking_uri"]).set_registered_model_alias(NAME, "champion", "1")


def print_table(rows: list[dict[str, Any]]) -> None:
    header = (
        f"{'phase':<20} {'decision':<9} {'canary req':>10} {'labelled':>9} {'seconds':>8} "
        f"{'failed by switch':>16}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        seconds = next((row[k] for k in row if k.startswith("seconds") and row[k] is not None), float("nan"))
        print(
            f"{row['phase']:<20} {row['decision']:<9} {row.get('canary_requests', ''):>10} "
            f"{row.get('labelled_canary_rows', ''):>9} {seconds:>8.2f} {row['requests_failed_by_switch']:>16}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--share", type=float, default=10.0, help="canary share, percent")
    parser.add_argument("--promote-after", type=float, default=15.0, help="rollout.promote_after_seconds")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    from iml4e.installer.config import Rollout

    settings = Rollout(promote_after_seconds=args.promote_after)
    with tempfile.TemporaryDirectory(prefix="iml4e-bench-rollout-") as tmp:
        registry = _registry(Path(tmp))
        try:
            rows = [
                phase_broken(registry, settings, args.share),
                phase_wrong(registry, settings, args.share),
                phase_good(registry, settings, args.share),
            ]
            _reset_champion(registry)
            rows.append(phase_restart(registry))
        finally:
            from iml4e.local import platform

            platform.down()
    broken, _, good, restart = rows
    summary = {
        "concurrency": CONCURRENCY,
        "canary_share": args.share,
        "thresholds": settings.model_dump(),
        "phases": rows,
        "targets": {
            "broken_rolled_back_within_10_s": (broken["seconds_first_error_to_rollback"] or 99) <= 10,
            "broken_canary_requests_at_most_200": broken["canary_requests"] <= 200,
            "no_request_failed_by_promote_or_rollback": all(
                r["requests_failed_by_switch"] == 0 for r in rows[:3]
            ),
        },
        "failed_by_switch_restart_vs_split": [
            restart["requests_failed_by_switch"],
            good["requests_failed_by_switch"],
        ],
    }
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
        return 0 if all(summary["targets"].values()) else 1
    print(
        f"rollout: one server, churn pipeline model, concurrency {CONCURRENCY}, canary share {args.share:g}%, "
        f"rollout.* defaults except promote_after_seconds={args.promote_after:g}; "
        f"machine: {os.cpu_count()} CPUs, shared"
    )
    print_table(rows)
    print(f"targets: {summary['targets']}")
    print(
        f"failed requests when switching the model: restart {restart['requests_failed_by_switch']} "
        f"vs canary promotion {good['requests_failed_by_switch']}"
    )
    return 0 if all(summary["targets"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
