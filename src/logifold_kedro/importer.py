"""Import the reference release's published artifacts into the catalog, without training.

    python -m logifold_kedro.importer models.zip specialized_models.zip adversarial_samples.zip \\
        [--env paper] [--dry-run]

Run it from the project root. Every artifact becomes a new version of the matching catalog entry,
all with one version timestamp (the import's Kedro session id); nothing is ever overwritten.

What is recognised (member paths may sit inside folders):

- ``*.keras`` in ``models.zip``: base models, ``resnet_v1_n3_d20.keras`` ->
  ``model__u0__resnet_v1_d20`` (ResNets: ``v1``/``v2`` and ``d20``/``d56``; VGGs: ``vgg11_raw``...).
- ``*.keras`` in ``specialized_models.zip``: first-generation specialists ->
  ``model__sps__<base>``; under ``second_layer/``: U2' -> ``model__u2_<environment>__<base>``, the
  environment (union, weak or strong) read from the folder or file name.
  Each model also gets a small ``history__<committee>__<base>`` record (``"imported": true``) that
  the summaries and the evaluation read in place of a training history.
- ``apgdce_ART/<split>_apgdce_l2_eps0p5_step0p2_it2_rinit4_against_U0.npz`` (keys ``x_adv``, ``y``,
  optional ``split``, ``norm``, ``eps``, ``eps_step``, ``max_iter``, ``nb_random_init``, ``tag``)
  -> ``<target>_apgd_<setting>_<split>``: ``it2`` is weak, ``it10`` strong; target ``U0`` -> ``u0``,
  ``U1`` -> ``u1``, ``SPs`` -> ``sps``, a base model name -> that model (white-box).
- ``autoattack_torch/x_adv_test_*.npy`` -> ``autoattack_test`` (+ ``autoattack_transfer_report``).
  Its labels are the clean test labels: taken from the catalog's ``clean_test`` when the images
  are perturbations of it or of its first N images (every L2 distance <= eps + 0.25; a ``y*.npy``
  beside it must then agree), else from that ``y*.npy``; otherwise the file is reported as
  needing labels.

Image sets are stored in the project's contract: float32 NHWC in [0, 1] (NCHW is transposed,
uint8 is divided by 255, both with a note), int64 labels in 0..9 (one-hot rows are turned into
class indices), the attack settings beside them. Zip members with absolute paths, ``..`` or
symbolic links are refused and never read.

Framework-free: ``.keras`` files are checked as zip archives holding ``config.json`` and copied
byte for byte into the layout ``TensorFlowModelDataset`` reads
(``<filepath>/<version>/<name>.keras``); TensorFlow is never imported.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import shutil
import stat
import sys
import tempfile
import time
import zipfile
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

import numpy as np
from kedro.io.core import DatasetError

from logifold_kedro.data.perturbations import perturbation_norms
from logifold_kedro.data.validation import validate_image_set

logger = logging.getLogger(__name__)

NUM_CLASSES = 10
IMAGE_SHAPE = (32, 32, 3)
# Iterations of the reference's APGD file names -> the project's setting names (METHOD.md).
ITERATIONS_TO_SETTING = {2: "weak", 10: "strong"}
SPLITS = ("train", "val", "test")
U2_ENVIRONMENTS = ("union", "weak", "strong")
COMMITTEE_TARGETS = {"u0": "u0", "u1": "u1", "sps": "sps", "sp": "sps"}
# Float images may exceed [0, 1] by rounding only; more than this is an error, not clipped.
RANGE_TOLERANCE = 1e-5
# An adversarial image set "is" a clean set when every image lies within eps (+ slack for uint8
# storage, at most sqrt(3072) * 0.5 / 255 ~ 0.11) of the clean image at the same index;
# unrelated CIFAR-10 images are L2 5-30 apart.
ALIGNMENT_SLACK = 0.25

STATUS_IMPORTED = "imported"
STATUS_WOULD_IMPORT = "would import"
STATUS_SKIPPED = "skipped"
STATUS_INVALID = "invalid"

_RESNET = re.compile(r"resnet[_-]?v(?P<version>[12])(?:[_-]n\d+)?[_-]d(?P<depth>20|56)(?!\d)")
_VGG = re.compile(r"vgg[_-]?(?P<config>11|13|16|19)(?!\d)")
_SECOND_LAYER = re.compile(r"^(second[_-]?(layer|generation)|u2)$")
_SPECIALIST_TOKENS = {"sp", "sps", "specialist", "specialists", "specialized", "specialised"}
_MACOS_JUNK = re.compile(r"(^|/)(__MACOSX/|\._[^/]*$|\.DS_Store$)")


class UnmappedError(ValueError):
    """An archive member that is not (or not recognisably) a release artifact; skipped."""


class InvalidArtifactError(ValueError):
    """A release artifact that cannot be imported as it is (wrong shape, range, labels...)."""


# --- names -------------------------------------------------------------------------------------
def tokens(text: str) -> list[str]:
    """Lower-case alphanumeric words of a path or name: ``"second_layer/U2-weak"`` ->
    ``["second", "layer", "u2", "weak"]``."""
    return [t for t in re.split(r"[^a-z0-9]+", text.lower()) if t]


def base_model_name(text: str) -> str | None:
    """The project's base-model name mentioned in a reference name, or None.

    ``resnet_v1_n3_d20`` -> ``resnet_v1_d20``, ``resnet_v2_n9_d56`` -> ``resnet_v2_d56``,
    ``vgg16_raw`` -> ``vgg16_raw``. None when no model, or several different ones, are named.
    """
    text = text.lower()
    found = {f"resnet_v{m['version']}_d{m['depth']}" for m in _RESNET.finditer(text)}
    found |= {f"vgg{m['config']}_raw" for m in _VGG.finditer(text)}
    return found.pop() if len(found) == 1 else None


def classify_model(
    zip_name: str, member: str, u0_names: Sequence[str], resnet_names: Sequence[str]
) -> tuple[str, str]:
    """(committee, base model) of a ``.keras`` archive member.

    Under a ``second_layer/`` folder: U2' (``u2_<environment>``, the environment named once in
    the folders or the file name); else a specialist (``sps``) when the zip or a folder or the
    file is named for specialists (``specialized_models.zip``, ``sp_...``); else a base model
    (``u0``). Raises UnmappedError with the reason otherwise.
    """
    path = PurePosixPath(member)
    folders = [p.lower() for p in path.parts[:-1]]
    base = base_model_name(path.stem)
    if base is None:
        raise UnmappedError(
            f"no single base model name in {path.name!r} (expected e.g. resnet_v1_n3_d20, "
            "resnet_v2_n9_d56, vgg11_raw)"
        )
    if base not in u0_names:
        raise UnmappedError(f"{base} is not a base model of this project (u0_models: {u0_names})")
    if any(_SECOND_LAYER.match(folder) for folder in folders):
        words = {t for part in [*folders, path.stem] for t in tokens(part)}
        named = sorted(words & set(U2_ENVIRONMENTS))
        if len(named) != 1:
            raise UnmappedError(
                f"a second-layer (U2') model, but its path names {named or 'no'} environment; "
                f"put it under a folder named after one of {U2_ENVIRONMENTS}, or rename the file"
            )
        committee = f"u2_{named[0]}"
    elif _SPECIALIST_TOKENS & {t for part in [zip_name, *folders, path.stem] for t in tokens(part)}:
        committee = "sps"
    else:
        committee = "u0"
    if committee != "u0" and base not in resnet_names:
        raise UnmappedError(f"{base} has no specialists in this project (only the ResNets do)")
    return committee, base


def member_id(committee: str, base: str) -> str:
    """The model id the pipelines use: ``resnet_v1_d20``, ``sp_resnet_v1_d20``,
    ``u2_weak_resnet_v1_d20``."""
    if committee == "u0":
        return base
    return f"sp_{base}" if committee == "sps" else f"{committee}_{base}"


def _decimal(text: str) -> float:
    """``"0p5"`` -> 0.5 (the reference writes decimal points as ``p``)."""
    return float(text.replace("p", "."))


def parse_apgd_name(filename: str) -> dict[str, Any]:
    """Split, norm, settings and target in a reference APGD file name.

    ``test_apgdce_l2_eps0p5_step0p2_it2_rinit4_against_U0.npz`` -> ``{"split": "test",
    "norm": "l2", "eps": 0.5, "eps_step": 0.2, "max_iter": 2, "nb_random_init": 4,
    "target": "U0"}``. Fields missing from the name are left out; raises UnmappedError when the
    name is not an APGD file name (no ``apgd`` or no ``against_<target>``).
    """
    stem = PurePosixPath(filename).stem
    lowered = stem.lower()
    target = re.search(r"against_(?P<target>[A-Za-z0-9_]+)$", stem)
    if "apgd" not in lowered or target is None:
        raise UnmappedError(
            f"{filename!r} is not an APGD file name like "
            "test_apgdce_l2_eps0p5_step0p2_it2_rinit4_against_U0.npz"
        )
    parsed: dict[str, Any] = {"target": target["target"]}
    first = tokens(stem)[0]
    if first in SPLITS:
        parsed["split"] = first
    patterns = {
        "norm": (r"_(l2|linf|l1)(?=_)", str),
        "eps": (r"_eps(\d+(?:p\d+)?)(?=_)", _decimal),
        "eps_step": (r"_step(\d+(?:p\d+)?)(?=_)", _decimal),
        "max_iter": (r"_it(\d+)(?=_)", int),
        "nb_random_init": (r"_rinit(\d+)(?=_)", int),
    }
    for key, (pattern, convert) in patterns.items():
        match = re.search(pattern, lowered)
        if match:
            parsed[key] = convert(match[1])
    return parsed


def apgd_target(raw: str, u0_names: Sequence[str]) -> str:
    """The project's APGD target for a reference ``against_<X>``: ``U0`` -> ``u0``, ``U1`` ->
    ``u1``, ``SPs`` -> ``sps``, a base model name -> that model. Raises UnmappedError."""
    words = tokens(raw)
    if words and words[0] in COMMITTEE_TARGETS and len(words) == 1:
        return COMMITTEE_TARGETS[words[0]]
    base = base_model_name(raw)
    if base is not None and base in u0_names:
        return base
    raise UnmappedError(
        f"unknown APGD target {raw!r}; expected U0, U1, SPs or a base model name "
        f"({', '.join(u0_names)})"
    )


def apgd_entry(settings: Mapping[str, Any], u0_names: Sequence[str]) -> str:
    """The image-set entry ``<target>_apgd_<setting>_<split>`` of parsed APGD settings (needs
    ``target``, ``split`` and ``max_iter``; a ``norm`` other than L2 is not used by the
    pipelines). Raises UnmappedError."""
    if "norm" in settings and not _norm_is_l2(settings["norm"]):
        raise UnmappedError(f"norm {settings['norm']}: the pipelines use L2 APGD only")
    split, max_iter = settings.get("split"), settings.get("max_iter")
    if split not in SPLITS:
        raise UnmappedError(f"split {split!r} unknown; expected one of {SPLITS}")
    if max_iter is None or int(max_iter) not in ITERATIONS_TO_SETTING:
        raise UnmappedError(f"max_iter {max_iter} is neither 2 (weak) nor 10 (strong)")
    target = apgd_target(str(settings["target"]), u0_names)
    return f"{target}_apgd_{ITERATIONS_TO_SETTING[int(max_iter)]}_{split}"


def merge_apgd_settings(named: Mapping[str, Any], stored: Mapping[str, Any]) -> dict[str, Any]:
    """The APGD settings of a reference file: the values stored in it, checked against those in
    its file name (``apgd_entry`` then checks norm, split and iterations).

    Raises InvalidArtifactError when the name and the file disagree, UnmappedError when eps is
    in neither.
    """
    settings = dict(named)
    for key, value in stored.items():
        if key in named and key != "norm":
            if key == "split":
                same = str(value) == str(named[key])
            else:
                same = bool(np.isclose(float(value), float(named[key])))
            if not same:
                raise InvalidArtifactError(
                    f"the file name says {key} {named[key]} but the file stores {value}"
                )
        settings[key] = value
    if settings.get("eps") is None:
        raise UnmappedError("eps unknown (neither in the file name nor in the file)")
    for key, convert in (("eps", float), ("eps_step", float), ("max_iter", int)):
        if settings.get(key) is not None:
            settings[key] = convert(settings[key])
    if settings.get("nb_random_init") is not None:
        settings["nb_random_init"] = int(settings["nb_random_init"])
    settings.setdefault("eps_step", None)
    return settings


def unsafe_member_reason(info: zipfile.ZipInfo) -> str | None:
    """Why an archive member must not be read (absolute path, ``..``, link), or None."""
    name = info.filename
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "absolute path"
    if ".." in re.split(r"[/\\]", name):
        return "'..' in its path"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "symbolic link"
    if "\x00" in name:
        return "NUL byte in its name"
    return None


# --- arrays ------------------------------------------------------------------------------------
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


def check_keras_archive(path: Path) -> list[str]:
    """Raise InvalidArtifactError unless ``path`` is a Keras v3 ``.keras`` archive (a zip with a
    JSON ``config.json``); return notes (Keras version, missing weights)."""
    if not zipfile.is_zipfile(path):
        raise InvalidArtifactError("not a .keras archive (not a zip file)")
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        if "config.json" not in names:
            raise InvalidArtifactError(f"a zip without config.json (has {sorted(names)[:5]})")
        try:
            config = json.loads(archive.read("config.json"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise InvalidArtifactError(f"config.json is not JSON: {error}") from error
        if not isinstance(config, dict):
            raise InvalidArtifactError("config.json does not hold a model configuration")
        notes = []
        if "metadata.json" in names:
            try:
                version = json.loads(archive.read("metadata.json")).get("keras_version")
            except (UnicodeDecodeError, json.JSONDecodeError, AttributeError):
                version = None
            if version:
                notes.append(f"saved with Keras {version}")
        if "model.weights.h5" not in names:
            notes.append(
                "no model.weights.h5 in the archive: Keras 3 reads the trained weights from it"
            )
    return notes


def _scalar(value: Any) -> Any:
    """A Python value from a 0-d array of an .npz (numbers, strings); arrays stay lists."""
    array = np.asarray(value)
    if array.ndim == 0:
        return array.item()
    return array.tolist()


def _norm_is_l2(value: Any) -> bool:
    return str(value).strip().lower() in {"2", "2.0", "l2"}


def check_image_set(image_set: Mapping[str, Any], name: str) -> None:
    """The project's image-set contract (data.validation), as an InvalidArtifactError."""
    try:
        validate_image_set(image_set, name, NUM_CLASSES)
    except ValueError as error:
        raise InvalidArtifactError(str(error)) from error


def read_npy(archive: zipfile.ZipFile, member: str) -> np.ndarray:
    """A ``.npy`` member, streamed (no pickle)."""
    with archive.open(member) as stream:
        try:
            return np.lib.format.read_array(stream, allow_pickle=False)
        except ValueError as error:
            raise InvalidArtifactError(f"not a readable .npy: {error}") from error


def write_versioned_file(config: Mapping[str, Any], version: str, source: IO[bytes]) -> str:
    """Copy ``source`` to ``<filepath>/<version>/<basename of filepath>`` (the layout of a
    versioned Kedro file dataset); refuses to overwrite. Returns the path written."""
    import fsspec
    from kedro.io.core import get_protocol_and_path

    protocol, path = get_protocol_and_path(str(config["filepath"]))
    fs_args = dict(config.get("fs_args") or {})
    credentials = config.get("credentials")
    if protocol == "file":
        fs_args.setdefault("auto_mkdir", True)
    fs = fsspec.filesystem(
        protocol, **(credentials if isinstance(credentials, dict) else {}), **fs_args
    )
    target = f"{path}/{version}/{PurePosixPath(path).name}"
    if fs.exists(target):
        raise InvalidArtifactError(f"{target} exists already; the importer never overwrites")
    with fs.open(target, "wb") as out:
        shutil.copyfileobj(source, out)
    return target if protocol == "file" else f"{protocol}://{target}"


def _shapes(x: np.ndarray, y: np.ndarray) -> str:
    return f"x {x.shape} {x.dtype}, y {y.shape} {y.dtype}"


# --- the summary -------------------------------------------------------------------------------
@dataclass
class Row:
    """One line of the summary: what happened to one archive member."""

    source: str
    status: str
    entry: str = "-"
    detail: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass
class ImportReport:
    """Everything an import did (or would do), in the order it happened."""

    project: Path
    env: str | None
    version: str
    dry_run: bool
    rows: list[Row] = field(default_factory=list)

    @property
    def imported(self) -> list[Row]:
        return [r for r in self.rows if r.status in (STATUS_IMPORTED, STATUS_WOULD_IMPORT)]

    @property
    def invalid(self) -> list[Row]:
        return [r for r in self.rows if r.status == STATUS_INVALID]

    @property
    def exit_code(self) -> int:
        """0 when something was (or would be) imported and nothing was invalid, else 1."""
        return 0 if self.imported and not self.invalid else 1


def format_report(report: ImportReport) -> str:
    """The summary table printed by the command: one row per archive member, notes below it."""
    mode = "dry run, nothing written" if report.dry_run else f"version {report.version}"
    lines = [f"Import into {report.project} (env {report.env or 'local'}; {mode})", ""]
    header = ("status", "source", "catalog entry", "shape / reason")
    table = [header] + [(r.status, r.source, r.entry, r.detail) for r in report.rows]
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    for index, row in enumerate(table):
        cells = [row[i].ljust(widths[i]) for i in range(3)]
        lines.append("  ".join([*cells, row[3]]).rstrip())
        if index:
            lines += [f"{'':{widths[0]}}  note: {note}" for note in report.rows[index - 1].notes]
    counts = defaultdict(int)
    for row in report.rows:
        counts[row.status] += 1
    lines += ["", ", ".join(f"{counts[s]} {s}" for s in counts) or "no archive members"]
    if any("not in the catalog yet" in note for row in report.rows for note in row.notes):
        lines.append(
            "Hint: `kedro run --pipelines training --tags data` before the import writes the clean "
            "splits; the importer then checks each attacked set against its clean split, records "
            "its perturbation statistics and takes the AutoAttack labels from clean_test."
        )
    if report.invalid:
        lines.append("Exit 1: invalid artifacts (see their reasons above); the others were kept.")
    elif not report.imported:
        lines.append("Exit 1: nothing to import.")
    return "\n".join(lines)


# --- the import --------------------------------------------------------------------------------
@dataclass
class _Item:
    """An archive member recognised as an artifact, with the catalog entry it maps to."""

    zip_path: Path
    member: str
    kind: str  # "model" | "apgd" | "autoattack"
    entry: str
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def source(self) -> str:
        return f"{self.zip_path.name}:{self.member}"


def _split_of(item: _Item) -> str:
    if item.kind == "autoattack":
        return "test"
    return str(item.info.get("name", {}).get("split", ""))


class _Importer:
    """One import: plans the members of the zips, then validates and saves them one by one."""

    def __init__(self, catalog: Any, params: Mapping[str, Any], report: ImportReport) -> None:
        self.catalog = catalog
        self.params = params
        self.report = report
        models = dict(params.get("u0_models") or {})
        if not models:
            raise ValueError("the project's parameters define no `u0_models`; is this the project?")
        self.u0_names = list(models)
        self.resnet_names = [n for n, spec in models.items() if spec.get("family") == "resnet"]
        self.families = {n: spec.get("family") for n, spec in models.items()}
        self._clean_cache: dict[str, dict[str, Any] | None] = {}

    # planning: names only, nothing is read yet
    def plan(self, zip_paths: Sequence[Path]) -> list[_Item]:
        items: list[_Item] = []
        label_files: dict[tuple[Path, str], list[str]] = defaultdict(list)
        for zip_path in zip_paths:
            if not zip_path.is_file():
                self._row(str(zip_path), STATUS_INVALID, detail=f"file not found: {zip_path}")
                continue
            if not zipfile.is_zipfile(zip_path):
                self._row(zip_path.name, STATUS_INVALID, detail="not a zip archive")
                continue
            with zipfile.ZipFile(zip_path) as archive:
                for info in archive.infolist():
                    if info.is_dir():
                        continue
                    item = self._plan_member(zip_path, info, label_files)
                    if item is not None:
                        items.append(item)
        for item in items:
            if item.kind == "autoattack":
                folder = str(PurePosixPath(item.member).parent)
                item.info["label_files"] = label_files.get((item.zip_path, folder), [])
        used = {(i.zip_path, f) for i in items for f in i.info.get("label_files", [])}
        for (zip_path, _), names in label_files.items():
            for name in names:
                reason = "labels for the x_adv file beside it (checked against clean_test)"
                if (zip_path, name) not in used:
                    reason = "labels file without an x_adv image file beside it"
                self._row(f"{zip_path.name}:{name}", STATUS_SKIPPED, detail=reason)
        return self._drop_ambiguous(items)

    def _plan_member(
        self, zip_path: Path, info: zipfile.ZipInfo, label_files: dict
    ) -> _Item | None:
        source = f"{zip_path.name}:{info.filename}"
        reason = unsafe_member_reason(info)
        if reason:
            self._row(source, STATUS_INVALID, detail=f"unsafe member ({reason}): refused, not read")
            return None
        if _MACOS_JUNK.search(info.filename):
            self._row(source, STATUS_SKIPPED, detail="macOS metadata")
            return None
        path = PurePosixPath(info.filename)
        suffix = path.suffix.lower()
        try:
            if suffix == ".keras":
                committee, base = classify_model(
                    Path(zip_path.name).stem, info.filename, self.u0_names, self.resnet_names
                )
                return _Item(
                    zip_path,
                    info.filename,
                    "model",
                    f"model__{committee}__{base}",
                    {"committee": committee, "base": base},
                )
            if suffix == ".npz":
                parsed = parse_apgd_name(path.name)
                # The name usually says everything; else the file's own split/max_iter decide.
                entry = ""
                if "split" in parsed and "max_iter" in parsed:
                    entry = apgd_entry(parsed, self.u0_names)
                return _Item(zip_path, info.filename, "apgd", entry, {"name": parsed})
            if suffix == ".npy" and path.stem.lower().startswith("x_adv"):
                return _Item(zip_path, info.filename, "autoattack", "autoattack_test")
            if suffix == ".npy" and (path.stem.lower() == "y" or path.stem.lower()[:2] == "y_"):
                label_files[(zip_path, str(path.parent))].append(info.filename)
                return None
            raise UnmappedError(f"not a release artifact ({suffix or 'no suffix'})")
        except UnmappedError as error:
            self._row(source, STATUS_SKIPPED, detail=str(error))
            return None

    def _drop_ambiguous(self, items: list[_Item]) -> list[_Item]:
        """Members whose entry is only known from the file's contents (APGD) keep theirs empty
        here; two members that map to one entry by name are both refused."""
        by_entry: dict[str, list[_Item]] = defaultdict(list)
        for item in items:
            if item.entry:
                by_entry[item.entry].append(item)
        kept = []
        for item in items:
            rivals = by_entry.get(item.entry, [item]) if item.entry else [item]
            if len(rivals) > 1:
                others = ", ".join(r.source for r in rivals if r is not item)
                self._row(
                    item.source,
                    STATUS_INVALID,
                    item.entry,
                    f"ambiguous: {others} maps to the same entry; keep one of them",
                )
            else:
                kept.append(item)
        return kept

    # processing: read, check, convert, save
    def process(self, items: list[_Item]) -> None:
        started = time.perf_counter()
        saved_entries: dict[str, str] = {}
        # By kind, then split: one clean split at a time is held for the alignment checks.
        ordered = sorted(
            items,
            key=lambda i: (("model", "apgd", "autoattack").index(i.kind), _split_of(i)),
        )
        for index, item in enumerate(ordered, 1):
            logger.info("importing %d/%d: %s", index, len(ordered), item.source)
            try:
                with zipfile.ZipFile(item.zip_path) as archive:
                    if item.kind == "model":
                        row = self._import_model(archive, item)
                    elif item.kind == "apgd":
                        row = self._import_apgd(archive, item, saved_entries)
                    else:
                        row = self._import_autoattack(archive, item)
            except UnmappedError as error:
                row = Row(item.source, STATUS_SKIPPED, item.entry or "-", str(error))
            except InvalidArtifactError as error:
                row = Row(item.source, STATUS_INVALID, item.entry or "-", str(error))
            except (OSError, zipfile.BadZipFile, DatasetError) as error:
                message = f"could not be read or written: {type(error).__name__}: {error}"
                row = Row(item.source, STATUS_INVALID, item.entry or "-", message)
            self.report.rows.append(row)
            elapsed = time.perf_counter() - started
            logger.info(
                "%s -> %s (%s); %.0f s elapsed, about %.0f s left",
                item.source,
                row.entry,
                row.status,
                elapsed,
                elapsed / index * (len(ordered) - index),
            )

    def _status(self) -> str:
        return STATUS_WOULD_IMPORT if self.report.dry_run else STATUS_IMPORTED

    def _row(self, source: str, status: str, entry: str = "-", detail: str = "") -> None:
        self.report.rows.append(Row(source, status, entry, detail))

    def _versioned_config(self, entry: str) -> dict[str, Any]:
        """The catalog's resolved configuration of ``entry``; refuses unversioned entries (an
        import must never overwrite)."""
        if entry not in self.catalog:
            raise InvalidArtifactError(f"the catalog has no entry or pattern for {entry}")
        config = self.catalog.config_resolver.resolve_pattern(entry)
        if not config.get("versioned"):
            raise InvalidArtifactError(
                f"catalog entry {entry} is not versioned in this environment; the importer only "
                "adds versions (set `versioned: true`)"
            )
        return config

    def _clean(self, split: str) -> dict[str, Any] | None:
        """The catalog's ``clean_<split>`` (None when absent); only the last split asked for is
        kept in memory (paper scale: 40,000 train images are 0.5 GB)."""
        name = f"clean_{split}"
        if name not in self._clean_cache:
            self._clean_cache.clear()
            self._clean_cache[name] = self.catalog.load(name) if self.catalog.exists(name) else None
        return self._clean_cache[name]

    def _save(self, entry: str, data: Any) -> None:
        self._versioned_config(entry)
        if not self.report.dry_run:
            self.catalog.save(entry, data)

    def _import_model(self, archive: zipfile.ZipFile, item: _Item) -> Row:
        committee, base = item.info["committee"], item.info["base"]
        config = self._versioned_config(item.entry)
        history = f"history__{committee}__{base}"
        self._versioned_config(history)
        with tempfile.TemporaryDirectory(prefix="logifold_import_") as folder:
            local = Path(folder) / "model.keras"
            with archive.open(item.member) as member, local.open("wb") as out:
                shutil.copyfileobj(member, out)
            notes = check_keras_archive(local)
            size_mb = local.stat().st_size / 2**20
            if not self.report.dry_run:
                with local.open("rb") as source:
                    write_versioned_file(config, self.report.version, source)
                self.catalog.save(
                    history,
                    {
                        "model": member_id(committee, base),
                        "base": base,
                        "imported": True,
                        "imported_from": item.source,
                        "skipped": False,
                        "spec": {"family": self.families.get(base)},
                        "note": "imported from the reference release; not trained here",
                    },
                )
        return Row(
            item.source,
            self._status(),
            item.entry,
            f".keras, {size_mb:.1f} MB (+ {history})",
            notes,
        )

    def _import_apgd(
        self, archive: zipfile.ZipFile, item: _Item, saved_entries: dict[str, str]
    ) -> Row:
        named = item.info["name"]
        with tempfile.TemporaryDirectory(prefix="logifold_import_") as folder:
            local = Path(folder) / "set.npz"
            with archive.open(item.member) as member, local.open("wb") as out:
                shutil.copyfileobj(member, out)
            try:
                npz = np.load(local, allow_pickle=False)
            except (ValueError, OSError, zipfile.BadZipFile) as error:
                raise InvalidArtifactError(f"not a readable .npz: {error}") from error
            with npz:
                keys = set(npz.files)
                image_key = "x_adv" if "x_adv" in keys else "x" if "x" in keys else None
                if image_key is None or "y" not in keys:
                    raise InvalidArtifactError(f"an .npz without x_adv and y (keys {sorted(keys)})")
                stored = {
                    k: _scalar(npz[k])
                    for k in (
                        "split",
                        "norm",
                        "eps",
                        "eps_step",
                        "max_iter",
                        "nb_random_init",
                        "tag",
                    )
                    if k in keys
                }
                x_raw, y_raw = npz[image_key], npz["y"]
        settings = merge_apgd_settings(named, stored)
        entry = apgd_entry(settings, self.u0_names)
        settings["norm"] = 2  # L2, checked by apgd_entry; ART's notation
        target = apgd_target(named["target"], self.u0_names)
        setting_name = ITERATIONS_TO_SETTING[settings["max_iter"]]
        split = settings["split"]
        if entry in saved_entries:
            raise InvalidArtifactError(
                f"ambiguous: {saved_entries[entry]} was already imported as {entry}"
            )
        x, notes = to_nhwc_unit_float(x_raw)
        del x_raw
        y, label_notes = to_labels(y_raw, len(x))
        notes += label_notes
        notes += self._compare_with_parameters(setting_name, settings)
        clean = self._clean(split)
        stats, why_not = alignment(x, clean, float(settings["eps"]))
        if stats is None:
            notes.append(f"perturbation statistics not computed: {why_not}")
        elif not np.array_equal(y, clean["y"]):
            differing = int(np.count_nonzero(y != clean["y"]))
            notes.append(f"labels differ from clean_{split} at {differing} positions")
        image_set = {
            "x": x,
            "y": y,
            "name": entry,
            "source_set": f"clean_{split}" if stats else "",
            "target": target,
            "attack": "APGD-CE (ART AutoProjectedGradientDescent), L2, untargeted, y=None",
            "setting_name": setting_name,
            "setting": {k: settings[k] for k in ("norm", "eps", "eps_step", "max_iter")}
            | {"nb_random_init": settings.get("nb_random_init")},
            "l2_mean": stats["l2_mean"] if stats else None,
            "l2_max": stats["l2_max"] if stats else None,
            "imported_from": item.source,
            "reference_tag": settings.get("tag"),
            "import_notes": list(notes),
        }
        check_image_set(image_set, entry)
        self._save(entry, image_set)
        saved_entries[entry] = item.source
        return Row(item.source, self._status(), entry, _shapes(x, y), notes)

    def _compare_with_parameters(self, setting_name: str, settings: Mapping[str, Any]) -> list[str]:
        """Notes where the file's attack differs from this environment's ``apgd.<setting>``."""
        expected = (self.params.get("apgd") or {}).get(setting_name) or {}
        differs = [
            f"{key} {settings[key]} (parameters: {expected[key]})"
            for key in ("eps", "eps_step", "max_iter", "nb_random_init")
            if key in expected
            and settings.get(key) is not None
            and not np.isclose(float(settings[key]), float(expected[key]))
        ]
        if not differs:
            return []
        return [f"differs from params apgd.{setting_name}: " + ", ".join(differs)]

    def _import_autoattack(self, archive: zipfile.ZipFile, item: _Item) -> Row:
        autoattack = dict(self.params.get("autoattack") or {})
        eps = float(autoattack.get("eps", 0.5))
        x, notes = to_nhwc_unit_float(read_npy(archive, item.member))
        clean_test = self._clean("test")
        stats, why_not = alignment(x, clean_test, eps, prefix=True)
        label_files = item.info.get("label_files", [])
        file_labels = None
        if len(label_files) == 1:
            file_labels, label_notes = to_labels(read_npy(archive, label_files[0]), len(x))
            notes += label_notes
        if stats is not None:
            y = clean_test["y"][: len(x)].copy()
            label_source = "clean_test (the images are perturbations of it, index by index)"
            if file_labels is not None and not np.array_equal(file_labels, y):
                raise InvalidArtifactError(
                    f"{label_files[0]} and clean_test disagree on "
                    f"{int(np.count_nonzero(file_labels != y))} labels; which ones are right?"
                )
        elif file_labels is not None:
            y = file_labels
            label_source = f"{item.zip_path.name}:{label_files[0]}"
            notes.append(f"clean_test not used: {why_not}")
        else:
            several = f" ({len(label_files)} y*.npy files beside it)" if label_files else ""
            raise InvalidArtifactError(
                f"labels needed: clean_test cannot give them ({why_not}) and there is no single "
                f"y*.npy beside the file{several}; run `kedro run --pipelines training --tags "
                "data` first (paper scale: all 10,000 test images) or add the labels to the zip"
            )
        notes.append(f"labels from {label_source}")
        image_set = {
            "x": x,
            "y": y,
            "name": "autoattack_test",
            "source_set": "clean_test" if stats else "",
            "attack": "AutoAttack (transfer from the surrogate), imported",
            "setting": {"norm": "L2", "eps": eps, "version": autoattack.get("version")},
            **(stats or {}),
            "imported_from": item.source,
            "label_source": label_source,
            "import_notes": list(notes),
        }
        check_image_set(image_set, "autoattack_test")
        report = {
            "surrogate": "reference release (not run here)",
            "n": len(y),
            "clean_accuracy": None,
            "robust_accuracy": None,
            "norm": "L2",
            "eps": eps,
            "version": autoattack.get("version"),
            "imported_from": item.source,
            "label_source": label_source,
            **(stats or {}),
        }
        self._save("autoattack_test", image_set)
        self._save("autoattack_transfer_report", report)
        return Row(
            item.source,
            self._status(),
            "autoattack_test",
            _shapes(x, y) + " (+ autoattack_transfer_report)",
            notes,
        )


def import_release(
    zip_paths: Sequence[str | Path],
    project_path: str | Path = ".",
    env: str | None = None,
    dry_run: bool = False,
) -> ImportReport:
    """Import the release zips into the Kedro project at ``project_path`` (configuration ``env``).

    One Kedro session: its id is the version of everything written. Saves go through the
    project's catalog (paths and versions are the catalog's); ``.keras`` files are copied into
    the versioned layout of their catalog entry. With ``dry_run`` everything is read and checked
    and nothing is written.
    """
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    project = Path(project_path).resolve()
    bootstrap_project(project)
    with KedroSession.create(project_path=project, env=env) as session:
        context = session.load_context()
        version = session.session_id
        # `kedro run` builds its catalog this way: one save version for every dataset.
        catalog = context._get_catalog(save_version=version)
        report = ImportReport(project=project, env=env, version=version, dry_run=dry_run)
        importer = _Importer(catalog, context.params, report)
        items = importer.plan([Path(p) for p in zip_paths])
        importer.process(items)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: import, print the summary, return the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m logifold_kedro.importer",
        description=(
            "Import the reference release (models.zip, specialized_models.zip, "
            "adversarial_samples.zip) into this project's catalog as new versions, so the "
            "immunization and reporting stages can run on the published artifacts. Run it from "
            "the project root."
        ),
    )
    parser.add_argument("zips", nargs="+", type=Path, help="release zip files")
    parser.add_argument("--env", default=None, help="Kedro configuration environment (e.g. paper)")
    parser.add_argument(
        "--dry-run", action="store_true", help="read and check everything, write nothing"
    )
    args = parser.parse_args(argv)
    report = import_release(args.zips, Path.cwd(), env=args.env, dry_run=args.dry_run)
    print(format_report(report))
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
