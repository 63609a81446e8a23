"""Progress of the TensorFlow jobs: training, prediction and APGD report an ETA in log lines
(``LOGIFOLD_PROGRESS=log``) and draw tqdm bars instead of per-batch lines (``=bar``)."""

from __future__ import annotations

import logging
import re

import keras
import numpy as np
import pytest

from logifold_kedro.progress import PROGRESS_ENV
from logifold_kedro.tf_lib.apgd import apgd_attack
from logifold_kedro.tf_lib.training import predict_probabilities, train_classifier
from tests.tf_lib.test_training import colour_blobs, tiny_model

RECIPE = {"epochs": 2, "batch_size": 24, "learning_rate": 1e-3, "log_every_batches": 1}
APGD = {"eps": 0.3, "eps_step": 0.1, "max_iter": 1, "nb_random_init": 1, "batch_size": 2}
ETA = re.compile(r"ETA (\d+s|\d+m\d\ds|\d+h\d\dm)")


@pytest.fixture(scope="module")
def data():
    return colour_blobs(48, seed=1), colour_blobs(20, seed=2)


@pytest.fixture(scope="module")
def small_net() -> keras.Model:
    inputs = keras.Input((32, 32, 3))
    hidden = keras.layers.Conv2D(2, 3, strides=4, activation="relu")(inputs)
    hidden = keras.layers.Flatten()(hidden)
    outputs = keras.layers.Dense(10, activation="softmax")(hidden)
    return keras.Model(inputs, outputs, name="small_net")


def messages(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records]


def test_log_mode_reports_each_job_with_an_eta(monkeypatch, caplog, capsys, data, small_net):
    monkeypatch.setenv(PROGRESS_ENV, "log")
    train, val = data
    with caplog.at_level(logging.INFO, logger="logifold_kedro.tf_lib"):
        train_classifier(tiny_model(), train, val, RECIPE, seed=0)
        predict_probabilities(small_net, val["x"], batch_size=4)
        apgd_attack(small_net, val["x"][:6], APGD, seed=0)
    lines = messages(caplog)
    batch_lines = [line for line in lines if re.search(r"epoch \d/2 batch \d/2 ", line)]
    epoch_lines = [line for line in lines if re.search(r"epoch \d/2 loss=", line)]
    predict_lines = [line for line in lines if "small_net predict: predicted batch" in line]
    apgd_lines = [line for line in lines if line.startswith("APGD on small_net: batch ")]
    assert len(batch_lines) == 4 and len(epoch_lines) == 2
    assert predict_lines[-1].startswith("small_net predict: predicted batch 5/5")
    assert [line.split(",")[0] for line in apgd_lines] == [
        f"APGD on small_net: batch {k}/3" for k in (1, 2, 3)
    ]
    for line in batch_lines + epoch_lines + predict_lines + apgd_lines:
        assert ETA.search(line), line
    assert "%|" not in capsys.readouterr().err  # no bar drawn


def test_bar_mode_draws_bars_instead_of_per_batch_lines(
    monkeypatch, caplog, capsys, data, small_net
):
    monkeypatch.setenv(PROGRESS_ENV, "bar")
    train, val = data
    with caplog.at_level(logging.INFO, logger="logifold_kedro.tf_lib"):
        train_classifier(tiny_model(), train, val, RECIPE, seed=0)
        predict_probabilities(small_net, val["x"], batch_size=4)
        apgd_attack(small_net, val["x"][:6], APGD, seed=0)
    err = capsys.readouterr().err
    assert "epoch 1/2" in err and "/2 [" in err  # the batches of an epoch
    assert "tiny" in err and "epoch" in err  # the epochs of the run
    assert "small_net predict" in err and "/5" in err
    assert "APGD on small_net" in err and "/6" in err and "image" in err
    lines = messages(caplog)
    assert not [line for line in lines if re.search(r"batch \d/\d", line)]
    assert not [line for line in lines if "predicted batch" in line]
    # The one line per epoch and the end-of-job lines stay in the log.
    assert len([line for line in lines if re.search(r"epoch \d/2 loss=", line)]) == 2
    assert any(line.startswith("APGD on small_net: 6 images in") for line in lines)


def test_bars_do_not_change_the_numbers(monkeypatch, data, small_net):
    train, val = data
    results = {}
    for mode in ("log", "bar"):
        monkeypatch.setenv(PROGRESS_ENV, mode)
        model, history = train_classifier(tiny_model(), train, val, RECIPE, seed=0)
        results[mode] = (
            model.get_weights(),
            history["loss"],
            apgd_attack(small_net, val["x"][:6], APGD, seed=0),
        )
    (weights_log, loss_log, adv_log), (weights_bar, loss_bar, adv_bar) = results.values()
    assert loss_log == loss_bar
    for a, b in zip(weights_log, weights_bar, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(adv_log, adv_bar)
