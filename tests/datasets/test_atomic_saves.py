"""Atomic saves and damaged versions (datasets.atomic): a save killed or failing midway leaves no
version under its final name, the previous version stays the latest, and a version damaged
before saves were atomic is reported by file and version folder instead of a reader's error."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from kedro.io.core import DatasetError, Version
from matplotlib.figure import Figure

from logifold_kedro.datasets.atomic import PARTIAL_MARKER
from logifold_kedro.datasets.documents import JSONDataset, TextDataset
from logifold_kedro.datasets.figure_set import FigureSetDataset
from logifold_kedro.datasets.npz_dataset import NpzDataset
from logifold_kedro.datasets.tables import CSVDataset

FIRST, SECOND = "2026-01-01T00.00.00.000Z", "2026-01-02T00.00.00.000Z"


def versions(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def visible_files(folder: Path) -> list[str]:
    """Files a version listing can see: no partial names."""
    return sorted(
        str(p.relative_to(folder)) for p in folder.rglob("*") if PARTIAL_MARKER not in p.name
    )


def figure() -> Figure:
    fig = Figure(figsize=(1, 1))
    fig.add_subplot().plot([0, 1])
    return fig


class Exploding(Figure):
    def savefig(self, *args, **kwargs):
        raise RuntimeError("disk full (simulated)")


# --- a save that fails midway ---------------------------------------------------------------
def test_npz_save_failing_midway_leaves_the_previous_version_latest(tmp_path, monkeypatch):
    path = str(tmp_path / "clean_train.npz")
    first = {"x": np.zeros((2, 4), np.float32), "y": np.arange(2)}
    NpzDataset(path, version=Version(None, FIRST)).save(first)
    calls = []

    def write_then_fail(member, array, **kwargs):
        calls.append(array)
        if len(calls) == 2:  # the second array: the archive is half written
            raise OSError("disk full (simulated)")
        return original(member, array, **kwargs)

    original = np.lib.format.write_array
    monkeypatch.setattr(np.lib.format, "write_array", write_then_fail)
    with pytest.raises(DatasetError, match="disk full"):
        NpzDataset(path, version=Version(None, SECOND)).save({"x": np.ones((2, 4)), "y": [1]})
    monkeypatch.undo()
    assert visible_files(tmp_path) == ["clean_train.npz", f"clean_train.npz/{FIRST}",
                                       f"clean_train.npz/{FIRST}/clean_train.npz",
                                       f"clean_train.npz/{SECOND}"]  # fmt: skip
    assert not list((tmp_path / "clean_train.npz" / SECOND).iterdir()), "no partial file left"
    latest = NpzDataset(path, version=Version(None, None)).load()
    np.testing.assert_array_equal(latest["x"], first["x"])


def test_figure_set_failing_midway_leaves_no_version_with_some_figures(tmp_path):
    path = str(tmp_path / "threshold_plots")
    FigureSetDataset(filepath=path, version=Version(None, FIRST)).save(
        {f"{k}.png": figure() for k in "abcd"}
    )
    figures = {"a.png": figure(), "b.png": figure(), "c.png": Exploding(), "d.png": figure()}
    with pytest.raises(DatasetError, match="disk full"):
        FigureSetDataset(filepath=path, version=Version(None, SECOND)).save(figures)
    assert not (tmp_path / "threshold_plots" / SECOND / "threshold_plots").exists()
    assert not list((tmp_path / "threshold_plots" / SECOND).iterdir())
    latest = FigureSetDataset(filepath=path, version=Version(None, None))
    assert latest.resolve_load_version() == FIRST
    assert len(os.listdir(tmp_path / "threshold_plots" / FIRST / "threshold_plots")) == 4


def test_csv_json_and_text_saves_failing_midway_write_no_version(tmp_path, monkeypatch):
    table = tmp_path / "experiment2_metrics.csv"
    CSVDataset(filepath=str(table), version=Version(None, FIRST)).save(pd.DataFrame({"a": [1]}))

    def half_then_fail(self, path_or_buf=None, **kwargs):
        path_or_buf.write("a\n0.5")
        raise OSError("killed (simulated)")

    monkeypatch.setattr(pd.DataFrame, "to_csv", half_then_fail)
    with pytest.raises(DatasetError, match="killed"):
        CSVDataset(filepath=str(table), version=Version(None, SECOND)).save(
            pd.DataFrame({"a": [2]})
        )
    monkeypatch.undo()
    latest = CSVDataset(filepath=str(table), version=Version(None, None))
    assert latest.resolve_load_version() == FIRST and latest.load()["a"].tolist() == [1]

    document = tmp_path / "thresholds.json"
    JSONDataset(filepath=str(document), version=Version(None, FIRST)).save({"t": 1})
    with pytest.raises(DatasetError):  # json.dump writes the first key, then fails
        JSONDataset(filepath=str(document), version=Version(None, SECOND)).save(
            {"t": 2, "bad": object()}
        )
    assert JSONDataset(filepath=str(document), version=Version(None, None)).load() == {"t": 1}

    report = tmp_path / "report.md"
    TextDataset(filepath=str(report), version=Version(None, FIRST)).save("# first")
    with pytest.raises(DatasetError):
        TextDataset(filepath=str(report), version=Version(None, SECOND)).save(b"not text")
    assert TextDataset(filepath=str(report), version=Version(None, None)).load() == "# first"
    for folder in (table, document, report):
        assert not list((folder / SECOND).iterdir()) if (folder / SECOND).exists() else True


# --- a run killed while it saves ------------------------------------------------------------
KILLED_SAVE = """
import sys, time
from pathlib import Path
import numpy as np
from kedro.io.core import Version
from logifold_kedro.datasets.npz_dataset import NpzDataset

path, ready = sys.argv[1], Path(sys.argv[2])
original = np.lib.format.write_array
def slow(member, array, **kwargs):
    original(member, array, **kwargs)
    member.flush()
    ready.write_text("half written")  # one array is on disk, the rest is not
    time.sleep(60)
np.lib.format.write_array = slow
NpzDataset(path, version=Version(None, sys.argv[3])).save(
    {"x": np.ones((64, 32, 32, 3), np.float32), "y": np.arange(64)}
)
"""


def test_a_run_killed_mid_save_leaves_the_previous_version_latest(tmp_path):
    path = tmp_path / "clean_train.npz"
    NpzDataset(str(path), version=Version(None, FIRST)).save({"x": np.zeros(3), "y": np.arange(3)})
    ready = tmp_path / "ready"
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(KILLED_SAVE), str(path), str(ready), SECOND]
    )
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert child.poll() is None, "the saving process ended early"
            assert time.monotonic() < deadline, "the save never started"
            time.sleep(0.1)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    left = list((path / SECOND).iterdir())
    assert len(left) == 1 and PARTIAL_MARKER in left[0].name and left[0].stat().st_size > 0
    dataset = NpzDataset(str(path), version=Version(None, None))
    assert dataset.resolve_load_version() == FIRST
    np.testing.assert_array_equal(dataset.load()["x"], np.zeros(3))


# --- versions damaged before saves were atomic ----------------------------------------------
def truncate(file: Path) -> None:
    data = file.read_bytes()
    file.write_bytes(data[: len(data) // 2])


def test_a_truncated_npz_version_is_reported_by_file_and_folder(tmp_path):
    path = tmp_path / "clean_train.npz"
    NpzDataset(str(path), version=Version(None, FIRST)).save({"x": np.zeros((9, 9))})
    NpzDataset(str(path), version=Version(None, SECOND)).save({"x": np.ones((9, 9))})
    truncate(path / SECOND / "clean_train.npz")
    with pytest.raises(DatasetError) as error:
        NpzDataset(str(path), version=Version(None, None)).load()
    message = str(error.value)
    assert f"{path / SECOND / 'clean_train.npz'} (version {SECOND})" in message
    assert "incomplete or damaged" in message
    assert f"Delete its version folder {path / SECOND}" in message
    assert "Version(load=None" not in message and "BadZipFile" in message
    older = NpzDataset(str(path), version=Version(FIRST, None)).load()
    np.testing.assert_array_equal(older["x"], np.zeros((9, 9)))


def test_truncated_csv_and_json_versions_are_reported(tmp_path):
    table = tmp_path / "m.csv"
    CSVDataset(filepath=str(table), version=Version(None, FIRST)).save(
        pd.DataFrame({"a": np.arange(50) / 7})
    )
    truncate(table / FIRST / "m.csv")
    with pytest.raises(DatasetError, match=r"cut off.*Delete its version folder"):
        CSVDataset(filepath=str(table), version=Version(None, None)).load()
    document = tmp_path / "t.json"
    JSONDataset(filepath=str(document), version=Version(None, FIRST)).save({"a": list(range(50))})
    truncate(document / FIRST / "t.json")
    with pytest.raises(DatasetError, match=rf"version {FIRST}.*incomplete or damaged"):
        JSONDataset(filepath=str(document), version=Version(None, None)).load()


# --- finite numbers only --------------------------------------------------------------------
def test_a_newer_table_with_inf_and_nan_is_refused_naming_cells_and_version(tmp_path):
    table = tmp_path / "experiment2_metrics.csv"
    good = pd.DataFrame({"environment": ["union", "clean"], "u2_accuracy": [0.7, np.nan]})
    CSVDataset(filepath=str(table), version=Version(None, FIRST)).save(good)
    loaded = CSVDataset(filepath=str(table), version=Version(None, None)).load()
    assert loaded["u2_accuracy"].isna().tolist() == [False, True]  # empty cell: missing
    (table / SECOND).mkdir()
    (table / SECOND / "experiment2_metrics.csv").write_text(
        "environment,imm_accuracy,imm_accuracy_low\nunion,inf,0.1\nweak,NaN,0.25\n"
    )
    with pytest.raises(DatasetError) as error:
        CSVDataset(filepath=str(table), version=Version(None, None)).load()
    message = str(error.value)
    assert f"(version {SECOND})" in message
    assert "column 'imm_accuracy' row 0: inf" in message
    assert "column 'imm_accuracy' row 1: NaN" in message
    with pytest.raises(DatasetError, match="infinite numbers"):
        CSVDataset(filepath=str(tmp_path / "x.csv"), version=Version(None, None)).save(
            pd.DataFrame({"a": [1.0, -np.inf]})
        )
    assert not (tmp_path / "x.csv").exists()


def test_probabilities_with_nan_are_refused_on_save_and_on_load(tmp_path):
    path = tmp_path / "resnet_v1_d20.npz"
    probs = np.full((3, 10), 0.1, np.float32)
    probs[1, 2] = np.nan
    with pytest.raises(DatasetError, match=r"NaN or infinite values in 'probs' \(1 of 30"):
        NpzDataset(str(path), version=Version(None, FIRST)).save({"probs": probs})
    assert not path.exists() or not any(path.rglob("*.npz"))
    (path / SECOND).mkdir(parents=True)
    np.savez(path / SECOND / "resnet_v1_d20.npz", probs=probs)  # written by something else
    with pytest.raises(DatasetError) as error:
        NpzDataset(str(path), version=Version(None, None)).load()
    assert f"resnet_v1_d20.npz (version {SECOND})" in str(error.value)
    assert "'probs' (1 of 30 values)" in str(error.value)
    logits = np.full((2, 10), 2.0, np.float32)
    with pytest.raises(DatasetError, match=r"must lie in \[0, 1\].*nothing was written"):
        NpzDataset(str(tmp_path / "l.npz")).save({"probs": logits})


def test_a_json_document_is_still_plain_json(tmp_path):
    path = tmp_path / "h.json"
    JSONDataset(filepath=str(path)).save({"a": [1, 2]})
    assert json.loads(path.read_text()) == {"a": [1, 2]}
    assert [p.name for p in tmp_path.iterdir()] == ["h.json"]
