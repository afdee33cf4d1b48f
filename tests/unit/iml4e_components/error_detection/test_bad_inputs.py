"""Every bad input gets a one-line error naming the problem and the fix, and leaves no output file."""

from __future__ import annotations

import io
import json
import os
import pickle
import shlex
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from iml4e_components.error_detection import knowledge_base
from iml4e_components.error_detection.knowledge_base import KB_FORMAT, KnowledgeBase, TreeEnsemble
from iml4e_components.error_detection.tables import as_string_frame, check_table, read_string_table
from iml4e_components.errors import ComponentError


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"a,b\n", "is empty"),
        (b"only\n1\n2\n", "single column"),
        (b"a,b\n1,\xff\xfe\n", "not UTF-8"),
        (b"a,b\n1,2,3\n", "ragged rows"),
        (b"a,b,c\n1,2\n", "ragged rows"),
        (b"a,b\n1,\n2,\n", "column 'b' is empty in every row"),
    ],
    ids=[
        "no-bytes",
        "header-only",
        "single-column",
        "non-utf8",
        "too-many-fields",
        "too-few-fields",
        "all-null",
    ],
)
def test_bad_tables_are_refused_in_one_line(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(content)
    with pytest.raises(ComponentError, match=message) as caught:
        read_string_table(path)
    assert "\n" not in str(caught.value)


def _rewrite(source: Path, target: Path, change: dict[str, bytes]) -> Path:
    """A copy of the knowledge base zip `source` with the members in `change` replaced."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for name in old.namelist():
            new.writestr(name, change.get(name, old.read(name)))
    return target


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def test_knowledge_base_of_another_version_is_refused(tmp_path: Path, small_kb: KnowledgeBase) -> None:
    saved = small_kb.save(tmp_path / "kb.kb")
    with zipfile.ZipFile(saved) as archive:
        header = json.loads(archive.read("knowledge_base.json"))
    header["version"] = 0
    path = _rewrite(saved, tmp_path / "old.kb", {"knowledge_base.json": json.dumps(header).encode()})
    with pytest.raises(ComponentError, match=r"version 0.*rebuild"):
        KnowledgeBase.load(path)


def test_a_file_that_is_not_a_knowledge_base_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.kb"
    path.write_text("hello")
    with pytest.raises(ComponentError, match="not an iml4e knowledge base"):
        KnowledgeBase.load(path)


def test_knowledge_base_round_trips_with_the_same_probabilities(
    tmp_path: Path, small_kb: KnowledgeBase
) -> None:
    loaded = KnowledgeBase.load(small_kb.save(tmp_path / "kb.kb"))
    assert len(loaded.models) == len(small_kb.models) and loaded.config == small_kb.config
    assert [m.name for m in loaded.models] == [m.name for m in small_kb.models]
    x = np.random.default_rng(0).normal(size=(500, small_kb.config.width))
    x[::7, 3] = np.nan
    for before, after in zip(small_kb.models, loaded.models, strict=True):
        assert np.array_equal(before.model.error_probability(x), after.model.error_probability(x))
    assert list(tmp_path.iterdir()) == [tmp_path / "kb.kb"]


def test_base_models_give_scikit_learns_probabilities() -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 6))
    x[rng.random(x.shape) < 0.1] = np.nan
    y = (np.nan_to_num(x[:, 0]) + rng.normal(scale=0.5, size=400)) > 0.8
    model = HistGradientBoostingClassifier(max_iter=30, max_leaf_nodes=12, random_state=0).fit(x, y)
    trees = TreeEnsemble.from_sklearn(model)
    assert np.array_equal(trees.error_probability(x), model.predict_proba(x)[:, 1])


def test_a_knowledge_base_in_the_old_pickle_formats_is_refused_with_the_fix(
    tmp_path: Path, small_kb: KnowledgeBase
) -> None:
    old = {"format": KB_FORMAT, "version": 3, "knowledge_base": small_kb}
    (tmp_path / "v3.kb").write_bytes(zlib.compress(pickle.dumps(old)))
    joblib.dump({**old, "version": 2}, tmp_path / "v2.kb", compress=3)
    for path in (tmp_path / "v3.kb", tmp_path / "v2.kb"):
        with pytest.raises(ComponentError, match=r"not an iml4e knowledge base of version \d+ .*rebuild"):
            KnowledgeBase.load(path)


class _CreatesMarker:
    """Unpickling this runs `touch marker`: what an attacker would put in a knowledge base file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


def _malicious_files(tmp_path: Path, small_kb: KnowledgeBase, marker: Path) -> dict[str, Path]:
    """Files that would run code if loaded with pickle: the old formats, and the new zip with a pickled
    object array in place of a data array or of the whole file's header."""
    payload = {"format": KB_FORMAT, "version": 4, "knowledge_base": _CreatesMarker(marker)}
    files = {"pickle": tmp_path / "p.kb", "zlib-pickle": tmp_path / "z.kb"}
    files["pickle"].write_bytes(pickle.dumps(payload))
    files["zlib-pickle"].write_bytes(zlib.compress(pickle.dumps(payload)))
    saved = small_kb.save(tmp_path / "good.kb")
    evil = np.array([_CreatesMarker(marker)], dtype=object)
    files["npz-object-array"] = _rewrite(saved, tmp_path / "a.kb", {"value.npy": _npy(evil)})
    files["npy-as-header"] = _rewrite(saved, tmp_path / "h.kb", {"knowledge_base.json": _npy(evil)})
    return files


def test_a_crafted_knowledge_base_runs_no_code(tmp_path: Path, small_kb: KnowledgeBase) -> None:
    """Through the real CLI in a subprocess: each crafted file gets exit 2 and one line, and the
    marker its payload would create never appears (the old loader created it)."""
    marker = tmp_path / "marker"
    table = tmp_path / "t.csv"
    table.write_text("a,b\n1,x\n2,y\n3,z\n")
    for kind, path in _malicious_files(tmp_path, small_kb, marker).items():
        done = subprocess.run(
            [sys.executable, "-m", "iml4e", "detect", str(table), "--kb", str(path)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert not marker.exists(), f"{kind}: the file ran code"
        assert done.returncode == 2, (kind, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "not an iml4e knowledge base" in lines[0] and "rebuild" in lines[0], (
            kind,
            lines,
        )
    # the payload does run when unpickled, so the test would catch a loader that unpickles
    pickle.loads(pickle.dumps(_CreatesMarker(marker)))
    assert marker.exists()


@pytest.mark.parametrize(
    ("member", "array", "what"),
    [
        ("left.npy", "child", "child index"),
        ("feature.npy", "feature", "feature index"),
        ("nodes_per_tree.npy", "sizes", "tree sizes"),
        ("threshold.npy", "text", "not of kind"),
        ("profiles.npy", "narrow", "profile width"),
    ],
)
def test_a_knowledge_base_whose_arrays_do_not_fit_is_refused(
    tmp_path: Path, small_kb: KnowledgeBase, member: str, array: str, what: str
) -> None:
    """Indices out of range (which would read outside the tree or loop forever) are caught on load."""
    saved = small_kb.save(tmp_path / "kb.kb")
    with zipfile.ZipFile(saved) as archive:
        original = np.lib.format.read_array(io.BytesIO(archive.read(member)))
    changed = {
        "child": lambda a: np.zeros_like(a),  # every child points to the root: a cycle
        "feature": lambda a: a + 10_000,
        "sizes": lambda a: a[:-1],
        "text": lambda a: a.astype(str),
        "narrow": lambda a: a[:, :-1],
    }[array](original)
    path = _rewrite(saved, tmp_path / "bad.kb", {member: _npy(changed)})
    with pytest.raises(ComponentError, match=what) as caught:
        KnowledgeBase.load(path)
    assert "\n" not in str(caught.value) and "rebuild" in str(caught.value)


def test_a_knowledge_base_whose_feature_width_differs_from_its_config_is_refused(
    tmp_path: Path, small_kb: KnowledgeBase
) -> None:
    saved = small_kb.save(tmp_path / "kb.kb")
    with zipfile.ZipFile(saved) as archive:
        header = json.loads(archive.read("knowledge_base.json"))
    header["n_features"] += 1
    path = _rewrite(saved, tmp_path / "wide.kb", {"knowledge_base.json": json.dumps(header).encode()})
    with pytest.raises(ComponentError, match="n_features differs"):
        KnowledgeBase.load(path)


def test_a_knowledge_base_that_would_unpack_to_too_much_is_refused_before_reading(
    tmp_path: Path, small_kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved = small_kb.save(tmp_path / "kb.kb")
    with zipfile.ZipFile(saved) as archive:
        unpacked = sum(info.file_size for info in archive.infolist())
    monkeypatch.setattr(knowledge_base, "MAX_UNPACKED_BYTES", unpacked - 1)
    with pytest.raises(ComponentError, match=f"would unpack to {unpacked:,} bytes"):
        KnowledgeBase.load(saved)


def test_string_frame_keeps_all_string_columns_and_converts_mixed_ones() -> None:
    frame = pd.DataFrame(
        {
            "text": pd.Series(["a", " b", ""], dtype=object),
            "mixed": pd.Series(["x", None, 3], dtype=object),
            "number": [1.5, float("nan"), 2.0],
        }
    )
    strings = as_string_frame(frame)
    assert strings["text"].tolist() == ["a", " b", ""]
    assert strings["mixed"].tolist() == ["x", "", "3"]
    assert strings["number"].tolist() == ["1.5", "", "2.0"]


def test_a_column_of_only_blank_cells_is_refused_and_one_value_is_enough() -> None:
    frame = pd.DataFrame({"a": ["1", "2", "3"], "b": [" ", "", "  "]})
    with pytest.raises(ComponentError, match="column 'b' is empty in every row"):
        check_table(frame)
    frame.loc[2, "b"] = "x"
    assert check_table(frame) is frame
