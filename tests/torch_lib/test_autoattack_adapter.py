from __future__ import annotations

import sys
import time
import types

import numpy as np
import pytest
import torch

from logifold_kedro.data.perturbations import perturbation_norms, perturbation_summary
from logifold_kedro.torch_lib.autoattack_adapter import (
    accuracy,
    autoattack_class,
    project_to_ball,
    run_autoattack,
)
from logifold_kedro.torch_lib.images import predict_logits
from logifold_kedro.torch_lib.robustbench_compat import ensure_autoattack_module

from .conftest import make_image_set

EPS = 0.5


def boundary_images(model, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Images near the model's decision boundary, labelled with its own predictions.

    Image i is the blend (1 - w) a_i + w b_i of an image of class i and one of class i + 1, at
    the largest w on a 1/40 grid before the prediction changes. Every image is attacked (its
    label is the prediction) and every attack of AutoAttack fools it quickly, which keeps the
    runs short and makes each attack's own output reach the result.
    """
    images = make_image_set(count + 1, seed)["x"]
    first, second = images[:count], images[1:]
    weights = np.linspace(0.0, 1.0, 41, dtype=np.float32)[None, :, None, None, None]
    blends = (1 - weights) * first[:, None] + weights * second[:, None]
    predictions = predict_logits(model, blends.reshape(-1, 32, 32, 3)).argmax(1)
    predictions = predictions.reshape(count, -1)
    chosen = []
    for index in range(count):
        changed = np.nonzero(predictions[index] != predictions[index, 0])[0]
        chosen.append(blends[index, changed[0] - 1 if len(changed) else 20])
    x = np.stack(chosen).astype(np.float32)
    return x, predict_logits(model, x).argmax(1).astype(np.int64)


@pytest.fixture(scope="module")
def attack_images(trained_tiny):
    return boundary_images(trained_tiny, 8, seed=7)


def check_adversarial(x, x_adv, eps):
    assert x_adv.dtype == np.float32 and x_adv.shape == x.shape
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    assert perturbation_norms(x, x_adv, "L2").max() <= eps + 1e-4


def test_pyautoattack_apgd_ce_bound_range_and_repeatability(trained_tiny, attack_images):
    x, y = attack_images
    settings = dict(norm="L2", eps=EPS, version="custom", attacks=["apgd-ce"], batch_size=8)
    x_adv = run_autoattack(trained_tiny, x, y, seed=0, **settings)
    check_adversarial(x, x_adv, EPS)
    stats = perturbation_summary(x, x_adv)
    assert stats["n_perturbed"] >= len(y) // 2  # the attack did something
    assert accuracy(trained_tiny, x_adv, y) <= 0.5
    # unperturbed images are exactly the clean ones
    unchanged = perturbation_norms(x, x_adv) == 0
    np.testing.assert_array_equal(x_adv[unchanged], x[unchanged])
    again = run_autoattack(trained_tiny, x, y, seed=0, **settings)
    np.testing.assert_array_equal(again, x_adv)
    # the model comes back as it was: eval mode, parameters trainable
    assert not trained_tiny.training
    assert all(parameter.requires_grad for parameter in trained_tiny.parameters())


def test_pyautoattack_standard_version_on_four_images(trained_tiny, attack_images):
    x, y = attack_images[0][:4], attack_images[1][:4]
    started = time.perf_counter()
    x_adv = run_autoattack(trained_tiny, x, y, norm="L2", eps=EPS, version="standard", seed=1)
    assert time.perf_counter() - started < 60
    check_adversarial(x, x_adv, EPS)
    assert accuracy(trained_tiny, x_adv, y) < 1.0


@pytest.mark.parametrize("attack", ["apgd-t", "fab-t", "square"])
def test_each_later_attack_of_the_standard_version_keeps_the_bound(
    trained_tiny, attack_images, attack
):
    # In the standard version these run only on images APGD-CE did not fool; here each runs
    # alone, so its own adversarial images are what comes back.
    x, y = attack_images[0][:4], attack_images[1][:4]
    x_adv = run_autoattack(
        trained_tiny, x, y, norm="L2", eps=EPS, version="custom", attacks=[attack], seed=2
    )
    check_adversarial(x, x_adv, EPS)
    assert perturbation_summary(x, x_adv)["n_perturbed"] >= 1


class OldApiAutoAttack:
    """The GitHub package's API (fra31/auto-attack), recording how it is called.

    Its 'attack' moves each image by exactly eps * (1 + 1e-6) in L2 along channel 0 only, so
    the adapter must project it back and keep channels 1 and 2 untouched.
    """

    calls: list[dict] = []

    def __init__(
        self,
        model,
        norm="Linf",
        eps=0.3,
        seed=None,
        verbose=True,
        attacks_to_run=(),
        version="standard",
        is_tf_model=False,
        device="cuda",
        log_path=None,
    ):
        self.model, self.eps = model, eps
        self.init = {
            "norm": norm,
            "eps": eps,
            "seed": seed,
            "verbose": verbose,
            "attacks_to_run": attacks_to_run,
            "version": version,
            "device": device,
        }

    def run_standard_evaluation(self, x_orig, y_orig, bs=250, return_labels=False, state_path=None):
        OldApiAutoAttack.calls.append(
            {**self.init, "bs": bs, "x_shape": tuple(x_orig.shape), "y_dtype": y_orig.dtype,
             "training": self.model.training,
             "grads": any(p.requires_grad for p in self.model.parameters())}
        )  # fmt: skip
        delta = torch.zeros_like(x_orig)
        delta[:, 0] = 1.0
        delta *= self.eps * (1 + 1e-6) / delta[0].norm()
        return x_orig + delta


@pytest.fixture
def old_api_module(monkeypatch):
    OldApiAutoAttack.calls = []
    module = types.ModuleType("autoattack")
    module.AutoAttack = OldApiAutoAttack
    monkeypatch.setitem(sys.modules, "autoattack", module)
    return module


def test_old_github_api_is_called_its_way(old_api_module, trained_tiny):
    assert autoattack_class() == (OldApiAutoAttack, "autoattack")
    x = make_image_set(10, seed=3)["x"]
    y = np.arange(10, dtype=np.int64)
    x_adv = run_autoattack(
        trained_tiny, x, y, norm="L2", eps=0.3, version="custom", attacks=["apgd-ce", "square"],
        seed=5, batch_size=4, chunk_size=8,
    )  # fmt: skip
    calls = OldApiAutoAttack.calls
    assert [call["x_shape"] for call in calls] == [(8, 3, 32, 32), (2, 3, 32, 32)]
    first = calls[0]
    assert first["norm"] == "L2" and first["eps"] == 0.3 and first["seed"] == 5
    assert first["version"] == "custom" and first["attacks_to_run"] == ["apgd-ce", "square"]
    assert first["verbose"] is False and first["device"] == "cpu" and first["bs"] == 4
    assert first["y_dtype"] == torch.int64
    assert first["training"] is False and first["grads"] is False
    # NCHW channel 0 came back as NHWC channel 0; the overshoot was projected away
    check_adversarial(x, x_adv, 0.3)
    moved = np.abs(x_adv - x).reshape(-1, 3).max(axis=0)
    assert moved[0] > 0 and moved[1] == 0 and moved[2] == 0
    assert perturbation_norms(x, x_adv).max() <= 0.3


def test_old_api_standard_version_sends_no_attack_list(old_api_module, trained_tiny):
    x = make_image_set(2, seed=3)["x"]
    run_autoattack(trained_tiny, x, np.zeros(2, np.int64), version="standard", batch_size=2)
    assert OldApiAutoAttack.calls[0]["attacks_to_run"] == ()  # not passed: upstream default
    assert OldApiAutoAttack.calls[0]["version"] == "standard"


def test_alias_of_pyautoattack_is_not_taken_for_the_github_package():
    ensure_autoattack_module()
    attack_class, package = autoattack_class()
    assert package == "pyautoattack"
    assert attack_class.__module__ == "pyautoattack.autoattack"


def test_an_overshoot_beyond_rounding_is_refused():
    x = np.full((2, 4, 4, 3), 0.5, np.float32)
    far = x.copy()
    far[0, 0, 0, 0] += 0.51
    with pytest.raises(RuntimeError, match="more than float rounding"):
        project_to_ball(x, far, "L2", 0.5)


def test_projection_for_each_norm():
    rng = np.random.default_rng(0)
    x = rng.random((20, 8, 8, 3)).astype(np.float32)
    direction = rng.standard_normal(x.shape)
    for norm, order in (("L2", 2), ("L1", 1), ("Linf", np.inf)):
        unit = direction / np.linalg.norm(direction.reshape(20, -1), ord=order, axis=1).reshape(
            -1, 1, 1, 1
        )
        x_adv = (x + unit * 0.5 * (1 + 1e-5)).astype(np.float32)
        projected, summary = project_to_ball(x, x_adv, norm, 0.5)
        assert perturbation_norms(x, projected, norm).max() <= 0.5
        assert projected.min() >= 0 and projected.max() <= 1
        assert summary["projected"] > 0 and summary["out_of_range_before_clip"] > 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"version": "custom"}, "needs a list of attacks"),
        ({"version": "custom", "attacks": ["pgd"]}, "unknown attacks"),
        ({"version": "standard", "attacks": ["apgd-ce"]}, "only used with version='custom'"),
        ({"norm": "L3"}, "norm must be"),
        ({"eps": 0.0}, "eps must be"),
    ],
)
def test_bad_settings_are_rejected(trained_tiny, kwargs, message):
    x = make_image_set(2, seed=0)["x"]
    with pytest.raises(ValueError, match=message):
        run_autoattack(trained_tiny, x, np.zeros(2, np.int64), **kwargs)


def test_nchw_input_is_rejected(trained_tiny):
    x = make_image_set(2, seed=0)["x"].transpose(0, 3, 1, 2)
    with pytest.raises(ValueError, match="NHWC"):
        run_autoattack(trained_tiny, np.ascontiguousarray(x), np.zeros(2, np.int64))


def test_the_nodes_statistics_name_is_the_projects_summary():
    # pipelines/torch_attacks imports l2_perturbation_stats from the adapter.
    from logifold_kedro.torch_lib import autoattack_adapter

    assert autoattack_adapter.l2_perturbation_stats is perturbation_summary


def test_accuracy_matches_the_predictions(trained_tiny):
    x = make_image_set(20, seed=9)["x"]
    predictions = predict_logits(trained_tiny, x).argmax(1)
    assert accuracy(trained_tiny, x, predictions, batch_size=7) == 1.0
    assert accuracy(trained_tiny, x, (predictions + 1) % 10) == 0.0
