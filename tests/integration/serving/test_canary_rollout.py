"""Canary rollouts on a real model server (loopback) with real MLflow models: the split by request id,
the variant in headers, metrics and the request log, promote and rollback under load without a failed
request, `rollout watch` rolling back a broken canary and promoting a good one, and bad input."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from churn_model import FEATURES, register_churn_model, register_variant
from steady_load import SteadyLoad, v2_body
from typer.testing import CliRunner

pytestmark = pytest.mark.integration
NAME = "churn"
#: Small windows and thresholds, so that each test decides within seconds.
FAST_ROLLOUT = {
    "window_seconds": 30,
    "min_requests": 30,
    "min_labelled_rows": 30,
    "promote_after_seconds": 4,
    "interval_seconds": 0.2,
    # A loaded two-core machine makes p99 noisy; these tests judge errors and quality.
    "p99_latency_slack_ms": 1000,
}


@dataclass(frozen=True)
class Registry:
    root: Path
    tracking_uri: str
    champion: str
    good: str
    broken: str
    wrong: str
    data: Any


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """The churn champion (version 1) and its good, broken and wrong variants, in a sqlite registry."""
    root = tmp_path_factory.mktemp("canary")
    with pytest.MonkeyPatch.context() as patch:
        tracking_uri, champion, data = register_churn_model(root, NAME)
        patch.setenv("IML4E_HOME", str(root / "home"))
        patch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
        good, broken, wrong = (register_variant(root, kind, NAME) for kind in ("good", "broken", "wrong"))
        try:
            yield Registry(root, tracking_uri, champion, good, broken, wrong, data)
        finally:
            from iml4e.local import platform

            platform.down()


@pytest.fixture(autouse=True)
def same_home(registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test of the module works on the same state directory and registry."""
    monkeypatch.setenv("IML4E_HOME", str(registry.root / "home"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry.tracking_uri)


def _serve(registry: Registry, canary: str | None = None, share: float = 0.0) -> str:
    """Serve the champion (and a canary); returns the V2 infer URL."""
    from iml4e.local.serving import serve_detached

    record = serve_detached(registry.champion, NAME, canary_uri=canary, canary_traffic=share)
    return f"{record.url}/v2/models/{NAME}/infer"


def _cli(*args: str) -> Any:
    from iml4e.cli.app import app

    return CliRunner().invoke(app, list(args))


def _rows(registry: Registry) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(registry.data[FEATURES].to_json(orient="records"))
    return rows


def _config(tmp_path: Path, **overrides: Any) -> str:
    import yaml

    path = tmp_path / f"iml4e-{len(list(tmp_path.glob('iml4e-*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump({"rollout": {**FAST_ROLLOUT, **overrides}}))
    return str(path)


def test_split_by_request_id_is_within_five_points_and_sticky(registry: Registry) -> None:
    url = _serve(registry, registry.good, 20)
    rows = _rows(registry)

    async def send(ids: list[str]) -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=8)
        async with httpx.AsyncClient(limits=limits, timeout=30) as client:
            gate = asyncio.Semaphore(8)

            async def one(i: int, request_id: str) -> httpx.Response:
                async with gate:
                    return await client.post(url, content=v2_body(request_id, rows[i % len(rows)]))

            return await asyncio.gather(*(one(i, r) for i, r in enumerate(ids)))

    ids = [f"split-{i}" for i in range(2000)]
    answers = asyncio.run(send(ids))
    assert {a.status_code for a in answers} == {200}
    variants = [a.headers["x-iml4e-variant"] for a in answers]
    share = variants.count("canary") / len(variants)
    assert 0.15 <= share <= 0.25, share
    again = asyncio.run(send(ids[:300]))
    assert [a.headers["x-iml4e-variant"] for a in again] == variants[:300]
    # V1 picks the variant from the x-request-id header: the same id, the same variant.
    v1 = url.replace(f"/v2/models/{NAME}/infer", f"/v1/models/{NAME}:predict")
    for request_id, variant in list(zip(ids, variants, strict=True))[:40]:
        answer = httpx.post(v1, json={"instances": [rows[0]]}, headers={"x-request-id": request_id})
        assert answer.status_code == 200 and answer.headers["x-iml4e-variant"] == variant
        assert answer.headers["x-request-id"] == request_id
    canary_version = registry.good.rsplit("/", 1)[1]
    canary_answer = next(a for a in answers if a.headers["x-iml4e-variant"] == "canary")
    assert canary_answer.json()["model_version"] == canary_version
    assert canary_answer.headers["x-iml4e-model-version"] == canary_version
    primary_answer = next(a for a in answers if a.headers["x-iml4e-variant"] == "primary")
    assert primary_answer.json()["model_version"] == "1"

    metrics = httpx.get(url.split("/v2/")[0] + "/metrics").text
    assert f'variant="canary",version="{canary_version}"' in metrics
    assert 'variant="primary",version="1"' in metrics
    status = _cli("rollout", "status", NAME, "--json")
    assert status.exit_code == 0, status.output
    reported = json.loads(status.stdout)
    assert reported["canary"]["model_uri"] == registry.good and reported["canary_traffic"] == 20
    _check_logged_variants(registry, {"split-0": variants[0], "split-1": variants[1]})


def _check_logged_variants(registry: Registry, expected: dict[str, str]) -> None:
    import time

    directory = registry.root / "home" / "serving" / NAME
    deadline = time.monotonic() + 10
    while True:
        records = {
            r["id"]: r
            for f in directory.glob("requests-*.jsonl")
            for r in map(json.loads, f.read_text().splitlines())
        }
        if all(i in records for i in expected) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    for request_id, variant in expected.items():
        record = records[request_id]
        assert record["variant"] == variant and record["status"] == 200
        assert record["version"] == ("1" if variant == "primary" else registry.good.rsplit("/", 1)[1])
        assert record["latency_ms"] > 0


def test_promote_and_rollback_under_load_fail_no_request(registry: Registry) -> None:
    import mlflow

    url = _serve(registry)
    with SteadyLoad(url, registry.data[FEATURES], concurrency=8, prefix="switch") as load:
        load.wait_for(50)
        _serve(registry, registry.good, 50)  # the running server takes the canary, no restart
        load.wait_for(len(load.answers) + 200)
        assert "canary" in {a.variant for a in load.answers[-150:]}
        rolled_back = _cli("rollout", "rollback", NAME, "--json")
        assert rolled_back.exit_code == 0, rolled_back.output
        after = len(load.answers)
        load.wait_for(after + 100)
        assert {a.variant for a in load.answers[after + 8 :]} == {"primary"}
        _serve(registry, registry.good, 50)
        load.wait_for(len(load.answers) + 200)
        client = mlflow.MlflowClient(registry.tracking_uri)
        good_version = registry.good.rsplit("/", 1)[1]
        assert str(client.get_model_version_by_alias(NAME, "challenger").version) == good_version
        promoted = _cli("rollout", "promote", NAME, "--json")
        assert promoted.exit_code == 0, promoted.output
        after = len(load.answers)
        load.wait_for(after + 100)
    assert load.failures == []
    assert load.statuses() == {200: len(load.answers)}
    # After the promotion the former canary answers every request, as the primary.
    assert {a.variant for a in load.answers[after + 8 :]} == {"primary"}
    assert str(client.get_model_version_by_alias(NAME, "champion").version) == good_version
    status = json.loads(_cli("rollout", "status", NAME, "--json").stdout)
    assert status["canary"] is None and status["primary"]["version"] == good_version
    _restore_champion(registry)


def _restore_champion(registry: Registry) -> None:
    import mlflow

    from iml4e.local.serving import stop_serving

    stop_serving(NAME)
    mlflow.MlflowClient(registry.tracking_uri).set_registered_model_alias(NAME, "champion", "1")


def test_watch_rolls_back_a_broken_canary(registry: Registry, tmp_path: Path) -> None:
    import mlflow

    from iml4e_components.lineage.store import read_events

    url = _serve(registry, registry.broken, 20)
    with SteadyLoad(url, registry.data[FEATURES], concurrency=8, prefix="broken") as load:
        watched = _cli("rollout", "watch", NAME, "-c", _config(tmp_path), "--json")
    assert watched.exit_code == 0, watched.output
    decision = json.loads(watched.stdout)
    assert decision["action"] == "rollback"
    assert "error ratio" in decision["reasons"][0]
    canary = decision["figures"]["canary"]
    assert canary["server_errors"] >= 3 and canary["error_ratio"] > 0.05
    assert decision["figures"]["primary"]["error_ratio"] == 0
    assert load.failures == []
    # Only the canary failed requests; the primary answered all of its own.
    assert {a.status for a in load.answers if a.variant == "primary"} == {200}
    broken_version = registry.broken.rsplit("/", 1)[1]
    client = mlflow.MlflowClient(registry.tracking_uri)
    tags = client.get_model_version(NAME, broken_version).tags
    assert tags["iml4e.rollout.decision"] == "rollback"
    assert "canary.error_ratio" in json.loads(tags["iml4e.rollout.figures"])
    run_tags = client.get_run(client.get_model_version(NAME, broken_version).run_id).data.tags
    assert run_tags["iml4e.rollout.decision"] == "rollback"
    with pytest.raises(mlflow.exceptions.MlflowException):
        client.get_model_version_by_alias(NAME, "challenger")
    events = [e for e in read_events() if e["job"]["name"] == "rollout_decision"]
    assert events[-1]["run"]["facets"]["iml4e"]["values"]["decision"] == "rollback"
    assert json.loads(_cli("rollout", "status", NAME, "--json").stdout)["canary"] is None


def test_watch_rolls_back_a_canary_whose_labelled_predictions_are_wrong(
    registry: Registry, tmp_path: Path
) -> None:
    import threading

    from iml4e.installer.config import Rollout
    from iml4e.local.rollout import watch

    url = _serve(registry, registry.wrong, 30)
    truth = registry.data["churned"].tolist()
    labels = tmp_path / "labels.csv"
    result: dict[str, Any] = {}
    settings = Rollout(**{**FAST_ROLLOUT, "promote_after_seconds": 120})  # labels decide, not time

    def watch_bounded() -> None:
        try:  # bounded, so a stalled watch fails this test with its reasons instead of hanging it
            result.update(watch(NAME, settings.thresholds(), settings.interval_seconds, timeout=240))
        except Exception as exc:
            result["error"] = str(exc)

    watcher = threading.Thread(target=watch_bounded)
    with SteadyLoad(url, registry.data[FEATURES], concurrency=8, prefix="wrong") as load:
        watcher.start()
        labelled = 0
        while watcher.is_alive():
            answers = load.answers[labelled:]
            labelled += len(answers)
            if answers:
                lines = ["request_id,label,variant"]
                lines += [f"{a.request_id},{truth[a.row]},{a.variant}" for a in answers if a.status == 200]
                labels.write_text("\n".join(lines) + "\n")
                stored = _cli("label", NAME, "--name", NAME, "--labels", str(labels))
                assert stored.exit_code == 0, stored.output
            watcher.join(0.5)
    assert result.get("action") == "rollback", result
    assert any("accuracy" in reason for reason in result["reasons"])
    assert result["figures"]["canary"]["labelled_rows"] >= 30
    assert load.statuses() == {200: len(load.answers)}


def test_watch_promotes_a_good_canary(registry: Registry, tmp_path: Path) -> None:
    import mlflow

    url = _serve(registry, registry.good, 30)
    with SteadyLoad(url, registry.data[FEATURES], concurrency=8, prefix="good") as load:
        watched = _cli("rollout", "watch", NAME, "-c", _config(tmp_path), "--json")
        after = len(load.answers)
        load.wait_for(after + 100)
    assert watched.exit_code == 0, watched.output
    decision = json.loads(watched.stdout)
    assert decision["action"] == "promote", decision
    assert decision["figures"]["canary"]["error_ratio"] == 0
    assert load.statuses() == {200: len(load.answers)} and load.failures == []
    assert {a.variant for a in load.answers[after + 8 :]} == {"primary"}
    good_version = registry.good.rsplit("/", 1)[1]
    client = mlflow.MlflowClient(registry.tracking_uri)
    assert str(client.get_model_version_by_alias(NAME, "champion").version) == good_version
    assert client.get_model_version(NAME, good_version).tags["iml4e.rollout.decision"] == "promote"
    _restore_champion(registry)


def test_bad_input_is_one_line_exit_2_and_the_primary_keeps_serving(
    registry: Registry, tmp_path: Path
) -> None:
    url = _serve(registry)
    cases = [
        (["serve", registry.champion, "--name", NAME, "-d", "--canary", "models:/churn/99"], "canary models:/churn/99"),
        (["serve", registry.champion, "--name", NAME, "--canary", registry.good, "--canary-traffic", "150"], "out of range"),
        (["serve", registry.champion, "--name", NAME, "--canary-traffic", "5"], "needs --canary"),
        (["rollout", "status", "nothing-here"], "no running model server named 'nothing-here'"),
        (["rollout", "promote", NAME], "serves no canary"),
        (["rollout", "watch", NAME, "-c", _config(tmp_path)], "serves no canary"),
        (["rollout", "watch", NAME, "-c", _config(tmp_path, max_error_ratio_increase=-0.1)], "rollout.max_error_ratio_increase"),
    ]  # fmt: skip
    bad_labels = tmp_path / "labels.csv"
    bad_labels.write_text("request_id,label,variant\nr-1,1,shadow\n")
    cases.append(
        (["label", NAME, "--name", NAME, "--labels", str(bad_labels)], "unknown variants ['shadow']")
    )
    with SteadyLoad(url, registry.data[FEATURES], concurrency=4, prefix="bad") as load:
        load.wait_for(20)
        for args, expected in cases:
            result = _cli(*args)
            assert result.exit_code == 2, (args, result.output)
            message = result.stderr.strip()
            assert expected in message and "\n" not in message and "Traceback" not in message, message
        _serve(registry, registry.good, 100)  # a canary at 100% ...
        share_zero = ["--canary", registry.good, "--canary-traffic", "0", "-d"]
        zero = _cli("serve", registry.champion, "--name", NAME, *share_zero)
        assert zero.exit_code == 0, zero.output
        watch_zero = _cli("rollout", "watch", NAME, "-c", _config(tmp_path))
        assert watch_zero.exit_code == 2 and "takes 0% of the requests" in watch_zero.stderr
        before = len(load.answers)
        load.wait_for(before + 50)
    assert load.failures == [] and load.statuses() == {200: len(load.answers)}
    assert {a.variant for a in load.answers[before + 8 :]} == {"primary"}
    status = json.loads(_cli("rollout", "status", NAME, "--json").stdout)
    assert status["error"] is None or "churn/99" in status["error"]


def test_up_after_down_serves_the_same_split(registry: Registry) -> None:
    from iml4e.local import platform
    from iml4e.local.serving import restart_served_models

    _serve(registry, registry.good, 20)
    assert platform.down() == [f"serve:{NAME}"]
    restarted, failed = restart_served_models(registry.tracking_uri)  # what `iml4e up` does for served models
    assert restarted == [f"serve:{NAME}"] and failed == {}
    status = json.loads(_cli("rollout", "status", NAME, "--json").stdout)
    assert status["canary"]["model_uri"] == registry.good and status["canary_traffic"] == 20
    assert status["primary"]["model_uri"] == registry.champion and status["error"] is None


def test_watch_gives_up_after_its_timeout_and_leaves_the_split(registry: Registry, tmp_path: Path) -> None:
    _serve(registry, registry.good, 30)  # no traffic: the canary can never reach min_requests
    watched = _cli("rollout", "watch", NAME, "-c", _config(tmp_path), "--timeout", "1")
    assert watched.exit_code == 1
    assert "no decision on the canary" in watched.stderr and len(watched.stderr.strip().splitlines()) == 1
    status = json.loads(_cli("rollout", "status", NAME, "--json").stdout)
    assert status["canary_traffic"] == 30, status
    _cli("rollout", "rollback", NAME)
