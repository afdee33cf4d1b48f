"""Bad files and unusable output paths: exit 2 with one line naming the file and the fix, never
"unexpected ..." or a traceback, and no output written.

Read-only directories are real: the CLI runs in a subprocess, and when the tests run as root (who
writes anywhere) the subprocess drops the capabilities that let root ignore permissions."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from iml4e.cli.app import app

CARD = Path(__file__).resolve().parents[4] / "examples" / "model-card" / "human-card.yaml"
DEEP = 20_000


def assert_one_line_exit_2(code: int, stderr: str, *fragments: str) -> None:
    assert code == 2, stderr
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got: {stderr!r}"
    assert "unexpected" not in lines[0] and "Traceback" not in stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stderr


@pytest.fixture
def deep_files(tmp_path: Path) -> dict[str, Path]:
    files = {"yaml": tmp_path / "deep.yaml", "json": tmp_path / "deep.json"}
    files["yaml"].write_text("a: " + "[" * DEEP + "]" * DEEP + "\n")
    files["json"].write_text("[" * DEEP + "]" * DEEP)
    return files


@pytest.mark.parametrize(
    ("command", "what"),
    [
        (["render", "-c", "{yaml}", "-o", "{out}"], "config file"),
        (["card", "check", "{json}"], "model card"),
        (["card", "check", "{yaml}"], "model card"),
        (["card", "check", str(CARD), "--spec", "{yaml}"], "conformance spec"),
        (["assess", "--answers", "{yaml}"], "answers file"),
    ],
    ids=["render-c", "card-check-json", "card-check-yaml", "card-spec", "assess-answers"],
)
def test_deeply_nested_yaml_or_json_is_exit_2(
    tmp_path: Path, deep_files: dict[str, Path], command: list[str], what: str
) -> None:
    args = [a.format(yaml=deep_files["yaml"], json=deep_files["json"], out=tmp_path / "out") for a in command]
    code, stderr = invoke(*args)
    assert_one_line_exit_2(code, stderr, what, "nested too deeply", "flatten it")
    assert not (tmp_path / "out").exists()


def test_a_binary_iml4e_yaml_is_exit_2_given_or_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    binary = tmp_path / "iml4e.yaml"
    binary.write_bytes(b"\xff\xfe\x00\x89PNG\x00binary")
    code, stderr = invoke("render", "-c", str(binary), "-o", str(tmp_path / "out"))
    assert_one_line_exit_2(code, stderr, "config file", "not UTF-8", "save it as UTF-8")
    monkeypatch.chdir(tmp_path)
    code, stderr = invoke("render", "-o", str(tmp_path / "out"))
    assert_one_line_exit_2(code, stderr, "iml4e.yaml", "not UTF-8")
    assert not (tmp_path / "out").exists()


def _inputs(tmp_path: Path) -> dict[str, Path]:
    table = tmp_path / "t.csv"
    table.write_text("a,b\n1,x\n2,y\n3,z\n")
    labels = tmp_path / "labels.csv"
    labels.write_text("request_id,label\nreq-1,yes\n")
    pairs = tmp_path / "pairs" / "one"
    pairs.mkdir(parents=True)
    (pairs / "dirty.csv").write_text("a,b\n1,x\n")
    (pairs / "clean.csv").write_text("a,b\n1,x\n")
    return {"table": table, "labels": labels, "pairs": pairs.parent}


OUTPUT_COMMANDS = {
    "detect": (["detect", "{table}", "-o", "{out}"], "mask"),
    "detect-report": (["detect", "{table}", "--report", "{out}"], "report"),
    "errors-inject": (["errors", "inject", "{table}", "-o", "{out}"], "dirty table"),
    "errors-inject-mask": (["errors", "inject", "{table}", "-o", "{ok}", "--mask", "{out}"], "mask"),
    "errors-fit": (["errors", "fit", "{pairs}", "-o", "{out}"], "knowledge base"),
    "card-render": (["card", "render", str(CARD), "-o", "{out}"], "rendered model card"),
    "lineage-show": (["lineage", "show", "models:/m/1", "--graph", "{out}"], "lineage graph"),
}


@pytest.mark.parametrize(("command", "what"), OUTPUT_COMMANDS.values(), ids=OUTPUT_COMMANDS.keys())
def test_an_output_path_that_is_a_directory_is_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str], what: str
) -> None:
    monkeypatch.setenv("IML4E_HOME", str(tmp_path / "home"))
    directory = tmp_path / "a-directory"
    directory.mkdir()
    inputs = _inputs(tmp_path)
    args = [a.format(**inputs, out=directory, ok=tmp_path / "ok.csv") for a in command]
    code, stderr = invoke(*args)
    assert_one_line_exit_2(code, stderr, what, "is a directory")
    assert list(directory.iterdir()) == [] and not (tmp_path / "ok.csv").exists()


def _without_write_permission(args: list[str], cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a process that obeys file permissions (root drops CAP_DAC_OVERRIDE)."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: cannot make a directory read-only for root")
        drop = "-dac_override,-dac_read_search"
        prefix = [setpriv, f"--bounding-set={drop}", f"--inh-caps={drop}"]
    return subprocess.run(
        [*prefix, sys.executable, "-m", "iml4e", *args],
        cwd=cwd,
        env={**os.environ, "IML4E_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_read_only_output_directories_and_state_directory_are_exit_2(tmp_path: Path) -> None:
    inputs = _inputs(tmp_path)
    read_only = tmp_path / "read-only"
    read_only.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    read_only.chmod(0o555)
    home.chmod(0o555)
    try:
        for name, (command, what) in OUTPUT_COMMANDS.items():
            args = [a.format(**inputs, out=read_only / "out.x", ok=tmp_path / "ok.csv") for a in command]
            done = _without_write_permission(args, tmp_path, home)
            assert_one_line_exit_2(done.returncode, done.stderr, what, "read-only")
            assert not (tmp_path / "ok.csv").exists(), name
        done = _without_write_permission(
            ["lineage", "export", "models:/m/1", "-o", str(read_only / "bundle")], tmp_path, home
        )
        assert_one_line_exit_2(done.returncode, done.stderr, "documentation bundle", "read-only")
        done = _without_write_permission(
            ["label", "models:/churn/1", "--labels", str(inputs["labels"])], tmp_path, home
        )
        assert_one_line_exit_2(done.returncode, done.stderr, "state directory", str(home), "IML4E_HOME")
        done = _without_write_permission(
            ["monitor", "models:/churn/1", "--reference", str(inputs["table"]), "--once"], tmp_path, home
        )
        assert_one_line_exit_2(done.returncode, done.stderr, "state directory", str(home), "IML4E_HOME")
        assert list(read_only.iterdir()) == [] and list(home.iterdir()) == []
    finally:
        read_only.chmod(0o755)
        home.chmod(0o755)
