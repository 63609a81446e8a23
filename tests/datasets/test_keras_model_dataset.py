"""KerasModelDataset of logifold_kedro.datasets (the catalog's model entries): atomic saves,
finite weights, damaged versions reported by file and version."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from kedro.io.core import DatasetError, Version

keras = pytest.importorskip("keras")

from logifold_kedro.datasets.atomic import PARTIAL_MARKER  # noqa: E402
from logifold_kedro.datasets.keras_model import KerasModelDataset  # noqa: E402

FIRST, SECOND = "2026-01-01T00.00.00.000Z", "2026-01-02T00.00.00.000Z"


@pytest.fixture(autouse=True)
def empty_cache():
    KerasModelDataset.clear_cache()
    yield
    KerasModelDataset.clear_cache()


def tiny_model(seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(10, "softmax")]
    )


def dataset(folder: Path, load: str | None = None, save: str | None = None) -> KerasModelDataset:
    return KerasModelDataset(filepath=str(folder / "m.keras"), version=Version(load, save))


def test_saves_are_atomic_and_load_like_the_saved_model(tmp_path):
    model = tiny_model()
    dataset(tmp_path, save=FIRST).save(model)
    files = [p.name for p in (tmp_path / "m.keras" / FIRST).iterdir()]
    assert files == ["m.keras"] and not any(PARTIAL_MARKER in f for f in files)
    x = np.random.default_rng(0).uniform(size=(2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(dataset(tmp_path).load()(x), model(x), rtol=1e-6)


def test_nan_weights_are_refused_on_save_and_on_load(tmp_path, monkeypatch):
    model = tiny_model()
    kernel = model.layers[-1].kernel
    kernel.assign(np.where(np.eye(*kernel.shape) > 0, np.nan, kernel.numpy()))
    with pytest.raises(DatasetError, match=r"NaN or infinite values in .*kernel.*nothing"):
        dataset(tmp_path, save=FIRST).save(model)
    assert not (tmp_path / "m.keras").exists() or not any((tmp_path / "m.keras").rglob("m.keras"))
    # A version with NaN weights written by something else is refused with file and version.
    model.save(tmp_path / "plain.keras")
    (tmp_path / "m.keras" / SECOND).mkdir(parents=True)
    (tmp_path / "plain.keras").rename(tmp_path / "m.keras" / SECOND / "m.keras")
    with pytest.raises(DatasetError, match=rf"m.keras \(version {SECOND}\) holds NaN"):
        dataset(tmp_path).load()


def test_a_truncated_version_is_reported_by_file_and_folder(tmp_path):
    dataset(tmp_path, save=FIRST).save(tiny_model())
    file = tmp_path / "m.keras" / FIRST / "m.keras"
    file.write_bytes(file.read_bytes()[:200])
    with pytest.raises(DatasetError) as error:
        dataset(tmp_path).load()
    message = str(error.value)
    assert f"(version {FIRST}) cannot be read" in message and "Delete its version folder" in message
