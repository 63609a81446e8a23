"""Tests for logifold_kedro.tf_lib.apgd on tiny conv nets trained on separable synthetic images.

Ten classes, each a blocky +-1 pattern on grey plus noise; two small members trained a few
epochs reach high accuracy with small margins, so APGD has predictions to flip.
"""

from __future__ import annotations

import logging
import os

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from benchmarks.pass_counter import with_pass_counter  # noqa: E402
from logifold_kedro.data.perturbations import perturbation_norms
from logifold_kedro.tf_lib.apgd import (  # noqa: E402
    apgd_attack,
    build_apgd,
    check_apgd_setting,
    generate_in_batches,
    project_into_l2_ball,
)
from logifold_kedro.tf_lib.art import TensorFlowV2Classifier  # noqa: E402  (ART's own class)
from logifold_kedro.tf_lib.committee import build_committee  # noqa: E402
from logifold_kedro.tf_lib.fused_classifier import FusedCommitteeClassifier  # noqa: E402

WEAK = {"eps": 0.5, "eps_step": 0.2, "max_iter": 2, "nb_random_init": 4, "batch_size": 64}
STRONG = {"eps": 0.7, "eps_step": 0.2, "max_iter": 10, "nb_random_init": 4, "batch_size": 64}
N_IMAGES = 64


def separable_images(n_images: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(n_images) % 10
    patterns = rng.choice([-1.0, 1.0], size=(10, 4, 4, 3))
    patterns = np.kron(patterns, np.ones((1, 8, 8, 1)))  # 8x8 blocks on 32x32
    noise = 0.1 * rng.standard_normal((n_images, 32, 32, 3))
    images = np.clip(0.5 + 0.1 * patterns[labels] + noise, 0.0, 1.0).astype(np.float32)
    return images, labels.astype(np.int64)


def trained_member(name: str, seed: int, images: np.ndarray, labels: np.ndarray) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((32, 32, 3))
    hidden = keras.layers.Conv2D(4, 3, strides=2, activation="relu")(inputs)
    hidden = keras.layers.MaxPooling2D()(hidden)
    hidden = keras.layers.Flatten()(hidden)
    outputs = keras.layers.Dense(10, activation="softmax")(hidden)
    model = keras.Model(inputs, outputs, name=name)
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    model.fit(images, labels, epochs=8, batch_size=16, verbose=0)
    return model


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    return separable_images(N_IMAGES, seed=0)


@pytest.fixture(scope="module")
def members(data) -> list[keras.Model]:
    images, labels = data
    return [trained_member(f"member_{k}", k, images, labels) for k in range(2)]


@pytest.fixture(scope="module")
def committee(members) -> keras.Model:
    return build_committee(members, name="u_test")


@pytest.fixture(scope="module")
def attacked(committee, data) -> dict[str, np.ndarray]:
    images, _ = data
    return {
        "weak": apgd_attack(committee, images, WEAK, seed=7),
        "strong": apgd_attack(committee, images, STRONG, seed=7),
    }


@pytest.mark.parametrize("name, setting", [("weak", WEAK), ("strong", STRONG)])
def test_adversarial_images_stay_in_l2_ball_and_pixel_range(attacked, data, name, setting):
    images, _ = data
    x_adv = attacked[name]
    assert x_adv.shape == images.shape
    assert x_adv.dtype == np.float32
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    norms = perturbation_norms(images, x_adv)
    assert norms.max() <= setting["eps"] + 1e-4
    assert norms.mean() > 0.5 * setting["eps"], "the attack should move the images"


def test_same_seed_gives_same_arrays(committee, data, attacked):
    images, _ = data
    again = apgd_attack(committee, images, WEAK, seed=7)
    np.testing.assert_array_equal(again, attacked["weak"])
    other_seed = apgd_attack(committee, images, WEAK, seed=8)
    assert not np.array_equal(other_seed, attacked["weak"])


def test_attacks_on_one_model_trace_its_passes_once(committee, data):
    """A run attacks one committee object for several splits and settings: the compiled passes
    (a few seconds of tracing each time at demo scale) are built once and reused."""
    images, _ = data
    first = FusedCommitteeClassifier(committee, nb_classes=10)
    second = FusedCommitteeClassifier(committee, nb_classes=10, batch_size=16, max_iter=10)
    assert second._fused_forward_backward is first._fused_forward_backward
    traces = first._fused_forward_backward.experimental_get_tracing_count()
    apgd_attack(committee, images[:8], WEAK, seed=1)
    apgd_attack(committee, images[:5], STRONG, seed=1)
    assert first._fused_forward_backward.experimental_get_tracing_count() == max(traces, 1)


def test_attacks_lower_accuracy_and_strong_hurts_more(committee, data, attacked):
    images, labels = data
    clean_pred = committee.predict(images, verbose=0).argmax(axis=1)
    summaries = {}
    for name, x_adv in attacked.items():
        adv_pred = committee.predict(x_adv, verbose=0).argmax(axis=1)
        summaries[name] = {
            "adversarial_accuracy": float((adv_pred == labels).mean()),
            # y=None: APGD attacks the committee's own prediction, so success is a changed one.
            "attack_success_rate": float((adv_pred != clean_pred).mean()),
        }
    clean_accuracy = float((clean_pred == labels).mean())
    assert clean_accuracy >= 0.7, "the tiny committee should have learnt the synthetic classes"
    assert summaries["weak"]["adversarial_accuracy"] < clean_accuracy
    assert summaries["strong"]["adversarial_accuracy"] <= summaries["weak"]["adversarial_accuracy"]
    assert summaries["strong"]["attack_success_rate"] >= summaries["weak"]["attack_success_rate"]
    assert summaries["weak"]["attack_success_rate"] > 0


@pytest.mark.parametrize(
    "setting, n_images, use_single_member",
    [(WEAK, N_IMAGES, False), (STRONG, 32, False), (WEAK, 32, True)],
)
def test_fused_classifier_reproduces_art_as_is_with_fewer_passes(
    members, data, setting, n_images, use_single_member
):
    """Same seed, same images: ART's own TensorFlowV2Classifier vs the fused one."""
    images = data[0][:n_images]
    # A single member ends in a Softmax layer: the case where graph-mode Keras losses would
    # silently switch to logits.
    model = members[0] if use_single_member else build_committee(members, name="u_cmp")
    counted, counter = with_pass_counter(model)

    as_is = TensorFlowV2Classifier(
        model=counted, nb_classes=10, input_shape=(32, 32, 3), clip_values=(0.0, 1.0)
    )
    x_as_is = generate_in_batches(build_apgd(as_is, setting), images, seed=3)
    as_is_forward = int(counter.forward_rows.numpy())

    counter.reset()
    fused = FusedCommitteeClassifier(counted, nb_classes=10, batch_size=setting["batch_size"])
    x_fused = generate_in_batches(build_apgd(fused, setting), images, seed=3)

    np.testing.assert_allclose(x_fused, x_as_is, atol=1e-5)
    # The fused classifier's own counters agree with the passes the model saw.
    assert fused.forward_rows == int(counter.forward_rows.numpy())
    assert fused.backward_rows == int(counter.backward_rows.numpy())
    # Per restart and image at most max_iter gradients and one more forward; plus the label
    # pass and ART's one-image probe.
    gradient_bound = setting["max_iter"] * setting["nb_random_init"] * n_images
    assert fused.backward_rows <= gradient_bound
    assert fused.forward_rows <= gradient_bound + (setting["nb_random_init"] + 1) * n_images + 1
    assert fused.forward_rows < 0.6 * as_is_forward


def test_fused_classifier_answers_like_art_classifier(committee, data):
    images, _ = data
    x = images[:20]
    labels = np.eye(10, dtype=np.float32)[np.arange(20) % 10]
    # The estimator ART's APGD builds for cross-entropy: the reference for the numbers.
    reference = build_apgd(
        TensorFlowV2Classifier(
            model=committee, nb_classes=10, input_shape=(32, 32, 3), clip_values=(0.0, 1.0)
        ),
        WEAK,
    ).estimator
    fused = FusedCommitteeClassifier(committee, nb_classes=10, batch_size=8, max_iter=2)
    np.testing.assert_allclose(
        fused.compute_loss(x, labels), reference.compute_loss(x, labels), rtol=1e-5, atol=1e-6
    )
    assert (fused.forward_rows, fused.backward_rows) == (20, 20)
    # Gradients and probabilities of these points come from that one fused pass.
    gradient = fused.loss_gradient(x, labels)
    np.testing.assert_allclose(fused.predict(x), reference.predict(x), atol=1e-6)
    assert (fused.forward_rows, fused.cached_rows) == (20, 40)
    np.testing.assert_allclose(gradient, reference.loss_gradient(x, labels), rtol=1e-4, atol=1e-8)
    # (ART's own 'mean' reduction fails with APGD's loss object, so compare with 'none'.)
    np.testing.assert_allclose(
        fused.compute_loss(x, labels, reduction="mean"),
        reference.compute_loss(x, labels).mean(),
        rtol=1e-5,
    )
    # New points: predict needs a forward pass only, and compute_loss then reuses it.
    shifted = np.clip(x + 0.01, 0.0, 1.0)
    np.testing.assert_allclose(fused.predict(shifted), reference.predict(shifted), atol=1e-6)
    fused.compute_loss(shifted, labels)
    assert (fused.forward_rows, fused.backward_rows) == (40, 20)
    # After max_iter gradient calls (APGD's last iteration), new points get a forward only;
    # a later gradient request on them is still answered, with the right numbers.
    for _ in range(2):  # iterations 0 and 1 of max_iter 2 (the predict above began a restart)
        fused.loss_gradient(x, labels)
    last_points = np.clip(x - 0.01, 0.0, 1.0)
    np.testing.assert_allclose(
        fused.compute_loss(last_points, labels),
        reference.compute_loss(last_points, labels),
        rtol=1e-5,
        atol=1e-6,
    )
    assert (fused.forward_rows, fused.backward_rows) == (60, 20)
    np.testing.assert_allclose(
        fused.loss_gradient(last_points, labels),
        reference.loss_gradient(last_points, labels),
        rtol=1e-4,
        atol=1e-8,
    )
    assert (fused.forward_rows, fused.backward_rows) == (80, 40)
    # Labels as class indices give the same answer.
    np.testing.assert_allclose(fused.loss_gradient(x, np.arange(20) % 10), gradient)


def test_project_into_l2_ball_pulls_back_outliers_and_logs(caplog):
    rng = np.random.default_rng(1)
    x = rng.random((4, 8, 8, 3)).astype(np.float32)
    delta = rng.standard_normal(x.shape).astype(np.float32)
    delta /= np.sqrt((delta.reshape(4, -1) ** 2).sum(axis=1)).reshape(4, 1, 1, 1)
    x_adv = np.clip(x + delta * np.array([0.3, 0.5, 0.6, 2.0]).reshape(4, 1, 1, 1), 0, 1)
    norms_before = perturbation_norms(x, x_adv)
    with caplog.at_level(logging.WARNING, logger="logifold_kedro.tf_lib.apgd"):
        projected = project_into_l2_ball(x, x_adv, eps=0.5)
    norms = perturbation_norms(x, projected)
    assert norms.max() <= 0.5 + 1e-6
    np.testing.assert_array_equal(projected[:2], x_adv[:2].astype(np.float32))
    assert (norms_before[2:] > 0.5).all() and (norms[2:] > 0.49).all()
    assert projected.min() >= 0 and projected.max() <= 1
    assert "2 of 4 images outside the L2 ball" in caplog.text


def test_invalid_settings_and_inputs_are_rejected(committee, data):
    images, _ = data
    # The setting is held to parameter_checks.ApgdSetting; each problem names key and value.
    with pytest.raises(ValueError, match="eps_step = '\\(missing\\)': Field required"):
        check_apgd_setting({"eps": 0.5})
    with pytest.raises(ValueError, match="norm = 'inf': Input should be 2"):
        check_apgd_setting({**WEAK, "norm": "inf"})
    with pytest.raises(
        ValueError, match=r"eps = -1: .*greater than 0 \(allowed: a finite number > 0\)"
    ):
        check_apgd_setting({**WEAK, "eps": -1})
    with pytest.raises(ValueError, match="max_iter = 2.5: Input should be a valid integer"):
        check_apgd_setting({**WEAK, "max_iter": 2.5})
    with pytest.raises(ValueError, match="steps = 3: Extra inputs are not permitted"):
        check_apgd_setting({**WEAK, "steps": 3})
    checked = check_apgd_setting({**WEAK, "eps": 1, "norm": 2})
    assert checked == {**WEAK, "eps": 1.0} and isinstance(checked["eps"], float)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        apgd_attack(committee, images * 255.0, WEAK, seed=0)
    with pytest.raises(ValueError, match="shape"):
        apgd_attack(committee, images[:, :16], WEAK, seed=0)
    with pytest.raises(ValueError, match="classes"):
        apgd_attack(committee, images, WEAK, seed=0, num_classes=5)
