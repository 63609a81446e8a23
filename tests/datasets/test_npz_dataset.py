"""NpzDataset: arrays plus JSON metadata in a versioned .npz, never with pickle."""

from __future__ import annotations

import inspect
import json
import zipfile

import numpy as np
import pytest
from kedro.io import DataCatalog
from kedro.io.core import DatasetError, Version

from logifold_kedro.datasets.npz_dataset import META_KEY, NpzDataset


def image_set(seed: int = 0, n: int = 6) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "x": rng.random((n, 4, 4, 3), dtype=np.float32),
        "y": rng.integers(0, 10, size=n).astype(np.int64),
        "name": "clean_val",
        "split": "val",
        "eps": 0.5,
        "count": 3,
        "targeted": False,
        "note": None,
        "lr_schedule": [[3, 0.0001], [5, 1e-05]],
        "settings": {"norm": 2, "nested": {"a": [1, "b", None]}},
    }


def assert_same(loaded: dict, saved: dict) -> None:
    assert list(loaded) == list(saved)  # same keys, same order
    for key, value in saved.items():
        if isinstance(value, np.ndarray):
            assert isinstance(loaded[key], np.ndarray)
            assert loaded[key].dtype == value.dtype and loaded[key].shape == value.shape
            np.testing.assert_array_equal(loaded[key], value)
        else:
            assert loaded[key] == value and type(loaded[key]) is type(value), key


@pytest.mark.parametrize("compress", [False, True])
def test_round_trip_unversioned(tmp_path, compress):
    data = image_set()
    dataset = NpzDataset(str(tmp_path / "sets" / "a.npz"), save_args={"compress": compress})
    assert not dataset.exists()
    dataset.save(data)
    assert dataset.exists()
    assert_same(dataset.load(), data)
    with zipfile.ZipFile(tmp_path / "sets" / "a.npz") as archive:
        methods = {info.compress_type for info in archive.infolist()}
    assert methods == {zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED}


def test_file_is_a_plain_npz_without_pickle(tmp_path):
    data = image_set()
    NpzDataset(str(tmp_path / "a.npz")).save(data)
    with np.load(tmp_path / "a.npz", allow_pickle=False) as npz:
        assert sorted(npz.files) == sorted(["x", "y", META_KEY])
        np.testing.assert_array_equal(npz["x"], data["x"])
        meta = json.loads(str(npz[META_KEY][()]))
    assert meta["values"]["settings"] == data["settings"]


def test_versioned_saves_keep_every_version_and_load_the_latest(tmp_path):
    filepath = str(tmp_path / "clean_val.npz")
    first, second = image_set(seed=1), image_set(seed=2)
    second["split"] = "val-2"
    NpzDataset(filepath, version=Version(None, "2026-01-01T00.00.00.000Z")).save(first)
    NpzDataset(filepath, version=Version(None, "2026-01-02T00.00.00.000Z")).save(second)
    versions = sorted(p.name for p in (tmp_path / "clean_val.npz").iterdir())
    assert versions == ["2026-01-01T00.00.00.000Z", "2026-01-02T00.00.00.000Z"]

    assert_same(NpzDataset(filepath, version=Version(None, None)).load(), second)
    older = NpzDataset(filepath, version=Version("2026-01-01T00.00.00.000Z", None)).load()
    assert_same(older, first)


def test_versioned_save_with_generated_versions(tmp_path):
    filepath = str(tmp_path / "b.npz")
    NpzDataset(filepath, version=Version(None, None)).save(image_set(seed=1))
    NpzDataset(filepath, version=Version(None, None)).save(image_set(seed=2))
    assert len(list((tmp_path / "b.npz").iterdir())) == 2
    assert_same(NpzDataset(filepath, version=Version(None, None)).load(), image_set(seed=2))


def test_versioned_load_of_missing_version_fails(tmp_path):
    dataset = NpzDataset(str(tmp_path / "c.npz"), version=Version(None, None))
    assert not dataset.exists()
    with pytest.raises(DatasetError, match="Did not find any versions"):
        dataset.load()


def test_catalog_entry_with_versioned_true(tmp_path):
    catalog = DataCatalog.from_config(
        {
            "clean_test": {
                "type": "logifold_kedro.datasets.npz_dataset.NpzDataset",
                "filepath": str(tmp_path / "clean_test.npz"),
                "versioned": True,
                "save_args": {"compress": True},
                "metadata": {"kedro-viz": {"layer": "intermediate"}},
            }
        }
    )
    data = image_set()
    catalog.save("clean_test", data)
    assert_same(catalog.load("clean_test"), data)
    assert len(list((tmp_path / "clean_test.npz").iterdir())) == 1


def test_object_arrays_are_refused(tmp_path):
    dataset = NpzDataset(str(tmp_path / "d.npz"))
    with pytest.raises(DatasetError, match=r"'bad'.*object.*pickle"):
        dataset.save({"x": np.zeros(2), "bad": np.array([{"a": 1}, None], dtype=object)})
    assert not (tmp_path / "d.npz").exists()


def test_values_json_cannot_hold_are_refused(tmp_path):
    with pytest.raises(DatasetError, match=r"'when'.*neither an array nor JSON"):
        NpzDataset(str(tmp_path / "e.npz")).save({"x": np.zeros(2), "when": {1, 2}})


def test_reserved_and_non_string_keys_are_refused(tmp_path):
    dataset = NpzDataset(str(tmp_path / "f.npz"))
    with pytest.raises(DatasetError, match="reserved"):
        dataset.save({META_KEY: "x"})
    with pytest.raises(DatasetError, match="non-empty strings"):
        dataset.save({1: np.zeros(2)})


def test_numpy_scalars_and_tuples_become_json_values(tmp_path):
    dataset = NpzDataset(str(tmp_path / "g.npz"))
    dataset.save({"x": np.zeros(2), "eps": np.float32(0.25), "n": np.int64(7), "t": (1, 2)})
    loaded = dataset.load()
    assert loaded["eps"] == 0.25 and type(loaded["eps"]) is float
    assert loaded["n"] == 7 and type(loaded["n"]) is int
    assert loaded["t"] == [1, 2]


def test_keys_that_clash_with_numpy_savez_arguments(tmp_path):
    dataset = NpzDataset(str(tmp_path / "h.npz"))
    data = {"file": np.arange(3), "allow_pickle": np.ones(2), "args": "text"}
    dataset.save(data)
    assert_same(dataset.load(), data)


def test_plain_npz_without_meta_loads(tmp_path):
    np.savez(tmp_path / "plain.npz", a=np.arange(4), b=np.eye(2))
    loaded = NpzDataset(str(tmp_path / "plain.npz")).load()
    assert sorted(loaded) == ["a", "b"]
    np.testing.assert_array_equal(loaded["b"], np.eye(2))


def test_pickled_npz_is_not_loaded(tmp_path):
    np.savez(tmp_path / "pickled.npz", a=np.array([{"k": 1}], dtype=object))
    with pytest.raises(DatasetError, match="allow_pickle"):
        NpzDataset(str(tmp_path / "pickled.npz")).load()


def test_invalid_arguments(tmp_path):
    with pytest.raises(DatasetError, match="allow_pickle=False"):
        NpzDataset(str(tmp_path / "i.npz"), load_args={"allow_pickle": True})
    with pytest.raises(DatasetError, match=r"Unknown NpzDataset save_args \['level'\]"):
        NpzDataset(str(tmp_path / "i.npz"), save_args={"level": 9})


def test_describe_and_preview(tmp_path):
    dataset = NpzDataset(str(tmp_path / "j.npz"), version=Version(None, None))
    dataset.save(image_set(n=5))
    description = str(dataset)
    assert "j.npz" in description and "compress" in description
    preview = dataset.preview()
    rows = {row[0]: row for row in preview["data"]}
    assert preview["columns"] == ["key", "kind", "shape", "dtype", "value"]
    assert rows["x"][1:4] == ["array", "(5, 4, 4, 3)", "float32"]
    assert rows["y"][1:4] == ["array", "(5,)", "int64"]
    assert rows["split"][1] == "meta" and rows["split"][4] == '"val"'
    assert META_KEY not in rows
    # kedro-viz picks the preview widget by the name of the return annotation.
    annotation = inspect.signature(dataset.preview).return_annotation
    assert getattr(annotation, "__name__", str(annotation)) == "TablePreview"
