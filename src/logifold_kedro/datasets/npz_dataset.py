"""``NpzDataset``: a versioned Kedro dataset for dicts of numpy arrays plus small metadata.

``save({"x": array, "y": array, "split": "val", "settings": {...}})`` writes one ``.npz``: every
``numpy.ndarray`` value becomes an array of the archive under its key, and every other value
(str, int, float, bool, None, list, dict, nested as JSON allows) goes into one JSON document
stored as the string array ``__meta__``. ``load()`` returns a dict with the same keys, in the
same order, and the same values (tuples come back as lists, numpy scalars as Python numbers).

Files are always read with ``allow_pickle=False``: object arrays are refused on save, so nothing
in a file needs pickle and a tampered file cannot run code.

Saves are atomic (``datasets.atomic``): the ``.npz`` is written under a hidden partial name and
renamed when complete, so a run killed mid-save never leaves a truncated file as the latest
version. A file that cannot be read (one truncated before saves were atomic, or edited) is
reported with its path and version folder and what to do, not with ``BadZipFile``.

Finite numbers only (``datasets.finite``): a float array with NaN or infinite values is refused
on save and on load, and a ``probs`` array must be probabilities
(``logifold.entropy.check_probabilities``: rows of non-negative values summing to 1).
"""

from __future__ import annotations

import json
import zipfile
import zlib
from collections.abc import Mapping
from copy import deepcopy
from pathlib import PurePosixPath
from typing import Any, NewType

import fsspec
import numpy as np
from kedro.io.core import (
    AbstractVersionedDataset,
    DatasetError,
    Version,
    get_filepath_str,
    get_protocol_and_path,
)

from logifold_kedro.datasets.atomic import damaged_version_error, located, partial_save_path
from logifold_kedro.datasets.finite import describe_nonfinite, nonfinite_arrays
from logifold_kedro.logifold.entropy import check_probabilities

META_KEY = "__meta__"
META_FORMAT = "logifold_kedro.npz_dataset/1"
# The key under which the prediction nodes store softmax outputs (pipelines.committee_nodes).
PROBS_KEY = "probs"
# What np.load, zipfile and zlib raise for a truncated or damaged archive.
_DAMAGED = (zipfile.BadZipFile, EOFError, ValueError, KeyError, zlib.error)

# kedro-viz picks the preview widget from the name of preview()'s return annotation.
TablePreview = NewType("TablePreview", dict)


def _json_default(value: Any) -> Any:
    # float32/int64 values computed with numpy are common in metadata; store them as numbers.
    if isinstance(value, np.generic) and not isinstance(value, np.object_ | np.void):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def split_arrays_and_meta(data: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], str]:
    """Separate the ndarray values from the rest and encode the rest (and the key order) as JSON.

    Raises DatasetError for non-string keys, the reserved key ``__meta__``, object arrays and
    values JSON cannot hold.
    """
    if not isinstance(data, Mapping):
        raise DatasetError(
            f"NpzDataset saves a dict of arrays and metadata values, got {type(data).__name__}."
        )
    arrays: dict[str, np.ndarray] = {}
    meta: dict[str, Any] = {}
    for key, value in data.items():
        if not isinstance(key, str) or not key:
            raise DatasetError(f"NpzDataset keys must be non-empty strings, got {key!r}.")
        if key == META_KEY:
            raise DatasetError(
                f"The key '{META_KEY}' is reserved by NpzDataset for the metadata; rename it."
            )
        if isinstance(value, np.ndarray):
            if value.dtype.hasobject:
                raise DatasetError(
                    f"Array '{key}' has dtype {value.dtype} (Python objects), which .npz can "
                    "only store with pickle; NpzDataset never uses pickle. Convert it to a "
                    "numeric or string dtype, or pass it as a plain list/dict metadata value."
                )
            arrays[key] = value
            continue
        try:
            json.dumps(value, default=_json_default)
        except (TypeError, ValueError) as exc:
            raise DatasetError(
                f"Value '{key}' ({type(value).__name__}) can be neither an array nor JSON "
                f"metadata: {exc}. Pass numpy arrays at the top level and str, int, float, "
                "bool, None, list or dict values otherwise."
            ) from exc
        meta[key] = value
    document = {"format": META_FORMAT, "key_order": list(data.keys()), "values": meta}
    return arrays, json.dumps(document, default=_json_default)


def merge_arrays_and_meta(arrays: Mapping[str, np.ndarray], meta_json: str | None) -> dict:
    """Inverse of ``split_arrays_and_meta``: one dict with the saved keys in the saved order."""
    if meta_json is None:  # an .npz written by something else: arrays only
        return dict(arrays)
    document = json.loads(meta_json)
    values = document.get("values", {})
    order = document.get("key_order", [*arrays, *values])
    merged = {key: arrays[key] if key in arrays else values[key] for key in order}
    # Keys that are in the file but not in key_order (edited files) are kept, after the rest.
    merged.update({k: v for k, v in {**arrays, **values}.items() if k not in merged})
    return merged


def numbers_problem(arrays: Mapping[str, np.ndarray]) -> str:
    """What is wrong with the numbers of a dict of arrays, or "" when nothing is.

    Every float array must be finite; a ``probs`` array with rows must hold probabilities
    (``check_probabilities``). An empty ``probs`` (no images) is accepted.
    """
    bad = nonfinite_arrays(arrays)
    if bad:
        sizes = {key: int(np.asarray(arrays[key]).size) for key in bad}
        return f"NaN or infinite values in {describe_nonfinite(bad, sizes)}"
    probs = arrays.get(PROBS_KEY)
    if probs is not None and probs.ndim == 2 and len(probs) > 0:
        try:
            check_probabilities(probs, name=f"'{PROBS_KEY}'")
        except ValueError as error:
            return str(error)
    return ""


class NpzDataset(AbstractVersionedDataset[dict[str, Any], dict[str, Any]]):
    """Versioned ``.npz`` dataset for dicts of arrays plus JSON metadata (any fsspec filesystem).

    Example catalog entry::

        clean_val:
          type: logifold_kedro.datasets.npz_dataset.NpzDataset
          filepath: data/02_intermediate/clean_val.npz
          versioned: true
          save_args:
            compress: false   # true: np.savez_compressed (smaller, slower)
    """

    DEFAULT_SAVE_ARGS: dict[str, Any] = {"compress": False}

    def __init__(
        self,
        filepath: str,
        version: Version | None = None,
        load_args: dict[str, Any] | None = None,
        save_args: dict[str, Any] | None = None,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """
        Args:
            filepath: Path of the ``.npz`` (local, or any fsspec URL such as ``s3://...``).
            version: Kedro version (set by the catalog for ``versioned: true``).
            load_args: Extra arguments of ``numpy.load`` (``allow_pickle`` is always False).
            save_args: ``{"compress": bool}``; True writes with ``np.savez_compressed``.
                Default False: uncompressed, fast to write and read.
            credentials: Passed to the fsspec filesystem.
            fs_args: Passed to the fsspec filesystem; ``open_args_load``/``open_args_save``
                go to its ``open``.
            metadata: Free-form metadata (kedro-viz layer etc.), ignored by Kedro.
        """
        load_args = dict(load_args or {})
        if load_args.pop("allow_pickle", False):
            raise DatasetError(
                "NpzDataset always loads with allow_pickle=False (pickle can run code); remove "
                "allow_pickle from load_args."
            )
        self._load_args = load_args
        self._save_args = {**self.DEFAULT_SAVE_ARGS, **(save_args or {})}
        unknown = sorted(set(self._save_args) - set(self.DEFAULT_SAVE_ARGS))
        if unknown:
            raise DatasetError(
                f"Unknown NpzDataset save_args {unknown}; the only one is 'compress' (bool)."
            )

        _fs_args = deepcopy(fs_args) or {}
        self._fs_open_args_load = _fs_args.pop("open_args_load", {})
        self._fs_open_args_save = {**_fs_args.pop("open_args_save", {}), "mode": "wb"}
        _credentials = deepcopy(credentials) or {}
        protocol, path = get_protocol_and_path(filepath, version)
        if protocol == "file":
            _fs_args.setdefault("auto_mkdir", True)
        self._protocol = protocol
        self._fs = fsspec.filesystem(protocol, **_credentials, **_fs_args)
        self.metadata = metadata

        super().__init__(
            filepath=PurePosixPath(path),
            version=version,
            exists_function=self._fs.exists,
            glob_function=self._fs.glob,
        )

    def load(self) -> dict[str, Any]:
        load_path = get_filepath_str(self._get_load_path(), self._protocol)
        where = located(load_path, self._version is not None)
        try:
            with self._fs.open(load_path, mode="rb", **self._fs_open_args_load) as fs_file:
                with np.load(fs_file, allow_pickle=False, **self._load_args) as npz:
                    arrays = {key: npz[key] for key in npz.files if key != META_KEY}
                    meta_json = str(npz[META_KEY][()]) if META_KEY in npz.files else None
            data = merge_arrays_and_meta(arrays, meta_json)
        except ValueError as error:
            if "allow_pickle" in str(error):
                raise DatasetError(
                    f"{where} holds object arrays, which only pickle can read, and pickle can "
                    "run code: NpzDataset never loads them (allow_pickle=False). Re-save the "
                    "arrays with a numeric or string dtype."
                ) from error
            raise damaged_version_error(load_path, self._version is not None, error) from error
        except (*_DAMAGED, json.JSONDecodeError) as error:
            raise damaged_version_error(load_path, self._version is not None, error) from error
        problem = numbers_problem(arrays)
        if problem:
            raise DatasetError(
                f"{where}: {problem.rstrip('.')}. Stored results must be finite numbers and "
                "probabilities must be probabilities (a diverged training or a broken attack "
                "produces such values, or the file was edited); re-run the stage that writes "
                "it, or load an earlier version with `--load-versions`."
            )
        return data

    def save(self, data: dict[str, Any]) -> None:
        arrays, meta_json = split_arrays_and_meta(data)
        save_path = get_filepath_str(self._get_save_path(), self._protocol)
        problem = numbers_problem(arrays)
        if problem:
            raise DatasetError(
                f"refusing to save {located(save_path, self._version is not None)}: "
                f"{problem.rstrip('.')}. The node that computed it produced numbers no stage can "
                "use; nothing was written."
            )
        compression = zipfile.ZIP_DEFLATED if self._save_args["compress"] else zipfile.ZIP_STORED
        entries = {**arrays, META_KEY: np.array(meta_json)}
        # The layout of np.savez (one <key>.npy per entry), written directly so that any key,
        # e.g. "file", is allowed; under a partial name until complete (datasets.atomic).
        with partial_save_path(self._protocol, save_path) as target:
            with self._fs.open(target, **self._fs_open_args_save) as fs_file:
                with zipfile.ZipFile(fs_file, mode="w", compression=compression) as archive:
                    for key, array in entries.items():
                        with archive.open(f"{key}.npy", mode="w", force_zip64=True) as member:
                            np.lib.format.write_array(member, array, allow_pickle=False)
        self._invalidate_cache()

    def _exists(self) -> bool:
        try:
            load_path = get_filepath_str(self._get_load_path(), self._protocol)
        except DatasetError:
            return False
        return bool(self._fs.exists(load_path))

    def _describe(self) -> dict[str, Any]:
        return {
            "filepath": self._filepath,
            "protocol": self._protocol,
            "load_args": self._load_args,
            "save_args": self._save_args,
            "version": self._version,
        }

    def _release(self) -> None:
        super()._release()
        self._invalidate_cache()

    def _invalidate_cache(self) -> None:
        """Invalidate the filesystem's cache of listings (new versions must become visible)."""
        self._fs.invalidate_cache(get_filepath_str(self._filepath, self._protocol))

    def preview(self) -> TablePreview:
        """A table of the entries of the latest version (kedro-viz): key, kind, shape, dtype,
        and each metadata value. Reads only the array headers and the metadata, never the data."""
        load_path = get_filepath_str(self._get_load_path(), self._protocol)
        rows: list[list[str]] = []
        with self._fs.open(load_path, mode="rb", **self._fs_open_args_load) as fs_file:
            with zipfile.ZipFile(fs_file) as archive:
                for entry in archive.namelist():
                    key = entry.removesuffix(".npy")
                    with archive.open(entry) as member:
                        if key == META_KEY:
                            meta = np.lib.format.read_array(member, allow_pickle=False)
                            values = json.loads(str(meta[()])).get("values", {})
                            rows += [
                                [k, "meta", "", "", json.dumps(v)[:80]] for k, v in values.items()
                            ]
                        else:
                            shape, dtype = _array_header(member)
                            rows.append([key, "array", shape, dtype, ""])
        return TablePreview(
            {
                "index": list(range(len(rows))),
                "columns": ["key", "kind", "shape", "dtype", "value"],
                "data": rows,
            }
        )


def _array_header(member: Any) -> tuple[str, str]:
    """(shape, dtype) of a .npy stream from its header alone."""
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(member)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(member)
    else:  # format 3.0 (utf-8 field names) has no public header reader
        return "?", "?"
    return str(shape), str(dtype)
