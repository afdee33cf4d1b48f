"""The model server against hostile clients, over real sockets on 127.0.0.1: slow and idle
connections are closed within their bounds, foreign Host names are refused, model control is off
unless asked for, and `iml4e up` repairs a server whose model was unloaded."""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from conftest import ServedChurn

pytestmark = pytest.mark.integration
REQUEST_TIMEOUT = 2.0
KEEP_ALIVE_TIMEOUT = 2
#: Slack for a busy machine between the bound and the moment the test sees the connection closed.
SLACK = 1.5


@dataclass(frozen=True)
class StrictServer:
    port: int
    pid: int


@pytest.fixture(scope="module")
def strict_server(
    served_churn: ServedChurn, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StrictServer]:
    """The served model in its own server process with short request and keep-alive bounds."""
    from iml4e.local import processes

    port = processes.free_port()
    log = tmp_path_factory.mktemp("strict") / "server.log"
    command = [
        sys.executable, "-m", "iml4e_components.serving",
        "--model-uri", served_churn.model_uri,
        "--name", "churn",
        "--port", str(port),
        "--log-sample-rate", "0",
        "--request-timeout", str(REQUEST_TIMEOUT),
        "--keep-alive-timeout", str(KEEP_ALIVE_TIMEOUT),
    ]  # fmt: skip
    pid = processes.spawn(command, log, env={"MLFLOW_TRACKING_URI": served_churn.tracking_uri})
    try:
        processes.wait_http_ok(f"http://127.0.0.1:{port}/v2/health/ready", 300, pid, log, "strict server")
        yield StrictServer(port, pid)
    finally:
        processes.stop(pid)


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _seconds_until_closed(sock: socket.socket, drip: bytes = b"", every: float = 0.25) -> tuple[float, bytes]:
    """Send `drip` a byte at a time every `every` seconds (nothing when empty) until the server
    closes the connection; returns the seconds it took and what the server sent."""
    started = time.monotonic()
    received = b""
    sock.settimeout(every)
    position = 0
    while time.monotonic() - started < 30:
        if position < len(drip):
            try:
                sock.sendall(drip[position : position + 1])
            except OSError:
                break
            position += 1
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            continue
        except OSError:
            break
        if not chunk:
            break
        received += chunk
    return time.monotonic() - started, received


HEADERS_NEVER_ENDING = b"POST /v2/models/churn/infer HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Pad: a\r\n" * 500
BODY_NEVER_ENDING = (
    b"POST /v2/models/churn/infer HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\n"
    b"content-length: 5000\r\n\r\n" + b" " * 5000
)


@pytest.mark.parametrize(
    ("kind", "drip"),
    [("silent", b""), ("slow headers", HEADERS_NEVER_ENDING), ("slow body", BODY_NEVER_ENDING)],
    ids=["silent", "slow-headers", "slow-body"],
)
def test_a_slow_client_is_closed_within_the_request_timeout(
    strict_server: StrictServer, kind: str, drip: bytes
) -> None:
    with _connect(strict_server.port) as sock:
        if kind == "slow body":  # the headers arrive at once; the body a byte at a time
            head, _ = drip.split(b"\r\n\r\n", 1)
            sock.sendall(head + b"\r\n\r\n")
            drip = drip[len(head) + 4 :]
        seconds, received = _seconds_until_closed(sock, drip)
    assert seconds < REQUEST_TIMEOUT + SLACK, f"{kind}: held {seconds:.1f} s"
    assert received.startswith(b"HTTP/1.1 408"), received[:100]


def test_many_slowloris_connections_are_all_closed_and_others_still_served(
    strict_server: StrictServer,
) -> None:
    import threading

    seconds: list[float] = []

    def slowloris() -> None:
        with _connect(strict_server.port) as sock:
            seconds.append(_seconds_until_closed(sock, HEADERS_NEVER_ENDING)[0])

    threads = [threading.Thread(target=slowloris) for _ in range(18)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    assert httpx.get(f"http://127.0.0.1:{strict_server.port}/v2/health/ready").status_code == 200
    for thread in threads:
        thread.join(timeout=30)
    assert len(seconds) == 18 and max(seconds) < REQUEST_TIMEOUT + SLACK, seconds


def test_an_idle_keep_alive_connection_is_closed_within_its_timeout(strict_server: StrictServer) -> None:
    with _connect(strict_server.port) as sock:
        sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        answered = time.monotonic()
        seconds, received = _seconds_until_closed(sock)
        idle = time.monotonic() - answered
    assert received.startswith(b"HTTP/1.1 200")
    assert KEEP_ALIVE_TIMEOUT - 0.5 < idle < KEEP_ALIVE_TIMEOUT + SLACK, (
        f"idle connection held {seconds:.1f} s"
    )


def test_a_foreign_host_or_origin_is_refused(served_churn: ServedChurn) -> None:
    url = f"{served_churn.url}/v2/health/ready"
    assert httpx.get(url, headers={"host": "evil.example"}).status_code == 403
    assert httpx.get(url, headers={"origin": "http://evil.example"}).status_code == 403
    assert httpx.get(url.replace("127.0.0.1", "localhost")).status_code == 200


def test_model_control_is_off_by_default(served_churn: ServedChurn) -> None:
    unload = httpx.post(f"{served_churn.url}/v2/repository/models/churn/unload")
    assert unload.status_code == 404 and "--allow-model-control" in unload.json()["error"]
    assert httpx.get(f"{served_churn.url}/v2/models/churn/ready").status_code == 200


def test_an_unloaded_model_makes_the_server_unready_and_up_repairs_it(
    served_churn: ServedChurn, monkeypatch: pytest.MonkeyPatch
) -> None:
    from iml4e.local.serving import restart_served_models, serve_detached, stop_serving
    from iml4e.local.state import load_state

    monkeypatch.setenv("IML4E_HOME", str(served_churn.home))
    record = serve_detached(
        served_churn.model_uri,
        "churn-control",
        tracking_uri=served_churn.tracking_uri,
        allow_model_control=True,
    )
    try:
        base = f"{record.url}/v2"
        assert httpx.post(f"{base}/repository/models/churn-control/unload").status_code == 200
        assert httpx.get(f"{base}/health/ready").status_code == 503
        assert httpx.post(f"{base}/models/churn-control/infer", json={"inputs": []}).status_code == 503
        restarted, failed = restart_served_models(served_churn.tracking_uri)
        assert "serve:churn-control" in restarted and failed == {}
        repaired = load_state(served_churn.home).services["serve:churn-control"]
        assert repaired.pid != record.pid and repaired.extra["allow_model_control"] is True
        assert httpx.get(f"{repaired.url}/v2/health/ready").json() == {"ready": True}
    finally:
        stop_serving("churn-control")
