"""CIFAR10ArchiveDataset on small archives built here in the official layout, and on the demo."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import struct
import tarfile
import uuid
from pathlib import Path

import numpy as np
import pytest
from kedro.io.core import DatasetError

from logifold_kedro.datasets.cifar10_archive import (
    DOWNLOAD_URL,
    CIFAR10ArchiveDataset,
    CIFAR10ArchiveError,
    CIFAR10ArchiveNotFoundError,
)

DEMO_ARCHIVE = Path(__file__).resolve().parents[2] / "data" / "01_raw" / "cifar10_demo.tar.gz"
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
TRAIN_PER_BATCH = 4
N_TEST = 6
DIR = "cifar-10-batches-py"


class _Python2StylePickler(pickle._Pickler):
    """Writes what Python 2 with numpy 1 wrote for the official archive: protocol 2, str values
    as 8-bit strings (SHORT_BINSTRING), numpy globals under ``numpy.core.multiarray``."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj):
        raw = obj.encode("latin-1") if isinstance(obj, str) else obj
        if len(raw) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(raw)]) + raw)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(raw)) + raw)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str
    dispatch[str] = save_py2_str

    def save_global(self, obj, name=None):
        name = name or obj.__qualname__
        module = pickle.whichmodule(obj, name).replace("numpy._core", "numpy.core")
        self.write(pickle.GLOBAL + f"{module}\n{name}\n".encode())
        self.memoize(obj)


def python2_pickle(obj) -> bytes:
    buffer = io.BytesIO()
    _Python2StylePickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue()


def make_images(n: int, offset: int) -> np.ndarray:
    """NHWC uint8 images whose every pixel encodes (image, row, column, channel)."""
    n_idx, h, w, c = np.meshgrid(
        np.arange(n), np.arange(32), np.arange(32), np.arange(3), indexing="ij"
    )
    return ((offset + n_idx) * 7 + h * 3 + w * 5 + c * 85).astype(np.uint8)


def batch_dict(images: np.ndarray, labels: list[int], name: str) -> dict:
    rows = images.transpose(0, 3, 1, 2).reshape(len(images), -1)  # official channel-first rows
    return {
        b"batch_label": name.encode(),
        b"labels": list(labels),
        b"data": np.ascontiguousarray(rows),
        b"filenames": [f"img_{i}.png".encode() for i in range(len(labels))],
    }


def official_contents(dumps) -> tuple[dict[str, bytes], dict[str, np.ndarray]]:
    """Member name -> pickled payload in the official layout, and the arrays they should give."""
    members, x_train, y_train = {}, [], []
    for i in range(1, 6):
        images = make_images(TRAIN_PER_BATCH, offset=10 * i)
        labels = [(i + j) % 10 for j in range(TRAIN_PER_BATCH)]
        members[f"data_batch_{i}"] = dumps(batch_dict(images, labels, f"training batch {i}"))
        x_train.append(images)
        y_train += labels
    x_test = make_images(N_TEST, offset=100)
    y_test = [j % 10 for j in range(N_TEST)]
    members["test_batch"] = dumps(batch_dict(x_test, y_test, "testing batch 1 of 1"))
    meta = {b"label_names": [c.encode() for c in CLASSES], b"num_vis": 3072}
    members["batches.meta"] = dumps(meta)
    expected = {
        "x_train": np.concatenate(x_train),
        "y_train": np.asarray(y_train),
        "x_test": x_test,
        "y_test": np.asarray(y_test),
    }
    return members, expected


def write_archive(
    path: Path,
    members: dict[str, bytes],
    extra: list[tarfile.TarInfo] = (),
    with_dir: bool = True,
    prefix: str = f"{DIR}/",
) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        if with_dir:
            info = tarfile.TarInfo(DIR)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)
        for name, payload in members.items():
            info = tarfile.TarInfo(f"{prefix}{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
        for info in extra:
            payload = b"x" * info.size if info.isreg() else None
            tar.addfile(info, io.BytesIO(payload) if payload is not None else None)
    return path


def protocol4(obj) -> bytes:
    return pickle.dumps(obj, protocol=4)


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """Run from tmp_path/work, so a relative '../evil' would land in tmp_path/evil."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return tmp_path


def assert_matches(raw: dict, expected: dict) -> None:
    assert raw["x_train"].dtype == np.uint8 and raw["x_train"].shape == (
        5 * TRAIN_PER_BATCH,
        32,
        32,
        3,
    )
    assert raw["x_test"].dtype == np.uint8 and raw["x_test"].shape == (N_TEST, 32, 32, 3)
    assert raw["y_train"].dtype == np.int64 and raw["y_test"].dtype == np.int64
    for key in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(raw[key], expected[key])
    assert raw["label_names"] == CLASSES
    assert all(isinstance(name, str) for name in raw["label_names"])


@pytest.mark.parametrize(
    "dumps",
    [protocol4, python2_pickle, lambda obj: pickle.dumps(obj, protocol=2)],
    ids=["protocol4", "python2-protocol2", "python3-protocol2"],
)
def test_loads_official_layout_nhwc(tmp_path, dumps):
    members, expected = official_contents(dumps)
    path = write_archive(tmp_path / "cifar-10-python.tar.gz", members)
    raw = CIFAR10ArchiveDataset(str(path), expected_train=20, expected_test=6).load()
    assert_matches(raw, expected)
    # Pixel (row 1, column 2) of image 0, channel-first in the file, lands at [0, 1, 2, c].
    assert raw["x_train"][0, 1, 2].tolist() == [(70 + 3 + 10 + 85 * c) % 256 for c in range(3)]


def test_python2_pickles_use_the_numpy1_module_name():
    # The official archive names numpy.core.multiarray; make sure the helper really does too.
    assert b"numpy.core.multiarray\n_reconstruct" in python2_pickle(np.zeros(2, np.uint8))


def test_readme_and_dot_prefix_accepted_and_batches_read_in_order(tmp_path):
    members, expected = official_contents(protocol4)
    reordered = dict(reversed(list(members.items())))  # test_batch first, data_batch_1 last
    readme = tarfile.TarInfo(f"{DIR}/readme.html")
    readme.size = 10
    path = write_archive(tmp_path / "a.tar.gz", reordered, extra=[readme], prefix=f"./{DIR}/")
    assert_matches(CIFAR10ArchiveDataset(str(path)).load(), expected)


def test_missing_file_says_where_to_put_and_get_it(tmp_path):
    path = tmp_path / "data" / "01_raw" / "cifar-10-python.tar.gz"
    with pytest.raises(FileNotFoundError) as caught:
        CIFAR10ArchiveDataset(str(path)).load()
    assert isinstance(caught.value, DatasetError)
    assert isinstance(caught.value, CIFAR10ArchiveNotFoundError)
    message = str(caught.value)
    assert str(path) in message and "data/01_raw/" in message and DOWNLOAD_URL in message
    assert not CIFAR10ArchiveDataset(str(path)).exists()


@pytest.mark.parametrize("keep", [0.5, 0.05])
def test_truncated_gzip_is_reported_as_corrupt(workdir, keep):
    members, _ = official_contents(protocol4)
    path = write_archive(workdir / "a.tar.gz", members)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    before = files_under(workdir)
    with pytest.raises(CIFAR10ArchiveError, match=r"(?s)corrupt.*Download it again") as caught:
        CIFAR10ArchiveDataset(str(path)).load()
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, DatasetError)
    assert DOWNLOAD_URL in str(caught.value)
    assert files_under(workdir) == before


def test_not_a_gzip_file_is_reported_as_corrupt(tmp_path):
    path = tmp_path / "a.tar.gz"
    path.write_bytes(b"<html>404 not found</html>" * 10)
    with pytest.raises(CIFAR10ArchiveError, match="corrupt"):
        CIFAR10ArchiveDataset(str(path)).load()


def test_gzip_of_garbage_is_reported_as_corrupt(tmp_path):
    path = tmp_path / "a.tar.gz"
    path.write_bytes(gzip.compress(os.urandom(5000)))
    with pytest.raises(CIFAR10ArchiveError, match="corrupt"):
        CIFAR10ArchiveDataset(str(path)).load()


def test_damaged_pickle_member_is_named(tmp_path):
    members, _ = official_contents(protocol4)
    members["data_batch_5"] = members["data_batch_5"][:1000]
    path = write_archive(tmp_path / "a.tar.gz", members)
    with pytest.raises(CIFAR10ArchiveError, match=r"data_batch_5' is not a readable CIFAR-10"):
        CIFAR10ArchiveDataset(str(path)).load()


def test_member_with_wrong_shape(tmp_path):
    members, _ = official_contents(protocol4)
    bad = batch_dict(make_images(4, 0), [0, 1, 2, 3], "b")
    bad[b"data"] = bad[b"data"][:, :3000]
    members["data_batch_3"] = protocol4(bad)
    path = write_archive(tmp_path / "a.tar.gz", members)
    with pytest.raises(CIFAR10ArchiveError, match=r"data_batch_3.*\(4, 3000\).*\(n, 3072\)"):
        CIFAR10ArchiveDataset(str(path)).load()


def test_member_with_wrong_dtype(tmp_path):
    members, _ = official_contents(protocol4)
    bad = batch_dict(make_images(4, 0), [0, 1, 2, 3], "b")
    bad[b"data"] = bad[b"data"].astype(np.float32)
    members["test_batch"] = protocol4(bad)
    path = write_archive(tmp_path / "a.tar.gz", members)
    with pytest.raises(CIFAR10ArchiveError, match=r"test_batch.*float32.*uint8"):
        CIFAR10ArchiveDataset(str(path)).load()


def test_labels_out_of_range(tmp_path):
    members, _ = official_contents(protocol4)
    members["data_batch_2"] = protocol4(batch_dict(make_images(4, 0), [0, 1, 10, 3], "b"))
    path = write_archive(tmp_path / "a.tar.gz", members)
    with pytest.raises(CIFAR10ArchiveError, match=r"data_batch_2.*\[0, 10\].*0\.\.9"):
        CIFAR10ArchiveDataset(str(path)).load()


def test_label_count_mismatch(tmp_path):
    members, _ = official_contents(protocol4)
    members["data_batch_1"] = protocol4(batch_dict(make_images(4, 0), [0, 1, 2], "b"))
    path = write_archive(tmp_path / "a.tar.gz", members)
    with pytest.raises(CIFAR10ArchiveError, match=r"data_batch_1.*3 labels for 4 images"):
        CIFAR10ArchiveDataset(str(path)).load()


def test_meta_without_ten_names(tmp_path):
    members, _ = official_contents(protocol4)
    members["batches.meta"] = protocol4({b"label_names": [b"a"] * 9})
    path = write_archive(tmp_path / "a.tar.gz", members)
    with pytest.raises(CIFAR10ArchiveError, match=r"batches\.meta.*10 class names"):
        CIFAR10ArchiveDataset(str(path)).load()


def test_missing_member_is_named(tmp_path):
    members, _ = official_contents(protocol4)
    del members["test_batch"]
    path = write_archive(tmp_path / "a.tar.gz", members)
    with pytest.raises(CIFAR10ArchiveError, match=f"lacks {DIR}/test_batch"):
        CIFAR10ArchiveDataset(str(path)).load()


def test_expected_counts_are_checked(tmp_path):
    members, _ = official_contents(protocol4)
    path = write_archive(tmp_path / "a.tar.gz", members)
    with pytest.raises(CIFAR10ArchiveError, match=r"20 train images, but expected_train is 50000"):
        CIFAR10ArchiveDataset(str(path), expected_train=50000).load()
    with pytest.raises(CIFAR10ArchiveError, match=r"6 test images, but expected_test is 10000"):
        CIFAR10ArchiveDataset(str(path), expected_test=10000).load()


def _evil_file_member(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = 16
    return info


@pytest.mark.parametrize("name", ["../evil", f"{DIR}/../../evil", f"{DIR}/extra.bin", "evil"])
def test_unexpected_or_escaping_names_are_refused(workdir, name):
    members, _ = official_contents(protocol4)
    path = write_archive(workdir / "a.tar.gz", members, extra=[_evil_file_member(name)])
    before = files_under(workdir)
    with pytest.raises(CIFAR10ArchiveError) as caught:
        CIFAR10ArchiveDataset(str(path)).load()
    assert f"'{name}'" in str(caught.value)
    assert files_under(workdir) == before
    assert not (workdir / "evil").exists()


def test_absolute_member_is_refused_and_not_written(workdir):
    target = Path(f"/tmp/logifold_evil_{uuid.uuid4().hex}")
    members, _ = official_contents(protocol4)
    path = write_archive(workdir / "a.tar.gz", members, extra=[_evil_file_member(str(target))])
    with pytest.raises(CIFAR10ArchiveError, match=f"'{target}'.*absolute"):
        CIFAR10ArchiveDataset(str(path)).load()
    assert not target.exists()


def _link_member(kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(f"{DIR}/data_batch_1")  # an expected name: the type is what's wrong
    info.type = kind
    info.linkname = "/etc/passwd"
    return info


@pytest.mark.parametrize(
    "kind, described",
    [
        (tarfile.SYMTYPE, "symbolic link"),
        (tarfile.LNKTYPE, "hard link"),
        (tarfile.CHRTYPE, "device"),
        (tarfile.FIFOTYPE, "FIFO"),
    ],
)
def test_links_and_devices_are_refused(workdir, kind, described):
    members, _ = official_contents(protocol4)
    del members["data_batch_1"]
    path = write_archive(workdir / "a.tar.gz", members, extra=[_link_member(kind)])
    before = files_under(workdir)
    with pytest.raises(CIFAR10ArchiveError, match=f"'{DIR}/data_batch_1'.*{described}"):
        CIFAR10ArchiveDataset(str(path)).load()
    assert files_under(workdir) == before


def test_duplicate_member_is_refused(tmp_path):
    members, _ = official_contents(protocol4)
    duplicate = tarfile.TarInfo(f"{DIR}/data_batch_1")
    duplicate.size = 4
    path = write_archive(tmp_path / "a.tar.gz", members, extra=[duplicate])
    with pytest.raises(CIFAR10ArchiveError, match="appears twice"):
        CIFAR10ArchiveDataset(str(path)).load()


class _RunsCode:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def test_pickles_that_would_run_code_are_refused(tmp_path):
    marker = tmp_path / "pwned"
    members, _ = official_contents(protocol4)
    evil = batch_dict(make_images(4, 0), [0, 1, 2, 3], "b")
    evil[b"batch_label"] = _RunsCode(marker)
    members["data_batch_4"] = pickle.dumps(evil, protocol=4)
    path = write_archive(tmp_path / "a.tar.gz", members)
    with pytest.raises(CIFAR10ArchiveError, match=r"data_batch_4.*not allowed"):
        CIFAR10ArchiveDataset(str(path)).load()
    assert not marker.exists()


def test_save_is_refused_and_describe_names_the_file(tmp_path):
    members, _ = official_contents(protocol4)
    path = write_archive(tmp_path / "a.tar.gz", members)
    dataset = CIFAR10ArchiveDataset(str(path), expected_train=20)
    assert dataset.exists()
    with pytest.raises(DatasetError, match="read-only"):
        dataset.save({"x_train": np.zeros(1)})
    assert "a.tar.gz" in str(dataset) and "expected_train=20" in str(dataset)


@pytest.mark.parametrize("bad", [0, -5, 2.5, True, "50000"])
def test_invalid_expected_counts_rejected(bad):
    with pytest.raises(ValueError, match="expected_train must be a positive int"):
        CIFAR10ArchiveDataset("a.tar.gz", expected_train=bad)


def test_demo_archive_in_the_repository():
    raw = CIFAR10ArchiveDataset(str(DEMO_ARCHIVE), expected_train=2000, expected_test=500).load()
    assert raw["x_train"].shape == (2000, 32, 32, 3) and raw["x_test"].shape == (500, 32, 32, 3)
    assert np.bincount(raw["y_train"]).tolist() == [200] * 10
    assert np.bincount(raw["y_test"]).tolist() == [50] * 10
    assert raw["label_names"] == CLASSES
    # Natural images: all channels used, not constant, not a channel-order artefact of zeros.
    assert 60 < raw["x_train"].mean() < 200 and raw["x_train"].std() > 30
    # Neighbouring pixels of natural images are strongly correlated only in the right layout.
    x = raw["x_train"][:200].astype(np.float64)
    horizontal = np.corrcoef(x[:, :, :-1, :].ravel(), x[:, :, 1:, :].ravel())[0, 1]
    assert horizontal > 0.8
