"""The canary analysis on request-log records: window figures per variant, labels joined by request id,
and the decision (wait, roll back on each kind of breach, promote after the time without one)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from iml4e_components.errors import ComponentError
from iml4e_components.rollout.analysis import RequestWindow, Thresholds, judge, wilson_lower_bound
from iml4e_components.serving.traffic_split import canary_buckets, request_bucket

THRESHOLDS = Thresholds(min_requests=50, min_labelled_rows=20, promote_after_seconds=10)


def _records(
    variant: str, count: int, errors: int = 0, latency: float = 5.0, ts: float = 100.0
) -> list[dict[str, Any]]:
    return [
        {
            "ts": ts + i * 0.001,
            "id": f"{variant}-{i}",
            "variant": variant,
            "version": "1" if variant == "primary" else "2",
            "status": 500 if i < errors else 200,
            "latency_ms": latency,
            "outputs": [i % 2],
        }
        for i in range(count)
    ]


def _window(*records: list[dict[str, Any]]) -> RequestWindow:
    window = RequestWindow(window_seconds=60.0)
    for batch in records:
        window.add(batch)
    return window


def test_waits_until_both_variants_have_enough_requests() -> None:
    figures = _window(_records("primary", 400), _records("canary", 49)).figures(120.0)
    decision = judge(figures, THRESHOLDS, 30.0)
    assert decision.action == "wait" and "canary has 49 of the 50" in decision.reasons[0]


def test_a_canary_failing_often_is_rolled_back_before_it_has_min_requests() -> None:
    early = judge(
        _window(_records("primary", 400), _records("canary", 20, errors=4)).figures(120), THRESHOLDS, 1
    )
    assert early.action == "rollback" and "99.87% confidence" in early.reasons[0]
    for errors in (0, 1, 2):  # too few failures to be sure: wait for min_requests
        waiting = _window(_records("primary", 400), _records("canary", 30, errors=errors)).figures(120)
        assert judge(waiting, THRESHOLDS, 1).action == "wait"
    assert wilson_lower_bound(0, 100, 3.0) == 0.0
    assert wilson_lower_bound(20, 100, 3.0) == pytest.approx(0.1072, abs=1e-3)


def test_rolls_back_on_errors_latency_and_quality() -> None:
    errors = judge(
        _window(_records("primary", 400), _records("canary", 100, errors=20)).figures(120), THRESHOLDS, 1
    )
    assert errors.action == "rollback" and "error ratio 0.2000" in errors.reasons[0]
    assert errors.figures["canary"].error_ratio == pytest.approx(0.2)
    slow = judge(
        _window(_records("primary", 400), _records("canary", 100, latency=80.0)).figures(120), THRESHOLDS, 1
    )
    assert slow.action == "rollback" and "p99 latency 80.0 ms" in slow.reasons[0]
    window = _window(_records("primary", 400), _records("canary", 100))
    # Labels: the primary predicted i % 2 and is right; the canary's labels say the opposite.
    window.add_labels((f"primary-{i}", 0, str(i % 2)) for i in range(40))
    window.add_labels((f"canary-{i}", 0, str(1 - i % 2)) for i in range(40))
    wrong = judge(window.figures(120), THRESHOLDS, 1)
    assert wrong.action == "rollback"
    assert wrong.figures["canary"].accuracy == 0.0 and wrong.figures["primary"].accuracy == 1.0
    assert any("accuracy" in r for r in wrong.reasons) and any("macro F1" in r for r in wrong.reasons)


def test_promotes_after_the_time_without_a_breach_and_forgets_old_requests() -> None:
    window = _window(_records("primary", 400), _records("canary", 100))
    assert judge(window.figures(120), THRESHOLDS, 5).action == "continue"
    assert judge(window.figures(120), THRESHOLDS, 10).action == "promote"
    assert window.figures(161).keys() == {"primary", "canary"}
    assert window.figures(161)["canary"].requests == 0  # everything is older than the window


def test_thresholds_that_can_never_pass_are_refused() -> None:
    with pytest.raises(ComponentError, match="max_error_ratio_increase"):
        Thresholds(max_error_ratio_increase=-0.01)
    with pytest.raises(ComponentError, match="max_p99_latency_ratio"):
        Thresholds(max_p99_latency_ratio=0.9)


def test_split_is_stable_and_proportional() -> None:
    ids = [f"request-{random.Random(7).random()}-{i}" for i in range(20_000)]
    share = sum(request_bucket(i) < canary_buckets(20) for i in ids) / len(ids)
    assert 0.19 < share < 0.21
    assert [request_bucket(i) for i in ids[:50]] == [request_bucket(i) for i in ids[:50]]
    assert request_bucket("abc") == 3721  # the same in every process and release (not Python's salted hash)
