"""Serving throughput and latency: `iml4e serve` (V2 and V1) against `mlflow models serve`, plus drift time.

Two registered scikit-learn models, each served by both servers on loopback with one worker each,
one-row requests: `churn`, the platform's training pipeline (imputation, scaling, one-hot encoding,
logistic regression; about 8 ms per call, so the model dominates), and `light`, a bare logistic
regression on the numeric columns (a fraction of a millisecond per call, so the servers dominate, as
in the serving issue's reference measurement where MLflow answered about 1,470 requests/s). The
load comes from aiohttp in a separate process, at concurrency 1, 8 and 32, over REQUESTS requests
each after a warm-up. Prints a table with requests/s, p50/p99 and the ratio of iml4e's throughput to
MLflow's, fails if any answer was a 5xx, then times the drift monitor on a 1,000,000-row x 20-column
window.

    python benchmarks/serving.py [--models churn light] [--requests 5000] [--concurrency 1 8 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration" / "serving"))


# --- load generator (runs in its own process) -------------------------------------------------
async def _generate_load(url: str, bodies: list[bytes], concurrency: int, requests: int) -> dict[str, Any]:
    import aiohttp

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    issued = 0
    headers = {"content-type": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal issued
            while issued < requests:
                body = bodies[issued % len(bodies)]
                issued += 1
                started = time.perf_counter()
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    latencies.append(time.perf_counter() - started)
                    statuses[response.status] = statuses.get(response.status, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "latencies": latencies, "statuses": statuses}


def _load_main(args: argparse.Namespace) -> None:
    import uvloop

    bodies = [line.encode() for line in Path(args.bodies).read_text().splitlines() if line]
    if args.warmup:
        uvloop.run(_generate_load(args.load, bodies, args.concurrency, args.warmup))
    result = uvloop.run(_generate_load(args.load, bodies, args.concurrency, args.requests))
    sys.stdout.write(json.dumps(result) + "\n")


def run_load(url: str, bodies_file: Path, concurrency: int, requests: int, warmup: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--load", url, "--bodies", str(bodies_file)]
    command += ["--concurrency", str(concurrency), "--requests", str(requests), "--warmup", str(warmup)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --- servers and payloads ---------------------------------------------------------------------
def _bodies(records: list[dict[str, Any]], columns: dict[str, str]) -> dict[str, list[str]]:
    v1 = [json.dumps({"instances": [r]}) for r in records]
    mlflow = [json.dumps({"dataframe_records": [r]}) for r in records]
    v2 = [
        json.dumps(
            {"inputs": [{"name": c, "shape": [1], "datatype": t, "data": [r[c]]} for c, t in columns.items()]}
        )
        for r in records
    ]
    return {"v1": v1, "v2": v2, "mlflow": mlflow}


def _start(command: list[str], url: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    import httpx

    with open(log, "ab") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **env}, start_new_session=True
        )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{command[:4]} exited; see {log}:\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    _stop(process)
    raise RuntimeError(f"{command[:4]} did not become healthy; see {log}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the server and its children (`mlflow models serve` runs uvicorn as a child)."""
    import signal

    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def _port(port: int) -> list[str]:
    return ["--port", str(port)]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bench_serving(
    model: str, requests: int, levels: list[int], rounds: int, work: Path
) -> list[dict[str, Any]]:
    from churn_model import FEATURES, NUMERIC_FEATURES, register_churn_model

    light = model == "light"
    tracking_uri, model_uri, data = register_churn_model(work, name="churn", light=light)
    features = NUMERIC_FEATURES if light else FEATURES
    records = json.loads(data[features].head(200).to_json(orient="records"))
    types = {"age": "INT64", "region": "BYTES", "contract": "BYTES", "tenure_months": "INT64"}
    types |= {"monthly_charges": "FP64", "support_calls": "INT64"}
    bodies = _bodies(records, {column: types[column] for column in features})
    files = {}
    for kind, lines in bodies.items():
        files[kind] = work / f"{kind}.jsonl"
        files[kind].write_text("\n".join(lines) + "\n")
    # `mlflow models serve` execs `uvicorn` by name: the interpreter's own bin directory must be on PATH
    # even when the benchmark runs as `.venv/bin/python` without an activated virtualenv.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {"MLFLOW_TRACKING_URI": tracking_uri, "IML4E_HOME": str(work / "home"), "PATH": path}
    iml4e_port, mlflow_port = _free_port(), _free_port()
    iml4e = _start(
        [
            sys.executable,
            "-m",
            "iml4e_components.serving",
            "--model-uri",
            model_uri,
            "--name",
            "churn",
            *_port(iml4e_port),
        ],
        f"http://127.0.0.1:{iml4e_port}/v2/health/ready",
        env,
        work / "iml4e.log",
    )
    mlflow = _start(
        [
            sys.executable,
            "-m",
            "mlflow",
            "models",
            "serve",
            "-m",
            model_uri,
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(mlflow_port),
        ],
        f"http://127.0.0.1:{mlflow_port}/ping",
        env,
        work / "mlflow.log",
    )
    targets = {
        "iml4e V2": (f"http://127.0.0.1:{iml4e_port}/v2/models/churn/infer", files["v2"]),
        "iml4e V1": (f"http://127.0.0.1:{iml4e_port}/v1/models/churn:predict", files["v1"]),
        "mlflow": (f"http://127.0.0.1:{mlflow_port}/invocations", files["mlflow"]),
    }
    rows = []
    sys.stderr.write(f"model {model}:\n")
    try:
        for level in levels:
            rows += [{"model": model, **row} for row in _measure_level(targets, level, requests, rounds)]
    finally:
        _stop(iml4e)
        _stop(mlflow)
    return rows


def _measure_level(
    targets: dict[str, tuple[str, Path]], level: int, requests: int, rounds: int
) -> list[dict[str, Any]]:
    """`requests` per server in `rounds` interleaved rounds (order alternating), so a busy neighbour
    on a shared machine slows every server alike instead of whichever ran at the wrong minute."""
    latencies: dict[str, list[float]] = {t: [] for t in targets}
    seconds = dict.fromkeys(targets, 0.0)
    statuses: dict[str, dict[str, int]] = {t: {} for t in targets}
    per_round = -(-requests // rounds)
    for number in range(rounds):
        order = list(targets) if number % 2 == 0 else list(reversed(targets))
        for target in order:
            url, file = targets[target]
            result = run_load(url, file, level, per_round, warmup=200 if number == 0 else 0)
            latencies[target] += result["latencies"]
            seconds[target] += result["seconds"]
            for code, count in result["statuses"].items():
                statuses[target][code] = statuses[target].get(code, 0) + count
    rows = []
    for target in targets:
        ordered = sorted(latencies[target])
        row = {
            "server": target,
            "concurrency": level,
            "requests": len(ordered),
            "rps": len(ordered) / seconds[target],
            "p50_ms": ordered[len(ordered) // 2] * 1000,
            "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
            "statuses": statuses[target],
        }
        sys.stderr.write(f"  {target} c={level}: {row['rps']:.0f} req/s, p99 {row['p99_ms']:.1f} ms\n")
        rows.append(row)
    return rows


def bench_drift() -> dict[str, float]:
    import numpy as np
    import pandas as pd

    from iml4e_components.monitoring.drift import compute_drift

    rng = np.random.default_rng(0)
    reference = pd.DataFrame({f"f{i}": rng.normal(0, 1, 100_000) for i in range(20)})
    current = pd.DataFrame({f"f{i}": rng.normal(0.05 * (i % 3), 1, 1_000_000) for i in range(20)})
    started = time.perf_counter()
    result = compute_drift(reference, current)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": len(current), "columns": 20, "drifted": len(result.drifted_features)}


def print_table(rows: list[dict[str, Any]]) -> None:
    mlflow_rps = {(r["model"], r["concurrency"]): r["rps"] for r in rows if r["server"] == "mlflow"}
    header = f"{'model':<6} {'server':<10} {'conc':>4} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'x mlflow':>9} {'5xx':>5}"
    print(header)
    for r in rows:
        errors = sum(n for code, n in r["statuses"].items() if int(code) >= 500)
        ratio = r["rps"] / mlflow_rps[(r["model"], r["concurrency"])]
        print(
            f"{r['model']:<6} {r['server']:<10} {r['concurrency']:>4} {r['rps']:>8.0f} {r['p50_ms']:>8.2f}"
            f" {r['p99_ms']:>8.2f} {ratio:>9.2f} {errors:>5}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", nargs="+", choices=["churn", "light"], default=["churn", "light"])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per concurrency level")
    parser.add_argument("--skip-drift", action="store_true")
    parser.add_argument("--warmup", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--load", help=argparse.SUPPRESS)
    parser.add_argument("--bodies", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        args.concurrency = args.concurrency[0]
        _load_main(args)
        return 0
    rows = []
    for model in args.models:
        with tempfile.TemporaryDirectory(prefix=f"iml4e-bench-serving-{model}-") as tmp:
            rows += bench_serving(model, args.requests, args.concurrency, args.rounds, Path(tmp))
    print(
        f"serving: one-row requests, {args.requests} per cell in {args.rounds} interleaved rounds, loopback, "
        f"one worker per server, load generator in its own process; machine: {os.cpu_count()} CPUs, shared"
    )
    print_table(rows)
    failures = [r for r in rows if any(int(code) >= 500 for code in r["statuses"])]
    non_ok = [r for r in rows if set(r["statuses"]) != {"200"}]
    if non_ok:
        print(f"non-200 answers: {[(r['server'], r['concurrency'], r['statuses']) for r in non_ok]}")
    if not args.skip_drift:
        drift = bench_drift()
        print(
            f"drift monitor: {drift['rows']:,} x {drift['columns']} window (100,000-row reference, "
            f"sampled to 100,000 rows per side) in {drift['seconds']:.1f} s; {drift['drifted']} features drifted"
        )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
