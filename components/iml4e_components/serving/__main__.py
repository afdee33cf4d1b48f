"""`python -m iml4e_components.serving`: serve one MLflow model over the KServe V1 and V2 protocols.

This is the process `iml4e serve` starts locally, and the command a KServe custom serving runtime
runs on the cluster (there with `--host 0.0.0.0` inside the pod).
"""

from __future__ import annotations

import argparse
import os
import sys

from iml4e_components.errors import ComponentError


def build_parser() -> argparse.ArgumentParser:
    """The server's command line (the cluster's ServingRuntime passes the same arguments)."""
    parser = argparse.ArgumentParser(
        prog="python -m iml4e_components.serving", description=__doc__, allow_abbrev=False
    )
    parser.add_argument(
        "--model-uri", required=True, help="MLflow model URI: models:/name@alias, runs:/id/model, a path"
    )
    parser.add_argument(
        "--name", required=True, help="Model name in the endpoint paths (/v2/models/NAME/infer)"
    )
    parser.add_argument("--port", type=int, default=8080, help="HTTP port")
    parser.add_argument("--host", default="127.0.0.1", help="Address to bind (default loopback only)")
    parser.add_argument(
        "--state-dir",
        default=os.environ.get("IML4E_HOME"),
        help="Where request logs go (serving/NAME/), unless IML4E_REQUEST_LOG_BUCKET names an object store bucket",
    )
    parser.add_argument(
        "--log-sample-rate", type=float, default=1.0, help="Share of requests logged (0 turns it off)"
    )
    parser.add_argument(
        "--max-body-bytes", type=int, default=8 * 1024 * 1024, help="Largest request body accepted"
    )
    parser.add_argument(
        "--allow-model-control",
        action="store_true",
        help="Serve KServe's unauthenticated POST /v2/repository/models/NAME/load and /unload (off by default)",
    )
    parser.add_argument(
        "--allowed-hosts",
        default=None,
        help="Comma-separated Host names requests may be addressed to ('*': any); default: the "
        "loopback names when bound to loopback, any otherwise",
    )
    parser.add_argument(
        "--request-timeout",
        type=float,
        default=None,
        help="Seconds a client has to send a whole request (headers and body); slower ones are closed "
        "(default 20)",
    )
    parser.add_argument(
        "--keep-alive-timeout",
        type=int,
        default=None,
        help="Seconds an idle keep-alive connection stays open (default 65)",
    )
    parser.add_argument(
        "--canary-uri",
        default=None,
        help="A second MLflow model that answers --canary-traffic percent of the requests (by request id)",
    )
    parser.add_argument(
        "--canary-traffic", type=float, default=0.0, help="Percent of requests the canary answers (0-100)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    timeouts = {"--request-timeout": args.request_timeout, "--keep-alive-timeout": args.keep_alive_timeout}
    for option, value in timeouts.items():
        if value is not None and not value > 0:
            parser.error(f"{option} {value} is not a positive number of seconds")
    if not 0.0 <= args.canary_traffic <= 100.0:
        parser.error(
            f"--canary-traffic {args.canary_traffic} is out of range; give a percentage from 0 to 100"
        )
    sys.argv = sys.argv[:1]  # kserve parses the command line when imported; give it nothing of ours
    from iml4e_components.serving.server import serve

    try:
        serve(
            args.model_uri,
            args.name,
            args.port,
            host=args.host,
            state_dir=args.state_dir,
            log_sample_rate=args.log_sample_rate,
            max_body_bytes=args.max_body_bytes,
            allow_model_control=args.allow_model_control,
            allowed_hosts=None if args.allowed_hosts is None else args.allowed_hosts.split(","),
            request_timeout=args.request_timeout,
            keep_alive_timeout=args.keep_alive_timeout,
            canary_uri=args.canary_uri,
            canary_traffic=args.canary_traffic,
        )
    except ComponentError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
