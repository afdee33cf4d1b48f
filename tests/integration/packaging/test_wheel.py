"""The wheel, installed outside the checkout, runs `iml4e demo` in an empty directory.

Everything the demo reads (manifests, knowledge base, templates, specs) must travel in the wheel: the
virtualenv here has no path back to the checkout. Dependencies come from uv's cache at the versions of
uv.lock (offline when the cache holds them all, else from the package index)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from iml4e_components.datasets.core import generate_churn

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.xdist_group("wheel")]

REPO = Path(__file__).resolve().parents[3]
#: Written by tools and by other tests running alongside, never by the demo.
_CHECKOUT_NOISE = (
    ".venv",
    ".venv-tools",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".import_linter_cache",
    "__pycache__",
)

#: MLflow's run and experiment links, its pip lookup warning, a tqdm bar's rate.
_NOISE = ("View run", "View experiment", "Failed to resolve installed pip", "it/s]")


def _uv() -> str:
    """The uv of `make` (it exports UV), else the one on PATH, else the one `make install` bootstraps."""
    for candidate in (os.environ.get("UV"), shutil.which("uv"), str(REPO / ".venv-tools" / "bin" / "uv")):
        if candidate and os.access(candidate, os.X_OK):
            return str(Path(candidate).absolute())
    pytest.fail("no uv found: run `make install` (it bootstraps uv) or put uv on PATH", pytrace=False)


def _checkout_changes() -> set[str]:
    """Changed, new and ignored paths of the checkout, less the tool caches."""
    listing = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "-z", "--ignored", "--untracked-files=all"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    paths = {entry[3:] for entry in listing.split("\0") if entry}
    return {p for p in paths if not any(part in _CHECKOUT_NOISE for part in Path(p).parts)}


def _run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{command[:3]} exited {result.returncode}:\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv outside the checkout with the built wheel and uv.lock's dependencies."""
    uv = _uv()
    root = tmp_path_factory.mktemp("wheel")
    dist, venv, lock = root / "dist", root / "venv", root / "lock"
    lock.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    _run([uv, "build", "--wheel", "--offline", "--out-dir", str(dist), str(REPO)], env=env)
    (wheel,) = dist.glob("iml4e-*.whl")
    # uv.lock's versions as a PEP 751 lock (exact file URLs, so uv needs no index when its cache has them).
    export = [uv, "export", "--frozen", "--no-dev", "--no-emit-project", "--format", "pylock.toml", "--quiet"]
    _run([*export, "--output-file", str(lock / "pylock.toml")], cwd=REPO, env=env)
    _run([uv, "venv", "--quiet", "--python", os.environ.get("PYTHON", "3.11"), str(venv)], env=env)
    env["VIRTUAL_ENV"] = str(venv)
    install = [uv, "pip", "install", "--quiet", "-r", str(lock / "pylock.toml")]
    if subprocess.run([*install, "--offline"], env=env, capture_output=True).returncode != 0:
        _run(install, env=env)  # a cache that lacks some wheels: fetch them from the index
    _run([uv, "pip", "install", "--quiet", "--offline", "--no-deps", str(wheel)], env=env)
    return venv


@pytest.fixture
def empty_directory(tmp_path: Path, installed: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """An empty working directory and an environment that knows nothing of the checkout."""
    work = tmp_path / "work"
    work.mkdir()
    # Bytecode is written as a user's installation would: with PYTHONDONTWRITEBYTECODE (as in CI) every
    # process of the demo compiled mlflow, kfp and kubernetes from source again (measured: 282 s, 108 s without).
    drop = ("IML4E_HOME", "VIRTUAL_ENV", "PYTHONPATH", "MLFLOW_TRACKING_URI", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PATH"] = f"{installed / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    yield work, env
    subprocess.run([str(installed / "bin" / "iml4e"), "down"], cwd=work, env=env, capture_output=True)


def test_the_installed_wheel_runs_the_demo_in_an_empty_directory(
    installed: Path, empty_directory: tuple[Path, dict[str, str]]
) -> None:
    work, env = empty_directory
    iml4e = str(installed / "bin" / "iml4e")
    where = _run([str(installed / "bin" / "python"), "-c", "import iml4e; print(iml4e.__file__)"], env=env)
    assert Path(where.stdout.strip()).is_relative_to(installed), "iml4e was imported from the checkout"
    before = _checkout_changes()

    demo = _run([iml4e, "demo", "--json"], cwd=work, env=env, timeout=900)

    report = json.loads(demo.stdout)
    summary = report["summary"]
    assert summary["registered model"] == "churn-classifier version 1"
    assert summary["champion URI"] == "models:/churn-classifier@champion"
    assert summary["requests answered"].startswith("2 ")
    assert (work / ".iml4e" / "state.json").is_file()  # the state went to the empty directory
    assert sorted(p.name for p in work.iterdir()) == [".iml4e"]  # and nothing else (no ./mlflow.db)
    # The served champion answers a request of ours too.
    v1 = summary["served model (V1)"]
    metadata = httpx.get(v1.replace("/v1/", "/v2/").removesuffix(":predict"), timeout=30).json()
    rows = generate_churn(n_rows=10, seed=1)[[i["name"] for i in metadata["inputs"]]].head(3)
    answer = httpx.post(v1, content=rows.to_json(orient="records").join(['{"instances": ', "}"]), timeout=60)
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["predictions"]) == 3
    assert _checkout_changes() == before, "the demo wrote into the checkout"
    # Piped, the demo and its pipeline log are free of library chatter (issue 18, item 8).
    text = demo.stdout + demo.stderr + Path(summary["pipeline log"]).read_text()
    for noise in _NOISE:
        assert noise not in text, f"{noise!r} in the demo's output or pipeline log"
