"""``CIFAR10ArchiveDataset``: the official CIFAR-10 "python version" archive, read in place.

The archive (``cifar-10-python.tar.gz``) holds ``cifar-10-batches-py/data_batch_1`` ..
``data_batch_5``, ``test_batch`` and ``batches.meta``: pickled dicts whose ``data`` entry is a
uint8 array of shape (n, 3072) with channel-first rows (1024 red, 1024 green, 1024 blue values of
a 32x32 image) and whose ``labels`` entry is a list of n ints in 0..9.

The members are read straight from the compressed stream: nothing is ever extracted to disk, and
the archive is checked before any member is used (only the expected names, only regular files,
no absolute paths, ``..`` components, links or devices). The pickles are read with a restricted
unpickler that can build nothing but builtin containers and numpy arrays, so a tampered archive
cannot run code. Both the official Python 2 pickles (protocol 2) and pickles written by Python 3
(protocol 4, as in the demo archive) load.
"""

from __future__ import annotations

import codecs
import gzip
import io
import logging
import pickle
import tarfile
import time
import zlib
from pathlib import PurePosixPath
from typing import Any

import fsspec
import numpy as np
from kedro.io.core import AbstractDataset, DatasetError, get_protocol_and_path

logger = logging.getLogger(__name__)

DOWNLOAD_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
ARCHIVE_DIR = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
META_MEMBER = "batches.meta"
REQUIRED_MEMBERS = (*TRAIN_BATCHES, TEST_BATCH, META_MEMBER)
# Shipped in the official archive next to the batches; never read.
IGNORED_MEMBERS = ("readme.html",)

NUM_CLASSES = 10
IMAGE_SHAPE_CHW = (3, 32, 32)
ROW_LENGTH = int(np.prod(IMAGE_SHAPE_CHW))  # 3072
# An official batch pickle is about 31 MB; a member far larger than that is not a CIFAR-10 batch
# and is refused before it is decompressed into memory.
MAX_MEMBER_BYTES = 256 * 1024 * 1024


class CIFAR10ArchiveNotFoundError(DatasetError, FileNotFoundError):
    """The archive file does not exist (a DatasetError that is also a FileNotFoundError)."""


class CIFAR10ArchiveError(DatasetError, ValueError):
    """The archive is corrupt or does not hold valid CIFAR-10 batches (also a ValueError)."""


def _latin1_encode(text: str, encoding: str) -> bytes:
    """``_codecs.encode`` restricted to latin-1: Python 3 pickles bytes this way at protocol 2."""
    if codecs.lookup(encoding).name != "iso8859-1":
        raise pickle.UnpicklingError(f"refusing _codecs.encode with encoding {encoding!r}")
    return codecs.encode(text, "latin-1")


class _RestrictedUnpickler(pickle.Unpickler):
    """Builds builtin containers and numpy arrays only; every other global is refused.

    Python 2 (and numpy < 2) pickles name ``numpy.core.multiarray``; numpy 2 pickles name
    ``numpy._core.multiarray``. Both resolve to numpy's current module.
    """

    _NUMPY_MULTIARRAY = ("numpy.core.multiarray", "numpy._core.multiarray")
    _MULTIARRAY_NAMES = ("_reconstruct", "scalar")

    def find_class(self, module: str, name: str) -> Any:
        if module in self._NUMPY_MULTIARRAY and name in self._MULTIARRAY_NAMES:
            return super().find_class("numpy._core.multiarray", name)
        if module == "numpy" and name == "ndarray":
            return np.ndarray
        if module == "numpy" and name == "dtype":
            return np.dtype
        if module == "_codecs" and name == "encode":
            return _latin1_encode
        raise pickle.UnpicklingError(
            f"global '{module}.{name}' is not allowed in a CIFAR-10 batch (only numpy arrays "
            "and builtin containers are)"
        )


def _unpickle(payload: bytes) -> Any:
    # encoding="bytes" keeps Python 2 str values (keys, numpy buffers) as bytes, as Keras does.
    return _RestrictedUnpickler(io.BytesIO(payload), encoding="bytes").load()


def _member_key(raw_name: str) -> str:
    """The member name relative to the archive's top directory, after the safety checks.

    Returns "" for the top directory itself. Raises CIFAR10ArchiveError for anything else.
    """
    name = raw_name
    while name.startswith("./"):  # archives made with `tar czf x.tar.gz ./cifar-10-batches-py`
        name = name[2:]
    name = name.rstrip("/")
    parts = PurePosixPath(name).parts
    if raw_name.startswith("/") or ".." in parts:
        raise CIFAR10ArchiveError(
            f"Refusing archive member '{raw_name}': absolute paths and '..' components are not "
            f"allowed; a CIFAR-10 archive holds only '{ARCHIVE_DIR}/<batch>' files. Download "
            f"the archive again from {DOWNLOAD_URL}."
        )
    if name == ARCHIVE_DIR:
        return ""
    if (
        len(parts) == 2
        and parts[0] == ARCHIVE_DIR
        and parts[1]
        in (
            *REQUIRED_MEMBERS,
            *IGNORED_MEMBERS,
        )
    ):
        return parts[1]
    raise CIFAR10ArchiveError(
        f"Unexpected archive member '{raw_name}': a CIFAR-10 archive holds only "
        f"'{ARCHIVE_DIR}/' with {', '.join(REQUIRED_MEMBERS + IGNORED_MEMBERS)}. Download the "
        f"archive again from {DOWNLOAD_URL}."
    )


def _check_member_type(member: tarfile.TarInfo, key: str) -> None:
    if key == "":
        if not member.isdir():
            raise CIFAR10ArchiveError(
                f"Archive member '{member.name}' must be a directory, but it is a "
                f"{_member_kind(member)}."
            )
        return
    if not member.isreg():
        raise CIFAR10ArchiveError(
            f"Refusing archive member '{member.name}': it is a {_member_kind(member)}, but only "
            "regular files are allowed (no links or devices)."
        )
    if member.size > MAX_MEMBER_BYTES:
        raise CIFAR10ArchiveError(
            f"Archive member '{member.name}' is {member.size} bytes, far more than a CIFAR-10 "
            f"batch (about 31 MB); refusing to read it. Download the archive again from "
            f"{DOWNLOAD_URL}."
        )


def _member_kind(member: tarfile.TarInfo) -> str:
    if member.issym():
        return f"symbolic link (to '{member.linkname}')"
    if member.islnk():
        return f"hard link (to '{member.linkname}')"
    if member.ischr() or member.isblk():
        return "device"
    if member.isfifo():
        return "FIFO"
    if member.isdir():
        return "directory"
    if member.isreg():
        return "regular file"
    return f"member of tar type {member.type!r}"


def _as_str_keys(obj: Any, member: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise CIFAR10ArchiveError(
            f"Archive member '{member}' must hold a pickled dict, got {type(obj).__name__}."
        )
    return {k.decode("latin-1") if isinstance(k, bytes) else str(k): v for k, v in obj.items()}


def _parse_batch(batch: dict[str, Any], member: str) -> tuple[np.ndarray, np.ndarray]:
    """Check one batch dict and return (images uint8 (n, 32, 32, 3), labels int64 (n,))."""
    missing = [k for k in ("data", "labels") if k not in batch]
    if missing:
        raise CIFAR10ArchiveError(
            f"Archive member '{member}' lacks {missing}: a CIFAR-10 batch holds 'data' uint8 "
            f"(n, {ROW_LENGTH}) and 'labels' (n ints in 0..{NUM_CLASSES - 1})."
        )
    data = batch["data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        form = (
            f"{data.dtype} array of shape {data.shape}"
            if isinstance(data, np.ndarray)
            else type(data).__name__
        )
        raise CIFAR10ArchiveError(
            f"Archive member '{member}': 'data' is a {form}; expected uint8 of shape "
            f"(n, {ROW_LENGTH})."
        )
    if data.shape[1] != ROW_LENGTH:
        raise CIFAR10ArchiveError(
            f"Archive member '{member}': 'data' has shape {data.shape}; expected (n, {ROW_LENGTH})"
            " (32x32 RGB images as channel-first rows)."
        )
    try:
        labels = np.asarray(batch["labels"])
    except (TypeError, ValueError) as exc:
        raise CIFAR10ArchiveError(
            f"Archive member '{member}': 'labels' is not a list of ints ({exc})."
        ) from exc
    if labels.ndim != 1 or not (labels.size == 0 or np.issubdtype(labels.dtype, np.integer)):
        raise CIFAR10ArchiveError(
            f"Archive member '{member}': 'labels' has dtype {labels.dtype} and shape "
            f"{labels.shape}; expected a list of {len(data)} ints in 0..{NUM_CLASSES - 1}."
        )
    if len(labels) != len(data):
        raise CIFAR10ArchiveError(
            f"Archive member '{member}': {len(labels)} labels for {len(data)} images; expected "
            "one label per image."
        )
    if labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise CIFAR10ArchiveError(
            f"Archive member '{member}': labels range over [{labels.min()}, {labels.max()}]; "
            f"expected class indices in 0..{NUM_CLASSES - 1}."
        )
    # Channel-first rows (R plane, G plane, B plane) -> NHWC, as Keras models expect.
    images = data.reshape(len(data), *IMAGE_SHAPE_CHW).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels.astype(np.int64)


def _parse_meta(meta: dict[str, Any], member: str) -> list[str]:
    names = meta.get("label_names")
    if not isinstance(names, list | tuple) or len(names) != NUM_CLASSES:
        raise CIFAR10ArchiveError(
            f"Archive member '{member}': 'label_names' is {names!r:.80}; expected a list of "
            f"{NUM_CLASSES} class names."
        )
    if not all(isinstance(n, bytes | str) for n in names):
        raise CIFAR10ArchiveError(
            f"Archive member '{member}': 'label_names' must hold strings, got {names!r:.80}."
        )
    return [n.decode("utf-8") if isinstance(n, bytes) else n for n in names]


def read_cifar10_archive(fileobj: Any, source: str = "archive") -> dict[str, Any]:
    """Read and check a CIFAR-10 python archive from an open binary file object.

    One pass over the gzip stream; nothing is written to disk. ``source`` names the archive in
    error messages. Returns the dict described in ``CIFAR10ArchiveDataset``.
    """
    corrupt = (
        f"The CIFAR-10 archive {source} is corrupt or truncated ({{error}}). Download it again "
        f"from {DOWNLOAD_URL}."
    )
    payloads: dict[str, bytes] = {}
    try:
        # Stream mode ("r|gz") reads each member once, in archive order, without seeking back.
        with tarfile.open(fileobj=fileobj, mode="r|gz") as tar:
            for member in tar:
                key = _member_key(member.name)
                _check_member_type(member, key)
                if key not in REQUIRED_MEMBERS:
                    continue
                if key in payloads:
                    raise CIFAR10ArchiveError(
                        f"Archive member '{member.name}' appears twice; a CIFAR-10 archive holds "
                        "each batch once."
                    )
                extracted = tar.extractfile(member)  # a file object for regular files
                payloads[key] = extracted.read() if extracted is not None else b""
                if len(payloads[key]) != member.size:
                    raise CIFAR10ArchiveError(
                        corrupt.format(error=f"member '{member.name}' is cut short")
                    )
    except CIFAR10ArchiveError:
        raise
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise CIFAR10ArchiveError(corrupt.format(error=f"{type(exc).__name__}: {exc}")) from exc

    missing = [k for k in REQUIRED_MEMBERS if k not in payloads]
    if missing:
        raise CIFAR10ArchiveError(
            f"The CIFAR-10 archive {source} lacks "
            f"{', '.join(f'{ARCHIVE_DIR}/{k}' for k in missing)}. Download the complete archive "
            f"from {DOWNLOAD_URL}."
        )

    def load_member(key: str) -> dict[str, Any]:
        member = f"{ARCHIVE_DIR}/{key}"
        try:
            obj = _unpickle(payloads.pop(key))
        except Exception as exc:  # a damaged pickle fails in many ways; name the member
            raise CIFAR10ArchiveError(
                f"Archive member '{member}' is not a readable CIFAR-10 pickle "
                f"({type(exc).__name__}: {exc}). Download the archive again from {DOWNLOAD_URL}."
            ) from exc
        return _as_str_keys(obj, member)

    # Batches in order 1..5, whatever their order inside the archive.
    train = [_parse_batch(load_member(k), f"{ARCHIVE_DIR}/{k}") for k in TRAIN_BATCHES]
    x_test, y_test = _parse_batch(load_member(TEST_BATCH), f"{ARCHIVE_DIR}/{TEST_BATCH}")
    label_names = _parse_meta(load_member(META_MEMBER), f"{ARCHIVE_DIR}/{META_MEMBER}")
    return {
        "x_train": np.concatenate([x for x, _ in train]),
        "y_train": np.concatenate([y for _, y in train]),
        "x_test": x_test,
        "y_test": y_test,
        "label_names": label_names,
    }


class CIFAR10ArchiveDataset(AbstractDataset[None, dict[str, Any]]):
    """Read-only Kedro dataset for the official CIFAR-10 python archive (``.tar.gz``).

    ``load()`` returns ``{"x_train": uint8 (N, 32, 32, 3), "y_train": int64 (N,), "x_test": uint8
    (M, 32, 32, 3), "y_test": int64 (M,), "label_names": list[str]}``.

    Example catalog entry::

        cifar10_raw:
          type: logifold_kedro.datasets.cifar10_archive.CIFAR10ArchiveDataset
          filepath: data/01_raw/cifar-10-python.tar.gz
          expected_train: 50000
          expected_test: 10000
    """

    def __init__(
        self,
        filepath: str,
        expected_train: int | None = None,
        expected_test: int | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """
        Args:
            filepath: Path (local or any fsspec URL) of ``cifar-10-python.tar.gz``.
            expected_train: If given, the number of training images the archive must hold.
            expected_test: If given, the number of test images the archive must hold.
            metadata: Free-form metadata (kedro-viz layer etc.), ignored by Kedro.
        """
        for label, value in (("expected_train", expected_train), ("expected_test", expected_test)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ValueError(f"{label} must be a positive int or None, got {value!r}.")
        protocol, path = get_protocol_and_path(filepath)
        self._filepath = filepath
        self._protocol = protocol
        self._path = path
        self._fs = fsspec.filesystem(protocol)
        self._expected_train = expected_train
        self._expected_test = expected_test
        self.metadata = metadata

    def load(self) -> dict[str, Any]:
        if not self._fs.exists(self._path):
            raise CIFAR10ArchiveNotFoundError(
                f"CIFAR-10 archive not found at '{self._filepath}'. Put the official archive "
                f"there (the default layout keeps it in data/01_raw/), or point the catalog "
                f"entry's filepath at your copy. Get it from {DOWNLOAD_URL}."
            )
        start = time.perf_counter()
        with self._fs.open(self._path, mode="rb") as fileobj:
            raw = read_cifar10_archive(fileobj, source=f"'{self._filepath}'")
        for split, expected in (("train", self._expected_train), ("test", self._expected_test)):
            found = len(raw[f"y_{split}"])
            if expected is not None and found != expected:
                raise CIFAR10ArchiveError(
                    f"The CIFAR-10 archive '{self._filepath}' holds {found} {split} images, but "
                    f"expected_{split} is {expected}: check that filepath points at the archive "
                    "you mean (the official one holds 50000 train and 10000 test images)."
                )
        logger.info(
            "Read CIFAR-10 archive %s: %d train, %d test images in %.1f s",
            self._filepath,
            len(raw["y_train"]),
            len(raw["y_test"]),
            time.perf_counter() - start,
        )
        return raw

    def save(self, data: Any) -> None:
        raise DatasetError(
            f"CIFAR10ArchiveDataset is read-only: it reads the original archive "
            f"'{self._filepath}' and never writes it. Save derived data to another dataset."
        )

    def _exists(self) -> bool:
        return bool(self._fs.exists(self._path))

    def _describe(self) -> dict[str, Any]:
        return {
            "filepath": self._filepath,
            "protocol": self._protocol,
            "expected_train": self._expected_train,
            "expected_test": self._expected_test,
        }
