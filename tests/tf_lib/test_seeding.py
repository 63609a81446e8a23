"""Per-node seeding leaves TensorFlow's global seed, and so its compiled functions, alone."""

from __future__ import annotations

import random

import numpy as np
import pytest
import tensorflow as tf

from logifold_kedro.seeding import seed_host_generators
from logifold_kedro.tf_lib.apgd import apgd_attack
from logifold_kedro.tf_lib.architectures import build_model
from logifold_kedro.tf_lib.specialists import make_specialist
from logifold_kedro.tf_lib.training import train_classifier

SPEC = {"name": "seeding_resnet", "family": "resnet", "version": 1, "depth": 8, "width": 4}
WEAK = {"norm": 2, "eps": 0.5, "eps_step": 0.2, "max_iter": 2, "nb_random_init": 1, "batch_size": 8}


def test_seed_host_generators_repeats_python_and_numpy_draws():
    seed_host_generators(7)
    first = (random.random(), np.random.random())
    seed_host_generators(7)
    assert (random.random(), np.random.random()) == first
    seed_host_generators(2**32 + 7)  # NumPy takes the seed modulo 2^32
    assert np.random.random() == first[1]


def test_building_training_and_attacking_never_reseed_tensorflow(monkeypatch):
    """tf.random.set_seed clears TensorFlow's cache of instantiated functions: every compiled
    pass would be optimised again on its next call (seconds per committee on the CPU)."""
    calls = []
    monkeypatch.setattr(tf.random, "set_seed", lambda seed: calls.append(seed))
    images = np.random.default_rng(0).uniform(size=(16, 32, 32, 3)).astype(np.float32)
    data = {"x": images, "y": np.arange(16, dtype=np.int64) % 10}
    model = build_model(SPEC, seed=1)
    specialist = make_specialist(model, name="seeding_specialist", seed=2)
    recipe = {"epochs": 1, "batch_size": 8, "learning_rate": 1e-3}
    train_classifier(specialist, data, data, recipe, seed=3)
    first = apgd_attack(specialist, images[:8], WEAK, seed=4)
    again = apgd_attack(specialist, images[:8], WEAK, seed=4)
    assert calls == []
    np.testing.assert_array_equal(first, again)  # reproducible without TensorFlow's seed


@pytest.mark.parametrize("seed", [0, 5])
def test_model_weights_depend_only_on_the_seed_after_other_draws(seed):
    first = build_model(SPEC, seed=seed).get_weights()
    tf.random.uniform([3])  # unrelated draws from TensorFlow's and Python's generators
    random.random()
    for a, b in zip(first, build_model(SPEC, seed=seed).get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
