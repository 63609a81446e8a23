"""KerasModelDataset: one load per saved version, new versions and unversioned files re-read."""

from __future__ import annotations

import numpy as np
import pytest
from kedro.io.core import Version

from logifold_kedro.tf_lib.architectures import build_model
from logifold_kedro.tf_lib.model_dataset import KerasModelDataset

SPEC = {"name": "resnet_v1_d8", "family": "resnet", "version": 1, "depth": 8, "width": 4}


@pytest.fixture(autouse=True)
def empty_cache():
    KerasModelDataset.clear_cache()
    yield
    KerasModelDataset.clear_cache()


def images() -> np.ndarray:
    return np.random.default_rng(0).uniform(size=(4, 32, 32, 3)).astype(np.float32)


def versioned(tmp_path, save_version=None, **kwargs) -> KerasModelDataset:
    return KerasModelDataset(
        filepath=str(tmp_path / "model.keras"), version=Version(None, save_version), **kwargs
    )


def test_a_saved_version_is_loaded_once_and_predicts_like_the_saved_model(tmp_path):
    model = build_model(SPEC, seed=0)
    versioned(tmp_path, "2026-01-01T00.00.00.000Z").save(model)
    first = versioned(tmp_path).load()
    second = versioned(tmp_path).load()  # another node reading the same version
    assert first is second
    np.testing.assert_allclose(
        first.predict(images(), verbose=0), model.predict(images(), verbose=0)
    )


def test_a_new_version_is_read_from_its_own_file(tmp_path):
    versioned(tmp_path, "2026-01-01T00.00.00.000Z").save(build_model(SPEC, seed=0))
    old = versioned(tmp_path).load()
    newer = build_model(SPEC, seed=1)
    versioned(tmp_path, "2026-01-02T00.00.00.000Z").save(newer)
    latest = versioned(tmp_path).load()
    assert latest is not old
    np.testing.assert_allclose(
        latest.predict(images(), verbose=0), newer.predict(images(), verbose=0)
    )
    # An explicit older version still comes from the cache.
    pinned = KerasModelDataset(
        filepath=str(tmp_path / "model.keras"), version=Version("2026-01-01T00.00.00.000Z", None)
    )
    assert pinned.load() is old


def test_unversioned_files_and_cache_size_zero_always_read_the_file(tmp_path):
    plain = KerasModelDataset(filepath=str(tmp_path / "plain.keras"))
    plain.save(build_model(SPEC, seed=0))
    assert plain.load() is not plain.load()
    versioned(tmp_path, "2026-01-01T00.00.00.000Z").save(build_model(SPEC, seed=0))
    uncached = versioned(tmp_path, cache_size=0)
    assert uncached.load() is not uncached.load()


def test_the_cache_keeps_at_most_cache_size_models(tmp_path):
    for index in range(3):
        folder = tmp_path / str(index)
        folder.mkdir()
        versioned(folder, "2026-01-01T00.00.00.000Z").save(build_model(SPEC, seed=index))
    loaded = [versioned(tmp_path / str(index), cache_size=2).load() for index in range(3)]
    assert len(KerasModelDataset._loaded) == 2
    # The first one was dropped, so it is read again (a new object).
    assert versioned(tmp_path / "0", cache_size=2).load() is not loaded[0]


def test_a_negative_cache_size_is_refused(tmp_path):
    with pytest.raises(ValueError, match="cache_size must be >= 0"):
        versioned(tmp_path, cache_size=-1)
