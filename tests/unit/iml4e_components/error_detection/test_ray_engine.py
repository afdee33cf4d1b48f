"""The Ray engine of `iml4e detect`: the same mask as the local engine, and its bad input.

Tests marked `integration` start a real local Ray (loopback only): one session for this module, which
the in-process CLI runs reuse; the worker-kill tests run the CLI in a subprocess that starts and stops
its own Ray.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest
from typer.testing import CliRunner

from iml4e.cli.app import app
from iml4e_components.error_detection.blocks import block_vocabulary, merge_vocabularies
from iml4e_components.error_detection.detector import ErrorDetector
from iml4e_components.error_detection.engines import RayEngine, block_spans
from iml4e_components.error_detection.injection import inject_errors
from iml4e_components.error_detection.knowledge_base import KnowledgeBase
from iml4e_components.error_detection.oracles import CleanTableOracle
from iml4e_components.error_detection.synthetic_tables import generate_table
from iml4e_components.errors import ComponentError

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[4]
#: The shared dirty/clean pairs (see their README), found as benchmarks/error_detection.py finds them.
SHARED_PAIRS = Path(os.environ.get("IML4E_ED_DATA", ROOT.parent / "shared" / "datasets" / "error-detection"))
ray_session = pytest.mark.xdist_group("ray")


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith((".mask", "mask")))


@pytest.fixture(scope="module")
def ray_engine() -> Iterator[RayEngine]:
    engine = RayEngine(num_cpus=2, block_rows=400)
    engine.start()
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def small_table(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("table")
    clean = generate_table("clinics", 1_500, 21)
    dirty, _ = inject_errors(clean, 0.05, ["typo", "missing", "placeholder", "rule"], 5)
    dirty.to_csv(folder / "dirty.csv", index=False)
    clean.to_csv(folder / "clean.csv", index=False)
    return folder / "dirty.csv", folder / "clean.csv"


# Bad input that is refused before any Ray starts.


def test_unreachable_ray_address_is_one_line_exit_2_and_leaves_no_mask(
    tmp_path: Path, small_table: tuple[Path, Path], small_kb_file: Path
) -> None:
    dirty, _ = small_table
    address = f"ray://127.0.0.1:{_closed_port()}"
    args = ["detect", str(dirty), "--kb", str(small_kb_file), "-o", str(tmp_path / "mask.csv")]
    done = runner.invoke(app, [*args, "--engine", "ray", "--ray-address", address])
    assert done.exit_code == 2
    assert done.stderr.strip().count("\n") == 0
    assert f"Ray address {address} is unreachable" in done.stderr
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--engine", "spark"], "unknown engine 'spark'; use one of local, ray"),
        (["--ray-address", "auto"], "--ray-address and --block-rows need --engine ray"),
        (["--engine", "ray", "--ray-address", "head:port"], "Ray address 'head:port' is not valid"),
    ],
)
def test_bad_engine_options_are_one_line_exit_2(
    tmp_path: Path, small_table: tuple[Path, Path], options: list[str], message: str
) -> None:
    done = runner.invoke(app, ["detect", str(small_table[0]), "-o", str(tmp_path / "mask.csv"), *options])
    assert done.exit_code == 2
    assert message in done.stderr and done.stderr.strip().count("\n") == 0
    assert _leftovers(tmp_path) == []


def test_blocks_that_disagree_on_columns_are_refused_naming_the_block() -> None:
    first = pd.DataFrame({"city": ["Oslo", "Rome"], "zip": ["0150", "00100"]})
    second = pd.DataFrame({"city": ["Bern"], "postcode": ["3000"]})
    with pytest.raises(ComponentError, match=r"block 1 \(from row 2\) has columns \['city', 'postcode'\]"):
        merge_vocabularies([block_vocabulary(first), block_vocabulary(second)])


def test_merged_vocabularies_give_each_value_its_whole_table_code() -> None:
    table = pd.DataFrame({"a": ["x", "y", "x", "z", "y", "w"], "b": ["1", "1", "2", "2", "3", "1"]})
    parts = [block_vocabulary(table.iloc[a:b]) for a, b in block_spans(len(table), 2)]
    merged = merge_vocabularies(parts)
    whole = block_vocabulary(table)
    for j in range(2):
        assert merged.values[j].uniques == whole.values[j].uniques
        assert merged.values[j].counts.tolist() == whole.values[j].counts.tolist()
    assert merged.block_starts == [0, 2, 4]
    assert [codes[0].tolist() for codes in merged.block_codes] == [[0, 1], [0, 2], [1, 3]]


# Same answer on a real local Ray.


@pytest.mark.integration
@pytest.mark.slow  # starting Ray and its workers takes 30-80 s on a busy 2-core machine
@ray_session
@pytest.mark.parametrize("labels", [True, False], ids=["20-labeled-tuples", "zero-label"])
def test_ray_engine_gives_the_local_mask_through_the_cli(
    ray_engine: RayEngine,
    tmp_path: Path,
    small_table: tuple[Path, Path],
    small_kb_file: Path,
    labels: bool,
) -> None:
    dirty, clean = small_table
    args = ["detect", str(dirty), "--kb", str(small_kb_file), "--seed", "3", "--json"]
    if labels:
        args += ["--clean", str(clean)]
    local = runner.invoke(app, [*args, "-o", str(tmp_path / "local.csv")])
    ray = runner.invoke(
        app, [*args, "-o", str(tmp_path / "ray.csv"), "--engine", "ray", "--block-rows", "250"]
    )
    assert local.exit_code == 0 and ray.exit_code == 0, ray.output
    assert (tmp_path / "ray.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()
    assert pd.read_csv(tmp_path / "ray.csv").to_numpy().sum() > 0
    import ray as ray_module

    # The CLI joined this module's Ray session and, not having started it, left it running.
    assert ray_module.is_initialized()


@pytest.mark.integration
@pytest.mark.slow
@ray_session
@pytest.mark.parametrize("pair", ["hospital", "flights", "beers"])
def test_ray_engine_gives_the_local_mask_on_the_shared_pairs(
    ray_engine: RayEngine, tmp_path: Path, pair: str
) -> None:
    folder = SHARED_PAIRS / pair
    if not (folder / "dirty.csv").is_file():
        pytest.skip(f"shared pair {folder} not found; set IML4E_ED_DATA")
    args = ["detect", str(folder / "dirty.csv"), "--clean", str(folder / "clean.csv"), "--json"]
    local = runner.invoke(app, [*args, "-o", str(tmp_path / "local.csv")])
    ray = runner.invoke(
        app, [*args, "-o", str(tmp_path / "ray.csv"), "--engine", "ray", "--block-rows", "600"]
    )
    assert local.exit_code == 0 and ray.exit_code == 0, ray.output
    assert (tmp_path / "ray.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()
    # Read as the shared README says: every cell a string, empty cells kept.
    mask = pd.read_csv(tmp_path / "ray.csv", dtype=str, keep_default_na=False)
    dirty = pd.read_csv(folder / "dirty.csv", dtype=str, keep_default_na=False)
    assert mask.shape == dirty.shape
    assert local.stdout and ray.stdout
    assert _scores(ray.stdout) == _scores(local.stdout)


def _scores(stdout: str) -> dict[str, float]:
    import json

    return dict(json.loads(stdout)["scores"])


@pytest.mark.integration
@pytest.mark.slow
@ray_session
def test_ray_engine_gives_the_local_mask_on_200000_rows(
    ray_engine: RayEngine, small_kb: KnowledgeBase
) -> None:
    clean = generate_table("clinics", 200_000, 5)
    dirty, _ = inject_errors(clean, 0.05, ["typo", "missing", "placeholder", "rule"], 7)
    detector = ErrorDetector(small_kb, models_per_column=3)
    oracle = CleanTableOracle(clean)
    local = detector.detect(dirty, budget=20, oracle=oracle, seed=11)
    blocked = RayEngine(block_rows=50_000)
    with blocked:
        ray = detector.detect(dirty, budget=20, oracle=oracle, seed=11, engine=blocked)
    assert local.labeled_rows == ray.labeled_rows
    assert np.array_equal(local.mask.to_numpy(), ray.mask.to_numpy())
    assert local.n_detected > 1_000


# A worker killed mid-run: the CLI in a subprocess with its own local Ray.


def _detect_killing_one_worker(args: list[str]) -> tuple[subprocess.CompletedProcess[str], bool]:
    """Run `iml4e detect ARGS` and SIGKILL the first Ray worker seen running a block's evidence."""
    command = [sys.executable, "-m", "iml4e.cli.app", "detect", *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed = False
    deadline = time.monotonic() + 600
    while process.poll() is None and not killed and time.monotonic() < deadline:
        for candidate in psutil.process_iter(["name", "cmdline"]):
            try:
                title = " ".join(candidate.info["cmdline"] or []) or candidate.info["name"] or ""
                if title.startswith("ray::block_evidence") and process.pid in {
                    p.pid for p in candidate.parents()
                }:
                    candidate.kill()
                    killed = True
                    break
            except psutil.Error:
                continue
        time.sleep(0.05)
    stdout, stderr = process.communicate(timeout=600)
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr), killed


@pytest.fixture(scope="module")
def long_table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("long") / "dirty.csv"
    clean = generate_table("clinics", 40_000, 8)
    inject_errors(clean, 0.05, ["typo", "missing", "rule"], 2)[0].to_csv(path, index=False)
    return path


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("retries", [2, 0])
def test_a_killed_worker_is_retried_within_the_bound_else_exit_1_without_a_mask(
    tmp_path: Path, long_table: Path, small_kb_file: Path, retries: int
) -> None:
    mask = tmp_path / "mask.csv"
    args = [str(long_table), "--kb", str(small_kb_file), "-o", str(mask), "--engine", "ray"]
    done, killed = _detect_killing_one_worker(
        [*args, "--block-rows", "2000", "--ray-max-retries", str(retries)]
    )
    assert killed, done.stderr
    if retries:
        assert done.returncode == 0, done.stderr
        local = runner.invoke(
            app, ["detect", str(long_table), "--kb", str(small_kb_file), "-o", str(tmp_path / "local.csv")]
        )
        assert local.exit_code == 0
        assert mask.read_bytes() == (tmp_path / "local.csv").read_bytes()
    else:
        assert done.returncode == 1
        last = done.stderr.strip().splitlines()[-1]
        assert "a Ray worker running error detection died and its task was retried 0 times" in last
        assert _leftovers(tmp_path) == []
