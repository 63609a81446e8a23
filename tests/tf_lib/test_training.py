"""Tests of train_classifier, its shared trainers, and predict_probabilities (the recipe and the
data pipeline: test_recipe, test_training_data)."""

from __future__ import annotations

import json
import logging

import keras
import numpy as np
import pytest

from logifold_kedro.tf_lib.architectures import build_model
from logifold_kedro.tf_lib.prediction import predict_probabilities
from logifold_kedro.tf_lib.trainers import FusedAdam, architecture_key, clear_trainers
from logifold_kedro.tf_lib.training import train_classifier

TINY_SPEC = {"name": "tiny", "family": "resnet", "version": 1, "depth": 8, "width": 4}


def colour_blobs(count: int, seed: int, num_classes: int = 3) -> dict[str, np.ndarray]:
    """Class c = a bright square in colour channel c on a dim noisy background."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_classes, count)
    images = rng.uniform(0.0, 0.3, (count, 32, 32, 3)).astype(np.float32)
    for index, label in enumerate(labels):
        images[index, 8:24, 8:24, label] += 0.6
    return {"x": np.clip(images, 0.0, 1.0), "y": labels.astype(np.int64)}


def tiny_model(seed: int = 0):
    return build_model({**TINY_SPEC, "num_classes": 3}, seed=seed)


def accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(probs.argmax(axis=1) == labels))


# ---- image sets ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image_set", "message"),
    [
        ({"x": np.zeros((2, 32, 32, 3), np.float32)}, r"lacks \['y'\]"),
        ({"x": np.zeros((2, 32, 32), np.float32), "y": np.zeros(2, np.int64)}, "shape"),
        ({"x": np.zeros((2, 32, 32, 3), np.uint8), "y": np.zeros(2, np.int64)}, "dtype uint8"),
        ({"x": np.zeros((2, 32, 32, 3), np.float32), "y": np.zeros(3, np.int64)}, "2 images"),
        ({"x": np.zeros((2, 32, 32, 3), np.float32), "y": np.array([0, 3])}, r"0\.\.2"),
        ({"x": np.zeros((0, 32, 32, 3), np.float32), "y": np.zeros(0, np.int64)}, "empty"),
    ],
)
def test_bad_image_sets_raise_clear_errors(image_set, message):
    # The data contract (data.validation), checked against the model's number of classes.
    good = colour_blobs(4, seed=0)
    recipe = {"epochs": 1, "batch_size": 2, "learning_rate": 1e-3}
    with pytest.raises(ValueError, match=f"Image set 'train'.*{message}"):
        train_classifier(tiny_model(), image_set, good, recipe, seed=0)


# ---- training --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def blobs():
    return colour_blobs(72, seed=1), colour_blobs(45, seed=2)


@pytest.fixture(scope="module")
def trained_with_a_ruinous_last_epoch(blobs):
    """7 epochs; the last one at a huge learning rate, so an earlier epoch is the best."""
    train, val = blobs
    recipe = {
        "epochs": 7,
        "batch_size": 8,
        "learning_rate": 2e-3,
        "lr_schedule": [[5, 5.0]],
        "augment": {"width_shift": 0.1, "height_shift": 0.1, "horizontal_flip": True},
        "log_every_batches": 3,
    }
    recorder = LearningRateRecorder()
    model, history = train_classifier(
        tiny_model(), train, val, recipe, seed=0, callbacks=[recorder]
    )
    return model, history, recorder.rates


class LearningRateRecorder(keras.callbacks.Callback):
    """The optimizer's learning rate at each epoch's start (after the schedule set it)."""

    def __init__(self) -> None:
        super().__init__()
        self.rates: list[float] = []

    def on_epoch_begin(self, epoch, logs=None) -> None:
        self.rates.append(float(self.model.optimizer.learning_rate.numpy()))


def test_training_learns_and_restores_the_best_epoch(blobs, trained_with_a_ruinous_last_epoch):
    _, val = blobs
    model, history, _ = trained_with_a_ruinous_last_epoch
    val_accuracy = history["val_accuracy"]
    assert history["best_epoch"] == int(np.argmax(val_accuracy))
    assert history["best_val_accuracy"] == pytest.approx(max(val_accuracy))
    assert max(val_accuracy) >= 0.8  # chance is 1/3
    assert val_accuracy[-1] < max(val_accuracy)  # the last epoch is not the one kept
    restored = accuracy(predict_probabilities(model, val["x"], 16), val["y"])
    assert restored == pytest.approx(max(val_accuracy), abs=1e-6)


def test_history_records_the_schedule_and_is_json(trained_with_a_ruinous_last_epoch):
    _, history, optimizer_rates = trained_with_a_ruinous_last_epoch
    assert history["lr"] == [2e-3] * 6 + [5.0]
    assert optimizer_rates == pytest.approx(history["lr"])  # applied to the optimizer, too
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "seconds"):
        assert len(history[key]) == 7
    assert history["train_size"] == 72 and history["val_size"] == 45
    assert json.loads(json.dumps(history)) == history


def test_training_logs_one_line_per_epoch_with_eta(blobs, caplog):
    train, val = blobs
    recipe = {"epochs": 2, "batch_size": 24, "learning_rate": 1e-3, "log_every_batches": 2}
    with caplog.at_level(logging.INFO, logger="logifold_kedro.tf_lib"):
        train_classifier(tiny_model(), train, val, recipe, seed=0)
    epoch_lines = [r.message for r in caplog.records if "epoch" in r.message and "ETA" in r.message]
    assert sum("batch" not in line for line in epoch_lines) == 2
    assert sum("batch 2/3" in line for line in epoch_lines) == 2
    assert any("val_accuracy=" in line for line in epoch_lines)


def test_same_seed_same_run_other_seed_other_run(blobs):
    train, val = blobs
    recipe = {
        "epochs": 2,
        "batch_size": 16,
        "learning_rate": 1e-3,
        "augment": {"width_shift": 0.1, "height_shift": 0.1, "horizontal_flip": True},
    }
    runs = []
    for seed in (3, 3, 4):
        model, history = train_classifier(tiny_model(seed=0), train, val, recipe, seed=seed)
        runs.append((model.get_weights(), history["loss"]))
    (weights_a, loss_a), (weights_b, loss_b), (_, loss_c) = runs
    np.testing.assert_allclose(loss_a, loss_b, rtol=1e-6)
    for a, b in zip(weights_a, weights_b, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert not np.allclose(loss_a, loss_c, rtol=1e-6)


def test_predictions_equal_keras_predict_and_trace_once_for_every_batch_size(blobs):
    from logifold_kedro.tf_lib.forward import compiled_forward

    _, val = blobs
    model = tiny_model()
    by_batch_size = [predict_probabilities(model, val["x"], size) for size in (7, 16, 45, 256)]
    assert compiled_forward(model).experimental_get_tracing_count() == 1
    expected = model.predict(val["x"], batch_size=16, verbose=0)
    for probs in by_batch_size:
        np.testing.assert_allclose(probs, expected, rtol=1e-5, atol=1e-7)


def test_predict_probabilities_shapes_and_errors(blobs):
    _, val = blobs
    model = tiny_model()
    probs = predict_probabilities(model, val["x"], batch_size=7)
    assert probs.dtype == np.float32 and probs.shape == (45, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert predict_probabilities(model, val["x"][:0], 8).shape == (0, 3)
    with pytest.raises(ValueError, match="shape \\(N, H, W, C\\)"):
        predict_probabilities(model, val["x"][0], 8)


# ---- one traced train step per architecture ---------------------------------------------------


@pytest.fixture
def counted_train_step_traces(monkeypatch):
    """How often Keras' train_step ran in Python: once per trace (compiled steps skip Python)."""
    from keras.src.backend.tensorflow.trainer import TensorFlowTrainer

    traces = []
    original = TensorFlowTrainer.train_step

    def counting(self, data):
        traces.append(self.name)
        return original(self, data)

    monkeypatch.setattr(TensorFlowTrainer, "train_step", counting)
    clear_trainers()
    yield traces
    clear_trainers()


def test_models_of_one_architecture_share_one_traced_step_with_a_fresh_run_s_result(
    blobs, counted_train_step_traces, caplog
):
    train, val = blobs
    recipe = {"epochs": 2, "batch_size": 16, "learning_rate": 1e-3}
    first, first_history = train_classifier(tiny_model(seed=5), train, val, recipe, seed=1)
    assert len(counted_train_step_traces) == 1
    other_start = tiny_model(seed=6)  # same architecture, other weights, other data size
    with caplog.at_level(logging.INFO, logger="logifold_kedro.tf_lib"):
        other, _ = train_classifier(other_start, colour_blobs(40, 7), val, recipe, seed=2)
    assert len(counted_train_step_traces) == 1  # not traced again
    assert any("reusing the train step" in record.message for record in caplog.records)
    # The shared trainer starts each fit from the model's weights and a fresh optimizer: the
    # same fit again gives the first run's numbers exactly, and `first` kept its own weights.
    again, again_history = train_classifier(tiny_model(seed=5), train, val, recipe, seed=1)
    assert len(counted_train_step_traces) == 1
    assert again_history["loss"] == first_history["loss"]
    assert again_history["val_accuracy"] == first_history["val_accuracy"]
    for a, b in zip(first.get_weights(), again.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not all(
        np.array_equal(a, c) for a, c in zip(first.get_weights(), other.get_weights(), strict=True)
    )
    # A fresh trainer (nothing cached) trains to the same weights too.
    clear_trainers()
    fresh, _ = train_classifier(tiny_model(seed=5), train, val, recipe, seed=1)
    assert len(counted_train_step_traces) == 2
    for a, b in zip(first.get_weights(), fresh.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "change", [{"depth": 14}, {"width": 8}, {"bn_momentum": 0.9}, {"num_classes": 4}]
)
def test_another_architecture_gets_another_trainer_key(change):
    """Trainers are shared by key: a change of the computation must change it, a new seed or
    name (initial weights, Keras' automatic layer names) must not."""
    reference = architecture_key(tiny_model(seed=0))
    assert architecture_key(build_model({**TINY_SPEC, "num_classes": 3, **change}, seed=0)) != (
        reference
    )
    renamed = build_model({**TINY_SPEC, "name": "other", "num_classes": 3}, seed=9)
    assert architecture_key(renamed) == reference


def test_trained_model_is_compiled_and_survives_a_file_round_trip(blobs, tmp_path):
    train, val = blobs
    recipe = {"epochs": 1, "batch_size": 16, "learning_rate": 1e-3}
    model, _ = train_classifier(tiny_model(), train, val, recipe, seed=0)
    loss, accuracy_value = model.evaluate(val["x"], val["y"], verbose=0)
    assert np.isfinite(loss) and 0.0 <= accuracy_value <= 1.0
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    np.testing.assert_array_equal(
        predict_probabilities(loaded, val["x"]), predict_probabilities(model, val["x"])
    )


def test_fused_adam_takes_keras_adam_s_steps():
    """Same formula, one fused op per variable: the same weights from the same gradients.

    (Two whole training runs drift apart instead: a weight whose gradient is near zero gets
    Adam's full step in the direction of the rounding noise.)
    """
    rng = np.random.default_rng(0)
    start = rng.normal(size=(3, 4)).astype(np.float32)
    gradients = [rng.normal(scale=0.1, size=(3, 4)).astype(np.float32) for _ in range(5)]
    results = []
    for optimizer_class in (keras.optimizers.Adam, FusedAdam):
        weight = keras.Variable(start)
        optimizer = optimizer_class(learning_rate=0.01)
        for gradient in gradients:
            optimizer.apply_gradients([(gradient, weight)])
        assert int(optimizer.iterations.numpy()) == 5
        results.append(keras.ops.convert_to_numpy(weight))
    np.testing.assert_allclose(results[1], results[0], rtol=1e-6, atol=1e-6)  # float32 rounding
    assert not np.allclose(results[1], start, atol=0.02)  # five steps of about lr each moved it
