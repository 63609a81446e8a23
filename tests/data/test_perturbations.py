"""perturbation_norms: per-image Lp norms of x_adv - x, chunked, with clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from logifold_kedro.data import perturbations
from logifold_kedro.data.perturbations import perturbation_norms


def test_norms_by_hand():
    x = np.zeros((2, 2, 2, 1), dtype=np.float32)
    x_adv = x.copy()
    x_adv[0, 0, 0, 0], x_adv[0, 1, 1, 0] = 0.3, 0.4  # image 0: delta (0.3, 0.4)
    x_adv[1, 0, 1, 0] = -0.5
    np.testing.assert_allclose(perturbation_norms(x, x_adv), [0.5, 0.5], rtol=1e-6)
    np.testing.assert_allclose(perturbation_norms(x, x_adv, "Linf"), [0.4, 0.5], rtol=1e-6)
    np.testing.assert_allclose(perturbation_norms(x, x_adv, "L1"), [0.7, 0.5], rtol=1e-6)


def test_chunks_give_the_same_norms_as_one_pass(monkeypatch):
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(7, 4, 4, 3)).astype(np.float32)
    x_adv = np.clip(x + rng.normal(scale=0.1, size=x.shape), 0, 1).astype(np.float32)
    whole = perturbation_norms(x, x_adv)
    monkeypatch.setattr(perturbations, "_CHUNK", 3)
    np.testing.assert_array_equal(perturbation_norms(x, x_adv), whole)
    assert whole.dtype == np.float64 and whole.shape == (7,)


def test_bad_inputs_are_refused():
    x = np.zeros((2, 4), dtype=np.float32)
    with pytest.raises(ValueError, match="same shape"):
        perturbation_norms(x, np.zeros((3, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="norm must be one of"):
        perturbation_norms(x, x, "L3")
