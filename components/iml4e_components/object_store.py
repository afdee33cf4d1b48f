"""The platform's S3 object store (SeaweedFS on the cluster, any S3 service elsewhere) through `minio`.

Where it is and who may use it comes from the environment the installer gives every pod:
`AWS_ENDPOINT_URL` (or `MLFLOW_S3_ENDPOINT_URL`), `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`
(from the generated Secret) and `AWS_DEFAULT_REGION`.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlparse

from iml4e_components.errors import ComponentError


def client_from_env(purpose: str) -> Any:
    """A `minio.Minio` client for the configured endpoint; `purpose` names what needs it in errors.

    Requests time out (5 s to connect, 30 s to read) and are retried three times, so a store
    that is down is noticed in seconds, not after minio's default minutes.
    """
    import urllib3
    from minio import Minio

    endpoint = os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("MLFLOW_S3_ENDPOINT_URL")
    if not endpoint:
        raise ComponentError(
            f"cannot reach the object store for {purpose}: set AWS_ENDPOINT_URL to the S3 endpoint"
        )
    url = urlparse(endpoint if "://" in endpoint else f"http://{endpoint}")
    if not url.netloc:
        raise ComponentError(f"AWS_ENDPOINT_URL '{endpoint}' is not a URL; set it to e.g. http://host:8333")
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=5.0, read=30.0),
        retries=urllib3.Retry(total=3, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
    )
    return Minio(
        url.netloc,
        access_key=os.environ.get("AWS_ACCESS_KEY_ID"),
        secret_key=os.environ.get("AWS_SECRET_ACCESS_KEY"),
        region=os.environ.get("AWS_DEFAULT_REGION") or None,
        secure=url.scheme == "https",
        http_client=http,
    )
