from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch
from torch import nn

from logifold_kedro.torch_lib.checkpoints import save_for_robustbench
from logifold_kedro.torch_lib.images import predict_logits, to_nchw_tensor, to_nhwc_array
from logifold_kedro.torch_lib.robustbench_compat import build_zoo_model
from logifold_kedro.torch_lib.surrogate import augment_batch, train_surrogate

from .conftest import make_image_set


def parameters_of(model: nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.clone() for key, value in model.state_dict().items()}


def test_zero_epochs_passes_the_model_through_unchanged(wrn_name, train_set, val_set):
    model = build_zoo_model(wrn_name)
    before = parameters_of(model)
    returned, history = train_surrogate(model, train_set, val_set, {"epochs": 0}, seed=0)
    assert returned is model
    assert all(torch.equal(before[k], v) for k, v in returned.state_dict().items())
    assert history["epochs_run"] == 0 and history["loss"] == []
    json.dumps(history)


def test_pretrained_surrogate_with_zero_epochs_ignores_the_learning_rate(
    wrn_name, train_set, val_set
):
    # conf/paper: the pretrained `Standard` model is not trained, so its recipe says lr 0.0.
    model = build_zoo_model(wrn_name)
    before = parameters_of(model)
    recipe = {"epochs": 0, "batch_size": 128, "learning_rate": 0.0, "momentum": 0.9}
    returned, history = train_surrogate(model, train_set, val_set, recipe, seed=0)
    assert returned is model
    assert all(torch.equal(before[k], v) for k, v in returned.state_dict().items())
    assert history["epochs_run"] == 0 and history["recipe"]["learning_rate"] == 0.0
    # Training still needs a positive rate.
    for rate, message in (
        (0.0, "learning_rate must be > 0 when epochs > 0"),
        (-0.1, "surrogate.learning_rate = -0.1: .*allowed: a finite number >= 0"),
    ):
        with pytest.raises(ValueError, match=message):
            train_surrogate(model, train_set, val_set, {"epochs": 1, "learning_rate": rate}, 0)
    with pytest.raises(ValueError, match=r"surrogate.epochs = -1: .*allowed: an integer >= 0"):
        train_surrogate(model, train_set, val_set, {"epochs": -1, "learning_rate": 0.0}, 0)


def test_training_learns_and_history_is_json_ready(tiny_name, train_set, val_set):
    torch.manual_seed(0)
    model = build_zoo_model(tiny_name)
    recipe = {
        "epochs": 6,
        "batch_size": 20,
        "optimizer": "adam",
        "learning_rate": 0.01,
        "lr_schedule": [[4, 0.005]],
        "log_every_batches": 4,
    }
    model, history = train_surrogate(model, train_set, val_set, recipe, seed=0)
    assert history["epochs_run"] == 6
    assert history["learning_rate"] == [0.01] * 5 + [0.005]
    assert history["loss"][-1] < history["loss"][0]
    assert history["best_val_accuracy"] == max(history["val_accuracy"]) > 0.4  # chance: 0.1
    assert history["train_size"] == 200 and history["val_size"] == 50
    json.loads(json.dumps(history))
    # the best epoch's weights are the ones returned
    logits = predict_logits(model, val_set["x"])
    assert (logits.argmax(1) == val_set["y"]).mean() == pytest.approx(history["best_val_accuracy"])
    assert not model.training


def test_same_seed_same_weights_other_seed_other_weights(wrn_name, train_set, val_set):
    recipe = {
        "epochs": 1,
        "batch_size": 50,
        "learning_rate": 0.05,
        "augment": {"width_shift": 0.1, "height_shift": 0.1, "horizontal_flip": True},
    }
    small_train = {key: value[:100] for key, value in train_set.items()}
    small_val = {key: value[:20] for key, value in val_set.items()}
    results = []
    for seed in (1, 1, 2):
        torch.manual_seed(0)
        model = build_zoo_model(wrn_name)
        model, _ = train_surrogate(model, small_train, small_val, recipe, seed=seed)
        results.append(parameters_of(model))
    assert all(torch.equal(results[0][k], results[1][k]) for k in results[0])
    assert not all(torch.equal(results[0][k], results[2][k]) for k in results[0])


def test_augment_batch_flips_and_shifts_with_edge_fill():
    generator = torch.Generator().manual_seed(0)
    images = torch.arange(120, dtype=torch.float32).reshape(2, 3, 4, 5).repeat(32, 1, 1, 1)
    flipped = augment_batch(
        images, {"width_shift": 0.0, "height_shift": 0.0, "horizontal_flip": True}, generator
    )
    is_flip = [torch.equal(out, img.flip(2)) for out, img in zip(flipped, images, strict=True)]
    is_same = [torch.equal(out, img) for out, img in zip(flipped, images, strict=True)]
    assert all(a or b for a, b in zip(is_flip, is_same, strict=True))
    assert 0 < sum(is_flip) < len(images)

    shifted = augment_batch(
        images, {"width_shift": 0.4, "height_shift": 0.0, "horizontal_flip": False}, generator
    )
    seen_shifts = set()
    for out, img in zip(shifted, images, strict=True):
        columns = {dx: (torch.arange(5) - dx).clamp(0, 4) for dx in range(-2, 3)}
        matches = [dx for dx, cols in columns.items() if torch.equal(out, img[:, :, cols])]
        assert matches, "output is not a column shift of its input"
        seen_shifts.add(matches[0])
    assert len(seen_shifts) > 1


def test_nhwc_nchw_round_trip():
    images = make_image_set(4, seed=2)["x"]
    tensor = to_nchw_tensor(images)
    assert tuple(tensor.shape) == (4, 3, 32, 32)
    assert torch.equal(tensor[1, 2], torch.from_numpy(images[1, :, :, 2]))
    np.testing.assert_array_equal(to_nhwc_array(tensor), images)


@pytest.mark.parametrize(
    ("x", "y", "message"),
    [
        (np.zeros((2, 3, 32, 32), np.float32), np.zeros(2, np.int64), "NHWC"),
        (np.zeros((2, 32, 32, 3), np.uint8), np.zeros(2, np.int64), "float32"),
        (np.full((2, 32, 32, 3), 255.0, np.float32), np.zeros(2, np.int64), r"\[0, 1\]"),
        (np.zeros((2, 32, 32, 3), np.float32), np.zeros(3, np.int64), "shape"),
        (np.zeros((2, 32, 32, 3), np.float32), np.zeros(2, np.float32), "int64"),
    ],
)
def test_bad_training_images_are_rejected(tiny_name, val_set, x, y, message):
    model = build_zoo_model(tiny_name)
    with pytest.raises(ValueError, match=f"Image set 'train'.*{message}"):
        train_surrogate(model, {"x": x, "y": y}, val_set, {"epochs": 1}, 0)


def test_recipe_errors_and_unknown_keys(tiny_name, train_set, val_set, caplog):
    model = build_zoo_model(tiny_name)
    with pytest.raises(ValueError, match="optimizer"):
        train_surrogate(model, train_set, val_set, {"epochs": 1, "optimizer": "rmsprop"}, 0)
    with pytest.raises(ValueError, match="lr_schedule"):
        train_surrogate(model, train_set, val_set, {"epochs": 1, "lr_schedule": [[2], [1]]}, 0)
    with caplog.at_level(logging.WARNING):
        train_surrogate(model, train_set, val_set, {"epochs": 0, "learning_rte": 0.1}, 0)
    assert "learning_rte" in caplog.text


def test_save_unwraps_data_parallel_and_refuses_keys_robustbench_would_rewrite(tmp_path, wrn_name):
    model = build_zoo_model(wrn_name)
    path = save_for_robustbench(nn.DataParallel(model), tmp_path, wrn_name)
    keys = set(torch.load(path, map_location="cpu")["state_dict"])
    assert keys == set(model.state_dict())

    class Wrapper(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = nn.Linear(2, 2)

    with pytest.raises(ValueError, match="would rewrite"):
        save_for_robustbench(Wrapper(), tmp_path, "Test-Wrapper")
    assert not (tmp_path / "cifar10" / "L2" / "Test-Wrapper.pt").exists()
