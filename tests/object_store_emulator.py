"""moto's S3 server (`moto.server.ThreadedMotoServer`) on a loopback port, for tests of what reads and
writes the platform's object store.

It is a real HTTP server speaking the S3 REST protocol, so the `minio` client runs exactly as against
SeaweedFS on the cluster (signing, PUT, ListObjectsV2, GET). It is an S3 emulator, not SeaweedFS
itself: neither SeaweedFS nor MinIO server binaries are packaged on PyPI or in Debian, and the tests
stay offline.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest


@contextmanager
def s3_emulator() -> Iterator[str]:
    """The endpoint URL of a moto S3 server running until the block ends."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def use_s3(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    """The environment the installer gives a pod (`iml4e_components.object_store`), pointed at `endpoint`."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "iml4e-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "iml4e-test-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
