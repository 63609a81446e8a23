"""perturbation_norms: per-image Lp norms of x_adv - x, chunked, with clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from logifold_kedro.data import perturbations
from logifold_kedro.data.perturbations import perturbation_norms, perturbation_summary


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


def test_summary_by_hand():
    x = np.zeros((3, 2, 2, 3), np.float32)
    x_adv = x.copy()
    x_adv[0, 0, 0, 0], x_adv[0, 1, 1, 2] = 0.3, 0.4  # L2 0.5, Linf 0.4
    x_adv[2, 0, 1, 1] = 0.1
    stats = perturbation_summary(x, x_adv)
    assert stats["l2_max"] == pytest.approx(0.5)
    assert stats["l2_min"] == 0.0
    assert stats["l2_mean"] == pytest.approx(0.6 / 3)
    assert stats["l2_median"] == pytest.approx(0.1)
    assert stats["l2_mean_perturbed"] == pytest.approx(0.3)
    assert stats["linf_max"] == pytest.approx(0.4)
    assert stats["n_perturbed"] == 2 and stats["n"] == 3


def test_summary_of_no_images_is_zero():
    empty = np.zeros((0, 2, 2, 3), np.float32)
    stats = perturbation_summary(empty, empty)
    assert stats["n"] == 0 and stats["n_perturbed"] == 0
    assert all(stats[key] == 0.0 for key in ("l2_mean", "l2_median", "l2_max", "linf_max"))
    with pytest.raises(ValueError, match="same shape"):
        perturbation_summary(empty, np.zeros((1, 2, 2, 3), np.float32))
