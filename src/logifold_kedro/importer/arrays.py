"""Arrays of the reference release: read within declared sizes, converted to the project's
image-set contract, checked against the clean splits.

Nothing is inflated before its size is known to be sane: a zip member's declared uncompressed
size (``ZipInfo.file_size``, which ``zipfile`` enforces while reading) must be within
``MAX_MEMBER_BYTES``, and a ``.npy`` header's shape and dtype must describe exactly the bytes
that follow it (so a header declaring 10^7 images in a small file is refused before any
allocation), hold no Python objects (pickle) and be a plain number or text type.
"""

from __future__ import annotations

import io
import math
import zipfile
from collections.abc import Mapping
from typing import IO, Any

import numpy as np

from logifold_kedro.data.perturbations import perturbation_norms
from logifold_kedro.data.validation import validate_image_set
from logifold_kedro.importer.names import IMAGE_SHAPE, NUM_CLASSES, InvalidArtifactError

# Float images may exceed [0, 1] by rounding only; more than this is an error, not clipped.
RANGE_TOLERANCE = 1e-5
# An adversarial image set "is" a clean set when every image lies within eps (+ slack for uint8
# storage, at most sqrt(3072) * 0.5 / 255 ~ 0.11) of the clean image at the same index;
# unrelated CIFAR-10 images are L2 5-30 apart.
ALIGNMENT_SLACK = 0.25
# The largest array a release can hold: all 60,000 CIFAR-10 images as float64 (1.47 GB).
MAX_IMAGES = 60_000
MAX_ARRAY_BYTES = MAX_IMAGES * math.prod(IMAGE_SHAPE) * 8
# A zip member: an .npz with such images and one-hot float64 labels, or a .keras checkpoint.
MAX_MEMBER_BYTES = MAX_ARRAY_BYTES + MAX_IMAGES * NUM_CLASSES * 8 + 2**20
MAX_MODEL_BYTES = 2**31
# .npy dtypes an artifact may use: bool, integers, floats, text (settings such as split="test").
_ARRAY_KINDS = "biufUS"
_MAX_HEADER_BYTES = 10_000


def gib(size: int) -> str:
    """A byte count for people: ``114 GiB``, ``3 MiB``, ``64 bytes``."""
    if size >= 2**28:
        return f"{size / 2**30:.3g} GiB"
    return f"{size / 2**20:.3g} MiB" if size >= 2**20 else f"{size} bytes"


def check_member_size(info: zipfile.ZipInfo, limit: int = MAX_MEMBER_BYTES) -> None:
    """Refuse a zip member whose declared uncompressed size is over ``limit`` (nothing read)."""
    if info.file_size > limit:
        raise InvalidArtifactError(
            f"declares {gib(info.file_size)} uncompressed, more than any release artifact "
            f"({gib(limit)}): refused before inflating it"
        )


class _CountingReader(io.RawIOBase):
    """A read-only stream that counts the bytes read through it (zip streams cannot tell)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        self.count += len(data)
        return len(data)


def read_npy_checked(stream: IO[bytes], size: int, what: str) -> np.ndarray:
    """A ``.npy`` of ``size`` bytes from ``stream``, its header checked before any data is read.

    Refused (InvalidArtifactError): not a .npy, an object (pickle) or structured dtype, a shape
    whose bytes differ from what follows the header, or more than ``MAX_ARRAY_BYTES``.
    """
    reader = _CountingReader(stream)
    try:
        version = np.lib.format.read_magic(reader)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(
                reader, max_header_size=_MAX_HEADER_BYTES
            )
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(
                reader, max_header_size=_MAX_HEADER_BYTES
            )
        else:
            raise InvalidArtifactError(f"{what}: .npy format {version} is not supported")
    except ValueError as error:
        raise InvalidArtifactError(f"{what} is not a readable .npy: {error}") from error
    if dtype.hasobject or dtype.kind not in _ARRAY_KINDS or dtype.names:
        raise InvalidArtifactError(
            f"{what} has dtype {dtype} (Python objects or records, which need pickle or are no "
            "image, label or setting): refused, not read"
        )
    count = math.prod(shape)
    declared = count * dtype.itemsize
    available = size - reader.count
    if declared > MAX_ARRAY_BYTES or declared != available:
        raise InvalidArtifactError(
            f"{what}: its header declares shape {shape} {dtype} ({gib(declared)}) but the file "
            f"holds {gib(max(available, 0))} of data: refused before reading it"
        )
    # Read straight into the array's memory: no second copy of a 0.5 GB split.
    array = np.empty(count, dtype=dtype)
    buffer = memoryview(array.view(np.uint8)) if declared else memoryview(b"")
    filled = 0
    while filled < declared:
        read = reader.readinto(buffer[filled:])
        if not read:
            raise InvalidArtifactError(f"{what} is truncated ({filled} of {declared} bytes)")
        filled += read
    return array.reshape(shape, order="F" if fortran else "C")


def read_npy_member(archive: zipfile.ZipFile, member: str) -> np.ndarray:
    """A ``.npy`` member of a zip, size-checked (``check_member_size``, ``read_npy_checked``)."""
    info = archive.getinfo(member)
    check_member_size(info)
    with archive.open(info) as stream:
        return read_npy_checked(stream, info.file_size, member)


def read_npz_checked(path: Any, keys: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` file (only ``keys`` when given), each size-checked."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise InvalidArtifactError(f"not a readable .npz: {error}") from error
    arrays = {}
    with archive:
        for info in archive.infolist():
            key = info.filename.removesuffix(".npy")
            if info.is_dir() or (keys is not None and key not in keys):
                continue
            check_member_size(info)
            with archive.open(info) as stream:
                arrays[key] = read_npy_checked(stream, info.file_size, f"array '{key}'")
    return arrays


def to_nhwc_unit_float(x: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Images as float32 (N, 32, 32, 3) in [0, 1], with notes on what was converted.

    NCHW (N, 3, 32, 32) is transposed; uint8 is divided by 255; floats within
    ``RANGE_TOLERANCE`` of [0, 1] are clipped. Raises InvalidArtifactError otherwise.
    """
    notes: list[str] = []
    if not isinstance(x, np.ndarray) or x.ndim != 4:
        shape = getattr(x, "shape", None)
        raise InvalidArtifactError(f"images of shape {shape}; expected (N, 32, 32, 3) or NCHW")
    if x.shape[1:] == (3, 32, 32):
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
        notes.append("NCHW (N, 3, 32, 32) transposed to NHWC")
    elif x.shape[1:] != IMAGE_SHAPE:
        raise InvalidArtifactError(
            f"images of shape {x.shape}; expected (N, 32, 32, 3) (NHWC) or (N, 3, 32, 32) (NCHW)"
        )
    if len(x) == 0:
        raise InvalidArtifactError("no images (N = 0)")
    if x.dtype == np.uint8:
        x = x.astype(np.float32)
        x /= np.float32(255.0)
        notes.append("uint8 pixels scaled by 1/255 to float32 [0, 1]")
        return x, notes
    if not np.issubdtype(x.dtype, np.floating):
        raise InvalidArtifactError(f"images of dtype {x.dtype}; expected float32 or uint8")
    x = x.astype(np.float32, copy=False)
    low, high = float(x.min()), float(x.max())
    if not (np.isfinite(low) and np.isfinite(high)):
        raise InvalidArtifactError("images hold NaN or infinite values")
    if low < -RANGE_TOLERANCE or high > 1.0 + RANGE_TOLERANCE:
        hint = " (0..255 pixels stored as floats? divide by 255 first)" if high > 1.5 else ""
        raise InvalidArtifactError(f"image values lie in [{low:.4g}, {high:.4g}], not [0, 1]{hint}")
    if low < 0.0 or high > 1.0:
        x = np.clip(x, 0.0, 1.0)
        notes.append(f"values in [{low:.3g}, {high:.3g}] clipped to [0, 1] (rounding)")
    return x, notes


def to_labels(y: Any, count: int) -> tuple[np.ndarray, list[str]]:
    """Labels as int64 (count,) class indices in 0..9, with notes.

    Accepts integer labels, integral floats, (N, 1) columns and one-hot rows (N, 10).
    Raises InvalidArtifactError otherwise.
    """
    notes: list[str] = []
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    elif y.ndim == 2 and y.shape[1] == NUM_CLASSES:
        one_hot = np.all((y == 0) | (y == 1)) and np.all(y.sum(axis=1) == 1)
        if not one_hot:
            raise InvalidArtifactError(
                f"labels of shape {y.shape} that are not one-hot rows; expected class indices"
            )
        y = y.argmax(axis=1)
        notes.append("one-hot labels turned into class indices")
    if y.ndim != 1 or len(y) != count:
        raise InvalidArtifactError(
            f"labels of shape {y.shape} for {count} images; expected ({count},)"
        )
    if np.issubdtype(y.dtype, np.floating):
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise InvalidArtifactError(f"labels of dtype {y.dtype} with non-integer values")
        notes.append(f"{y.dtype} labels converted to int64")
    elif not np.issubdtype(y.dtype, np.integer):
        raise InvalidArtifactError(f"labels of dtype {y.dtype}; expected integer class indices")
    y = y.astype(np.int64)
    low, high = int(y.min()), int(y.max())
    if low < 0 or high >= NUM_CLASSES:
        raise InvalidArtifactError(f"labels lie in [{low}, {high}]; expected 0..{NUM_CLASSES - 1}")
    return y, notes


def alignment(
    x_adv: np.ndarray, clean: Mapping[str, Any] | None, eps: float, prefix: bool = False
) -> tuple[dict[str, Any] | None, str]:
    """Perturbation statistics when ``x_adv`` is an attack of ``clean`` image by image, else None
    and why not.

    Aligned means: every image within L2 ``eps + ALIGNMENT_SLACK`` of the clean image at its
    index, and the same count (with ``prefix``: at most as many, an attack of the first N clean
    images, as the torch stage's ``num_images`` makes).
    """
    if clean is None:
        return None, "the clean split is not in the catalog yet"
    count, clean_count = len(x_adv), len(clean["x"])
    if count > clean_count or (count < clean_count and not prefix):
        return None, f"the clean set has {clean_count} images, this one {count}"
    norms = perturbation_norms(clean["x"][:count], x_adv)
    if norms.max() > eps + ALIGNMENT_SLACK:
        return None, (
            f"the images are not perturbations of the clean set at the same index (L2 distance "
            f"up to {norms.max():.3g} > eps {eps} + {ALIGNMENT_SLACK})"
        )
    return {
        "l2_mean": float(norms.mean()),
        "l2_median": float(np.median(norms)),
        "l2_max": float(norms.max()),
        "n_perturbed": int(np.count_nonzero(norms > 0)),
    }, ""


def stored_value(value: Any) -> Any:
    """A Python value from a 0-d array of an .npz (numbers, strings); arrays stay lists."""
    array = np.asarray(value)
    if array.ndim == 0:
        return array.item()
    return array.tolist()


def check_image_set(image_set: Mapping[str, Any], name: str) -> None:
    """The project's image-set contract (data.validation), as an InvalidArtifactError."""
    try:
        validate_image_set(image_set, name, NUM_CLASSES)
    except ValueError as error:
        raise InvalidArtifactError(str(error)) from error


def describe_shapes(x: np.ndarray, y: np.ndarray) -> str:
    """``x (N, 32, 32, 3) float32, y (N,) int64``: an image set's arrays for the summary."""
    return f"x {x.shape} {x.dtype}, y {y.shape} {y.dtype}"
