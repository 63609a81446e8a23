"""Tests of make_specialist: a new model cut at "features", the base left untouched."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from logifold_kedro.tf_lib.architectures import build_model
from logifold_kedro.tf_lib.prediction import predict_probabilities
from logifold_kedro.tf_lib.specialists import make_specialist
from logifold_kedro.tf_lib.trainers import architecture_key
from logifold_kedro.tf_lib.training import train_classifier

BASE_SPEC = {"name": "resnet_v1_d8", "family": "resnet", "version": 1, "depth": 8, "width": 4}


def images(count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(size=(count, 32, 32, 3)).astype(np.float32)


def features_of(model: keras.Model, x: np.ndarray) -> np.ndarray:
    cut = keras.Model(model.inputs, model.get_layer("features").output)
    return keras.ops.convert_to_numpy(cut(x, training=False))


@pytest.fixture(scope="module")
def base():
    model = build_model(BASE_SPEC, seed=0)
    # Train briefly so the batch-norm statistics are not at their initial values.
    data = {"x": images(32, 1), "y": np.arange(32, dtype=np.int64) % 10}
    train_classifier(model, data, data, {"epochs": 1, "batch_size": 16, "learning_rate": 1e-3}, 0)
    return model


def test_specialist_is_the_base_up_to_features_with_a_new_head(base):
    specialist = make_specialist(base, num_classes=10, name="sp_resnet_v1_d8", seed=1)
    x = images(6, 2)
    assert specialist.name == "sp_resnet_v1_d8"
    assert specialist.output_shape == (None, 10)
    assert [layer.name for layer in specialist.layers[-3:]] == [
        "features",
        "logits",
        "probabilities",
    ]
    np.testing.assert_allclose(
        features_of(specialist, x), features_of(base, x), rtol=1e-5, atol=1e-6
    )
    head, base_head = specialist.get_layer("logits"), base.get_layer("logits")
    assert head is not base_head
    assert not np.allclose(head.get_weights()[0], base_head.get_weights()[0])
    probs = predict_probabilities(specialist, x, 4)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert all(layer.trainable for layer in specialist.layers)
    assert len(specialist.trainable_weights) == len(base.trainable_weights)
    assert specialist.count_params() == base.count_params()


def test_specialist_shares_no_variables_with_the_base(base):
    specialist = make_specialist(base)
    base_variables = {id(variable) for variable in base.weights}
    assert not base_variables & {id(variable) for variable in specialist.weights}
    assert specialist.name == "resnet_v1_d8_specialist"


def test_fine_tuning_the_specialist_leaves_the_base_unchanged(base):
    before = [weight.copy() for weight in base.get_weights()]
    x = images(6, 3)
    base_probs = predict_probabilities(base, x, 6)
    specialist = make_specialist(base, num_classes=4, seed=2)
    specialist_before = [weight.copy() for weight in specialist.get_weights()]
    data = {"x": images(24, 4), "y": np.arange(24, dtype=np.int64) % 4}
    recipe = {"epochs": 1, "batch_size": 8, "learning_rate": 1e-2, "augment": None}
    train_classifier(specialist, data, data, recipe, seed=0)
    for weight, original in zip(base.get_weights(), before, strict=True):
        np.testing.assert_array_equal(weight, original)
    np.testing.assert_array_equal(predict_probabilities(base, x, 6), base_probs)
    changed = [
        not np.array_equal(weight, original)
        for weight, original in zip(specialist.get_weights(), specialist_before, strict=True)
    ]
    assert all(changed[:2]) and changed[-2]  # first conv kernel/bias and the head kernel moved
    assert specialist.output_shape == (None, 4)


def test_specialist_survives_a_keras_file_round_trip(base, tmp_path):
    specialist = make_specialist(base, name="sp")
    path = tmp_path / "sp.keras"
    specialist.save(path)
    loaded = keras.models.load_model(path)
    x = images(3, 5)
    np.testing.assert_allclose(
        predict_probabilities(loaded, x, 3), predict_probabilities(specialist, x, 3), rtol=1e-6
    )


def test_model_without_features_layer_is_rejected():
    inputs = keras.Input((4,))
    plain = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs), name="plain")
    with pytest.raises(ValueError, match="no layer named 'features'"):
        make_specialist(plain)


def test_seeded_head_does_not_depend_on_python_random_used_by_other_threads(base, monkeypatch):
    from tests.tf_lib.test_architectures import _python_random_drawn_meanwhile

    quiet = make_specialist(base, name="quiet", seed=3).get_layer("logits").get_weights()
    _python_random_drawn_meanwhile(monkeypatch)
    busy = make_specialist(base, name="busy", seed=3).get_layer("logits").get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(quiet, busy, strict=True))


def test_specialist_has_its_base_architecture_so_they_share_a_trainer(base):
    # The specialist's new head has the base head's shape and names: one traced train step.
    assert architecture_key(make_specialist(base, seed=1)) == architecture_key(base)
    assert architecture_key(make_specialist(base, num_classes=4, seed=1)) != architecture_key(base)
