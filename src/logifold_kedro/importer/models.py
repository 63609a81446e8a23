"""Models of the reference release: a ``.keras`` is imported only if it works here.

``check_keras_model`` loads the file with Keras in safe mode (no Lambda layers, no code or
modules named in its config), checks that it takes (N, 32, 32, 3) images, that its weights are
finite and that it returns 10 probabilities per image that sum to 1 (``logifold.entropy``), on a
small batch of the clean test images. TensorFlow is imported only here, and only when a model is
checked; without it models cannot be imported (the error says where to run the importer).
"""

from __future__ import annotations

import importlib
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from logifold_kedro.importer.arrays import MAX_MODEL_BYTES, gib
from logifold_kedro.importer.names import IMAGE_SHAPE, NUM_CLASSES, InvalidArtifactError
from logifold_kedro.logifold.entropy import check_probabilities

PROBE_IMAGES = 8
# config.json and metadata.json are a few KiB; more is no model description.
MAX_CONFIG_BYTES = 16 * 2**20


def check_keras_archive(path: Path) -> list[str]:
    """Raise InvalidArtifactError unless ``path`` is a Keras v3 ``.keras`` archive: a zip with a
    JSON ``config.json`` and the weights ``model.weights.h5``, every member within its size
    limit (checked before anything is inflated); return notes (the Keras version)."""
    if not zipfile.is_zipfile(path):
        raise InvalidArtifactError("not a .keras archive (not a zip file)")
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        if "config.json" not in names:
            raise InvalidArtifactError(f"a zip without config.json (has {sorted(names)[:5]})")
        if "model.weights.h5" not in names:
            raise InvalidArtifactError(
                "no model.weights.h5 in the archive: it holds no trained weights"
            )
        total = 0
        for info in archive.infolist():
            limit = MAX_CONFIG_BYTES if info.filename.endswith(".json") else MAX_MODEL_BYTES
            total += info.file_size
            if info.file_size > limit or total > MAX_MODEL_BYTES:
                raise InvalidArtifactError(
                    f"its member {info.filename} declares {gib(info.file_size)} uncompressed "
                    f"(limit {gib(limit)}): refused before inflating it"
                )
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
    return notes


def short(error: BaseException, limit: int = 300) -> str:
    """``Type: first line of the message`` cut to ``limit`` characters (Keras errors span pages
    of configuration)."""
    first = (str(error).strip().splitlines() or [""])[0]
    text = f"{type(error).__name__}: {first}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def probe_images(clean_test: dict | None) -> np.ndarray:
    """The images a model is tried on: the first clean test images, else fixed noise."""
    if clean_test is not None and len(clean_test["x"]) >= 1:
        return np.asarray(clean_test["x"][:PROBE_IMAGES], dtype=np.float32)
    return np.random.default_rng(0).uniform(size=(PROBE_IMAGES, *IMAGE_SHAPE)).astype(np.float32)


def _keras() -> Any:
    try:
        # tf_lib's triton guard must run before TensorFlow loads.
        importlib.import_module("logifold_kedro.tf_lib")
        keras = importlib.import_module("keras")
    except ImportError as error:
        raise InvalidArtifactError(
            "TensorFlow/Keras is not installed here, so the model cannot be checked (loaded in "
            "safe mode and run on 32x32x3 images) before it is imported; run the importer in "
            f"the TensorFlow environment (pip install -e '.[tensorflow]'). ({error})"
        ) from error
    return keras


def check_keras_model(path: Path, images: np.ndarray) -> list[str]:
    """Raise InvalidArtifactError unless the ``.keras`` at ``path`` loads in safe mode, takes
    (N, 32, 32, 3), has finite weights and gives (N, 10) probabilities; return notes."""
    notes = check_keras_archive(path)
    keras = _keras()
    from logifold_kedro.datasets.keras_model import nonfinite_weights

    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:  # noqa: BLE001 - Keras raises many types; each is a refusal
        raise InvalidArtifactError(
            f"Keras refused to load it in safe mode ({short(error)})"
        ) from error
    try:
        shapes = [tuple(tensor.shape) for tensor in model.inputs]
        if len(shapes) != 1 or tuple(shapes[0][1:]) != IMAGE_SHAPE:
            raise InvalidArtifactError(
                f"the model takes inputs of shape {shapes}; expected one input (None, 32, 32, 3)"
            )
        bad = nonfinite_weights(model)
        if bad:
            raise InvalidArtifactError(f"NaN or infinite weights in {sorted(bad)[:5]}")
        try:
            probs = np.asarray(model(images, training=False))
        except Exception as error:  # noqa: BLE001 - a model that cannot run is refused
            raise InvalidArtifactError(
                f"the model fails on {images.shape} images ({short(error)})"
            ) from error
        try:
            check_probabilities(probs, "its outputs", num_classes=NUM_CLASSES)
        except ValueError as error:
            raise InvalidArtifactError(
                f"on {len(images)} test images it gives outputs of shape {probs.shape}, not "
                f"{NUM_CLASSES} probabilities per image: {error}"
            ) from error
    finally:
        del model
        keras.backend.clear_session()  # a release has many members: do not keep their graphs
    notes.append(
        f"checked: loads in safe mode, {len(images)} images -> {NUM_CLASSES} probabilities"
    )
    return notes
