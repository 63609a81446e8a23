"""Tests for logifold_kedro.tf_lib.soft_imm: the TF committee entropy, the soft IMM against the hard
routing, and the confident-core attack on small conv nets trained on separable synthetic images."""

from __future__ import annotations

import os

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from logifold_kedro.logifold.entropy import committee_entropy, mean_probabilities  # noqa: E402
from logifold_kedro.logifold.routing import imm_route, soft_route  # noqa: E402
from logifold_kedro.tf_lib.apgd import apgd_attack  # noqa: E402
from logifold_kedro.tf_lib.fused_classifier import FusedCommitteeClassifier  # noqa: E402
from logifold_kedro.tf_lib.soft_imm import (  # noqa: E402
    ConfidentCoreLoss,
    build_confident_core_target,
    build_soft_imm,
    committee_entropy_tf,
    confident_core_attack,
)
from tests.tf_lib.test_apgd import separable_images, trained_member  # noqa: E402

SETTING = {"eps": 1.5, "eps_step": 0.5, "max_iter": 20, "nb_random_init": 1, "batch_size": 64}


def random_member_probs(rng, n_members: int, n_samples: int, n_classes: int) -> np.ndarray:
    """(K, N, C) probabilities from confident to flat, some entries exactly 0."""
    concentration = rng.choice([0.05, 0.5, 5.0], size=(n_members, n_samples, 1))
    probs = rng.dirichlet(np.ones(n_classes), size=(n_members, n_samples)) ** (1 / concentration)
    probs[rng.random(probs.shape) < 0.05] = 0.0
    probs[..., 0] += 1e-3  # no all-zero row
    return probs / probs.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize(("n_members", "n_classes"), [(1, 10), (5, 10), (12, 3)])
def test_tf_entropy_matches_numpy(n_members, n_classes):
    rng = np.random.default_rng(n_members * 100 + n_classes)
    probs = random_member_probs(rng, n_members, 200, n_classes)
    expected = committee_entropy(probs)
    assert expected.max() - expected.min() > 0.5  # a spread of entropies: a non-trivial check
    if n_members > 1:
        assert expected.max() > 1.0  # disagreeing confident members: the committee-only regime
    as_float64 = committee_entropy_tf(tf.constant(probs.transpose(1, 0, 2))).numpy()
    np.testing.assert_allclose(as_float64, expected, rtol=1e-10, atol=1e-12)
    as_float32 = committee_entropy_tf(tf.constant(probs.transpose(1, 0, 2), tf.float32)).numpy()
    np.testing.assert_allclose(as_float32, expected, rtol=1e-5, atol=1e-5)


def linear_member(name: str, seed: int, scale: float) -> keras.Model:
    """An untrained softmax-linear model with large enough logits for varied entropies."""
    inputs = keras.Input((32, 32, 3))
    hidden = keras.layers.Flatten()(inputs)
    init = keras.initializers.RandomNormal(stddev=scale, seed=seed)
    outputs = keras.layers.Dense(10, activation="softmax", kernel_initializer=init)(hidden)
    return keras.Model(inputs, outputs, name=name)


@pytest.fixture(scope="module")
def generations() -> tuple[list[keras.Model], list[keras.Model], np.ndarray]:
    u1 = [linear_member(f"u1_{k}", k, 0.05) for k in range(3)]
    u2 = [linear_member(f"u2_{k}", 10 + k, 0.05) for k in range(2)]
    images = np.random.default_rng(0).random((200, 32, 32, 3)).astype(np.float32)
    return u1, u2, images


def member_probs(members: list[keras.Model], images: np.ndarray) -> np.ndarray:
    return np.stack([m.predict(images, verbose=0) for m in members]).astype(np.float64)


def test_soft_imm_equals_hard_imm_far_from_the_threshold(generations):
    u1, u2, images = generations
    u1_probs, u2_probs = member_probs(u1, images), member_probs(u2, images)
    h1 = committee_entropy(u1_probs)
    t, tau = float(np.median(h1)), 1e-4
    soft = build_soft_imm(u1, u2, t, tau, name="soft_far").predict(images, verbose=0)
    hard, core = imm_route(mean_probabilities(u1_probs), mean_probabilities(u2_probs), h1, t)
    far = np.abs(h1 - t) > 30 * tau  # gate within e^-30 of 0 or 1
    assert far.sum() > 150 and 0 < core[far].sum() < far.sum()  # both branches are checked
    np.testing.assert_allclose(soft[far], hard[far], atol=1e-5)
    # Near the threshold the gate mixes the generations, so the check above is not vacuous:
    mixed = build_soft_imm(u1, u2, t, 1.0, name="soft_mixed").predict(images, verbose=0)
    assert np.abs(mixed[far] - hard[far]).max() > 1e-2


def test_soft_imm_matches_numpy_soft_route_and_has_finite_gradients(generations):
    u1, u2, images = generations
    u1_probs, u2_probs = member_probs(u1, images), member_probs(u2, images)
    h1 = committee_entropy(u1_probs)
    t, tau = float(np.median(h1)), 0.05
    model = build_soft_imm(u1, u2, t, tau, name="soft_mid")
    expected, gate = soft_route(
        mean_probabilities(u1_probs), mean_probabilities(u2_probs), h1, t, tau
    )
    assert ((gate > 0.05) & (gate < 0.95)).sum() > 10  # many images on the slope of the gate
    np.testing.assert_allclose(model.predict(images, verbose=0), expected, atol=1e-5)

    x = tf.constant(images[:32])
    labels = tf.one_hot(np.argmax(expected[:32], axis=1), 10)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = keras.losses.categorical_crossentropy(labels, model(x, training=False))
    gradient = tape.gradient(loss, x).numpy()
    assert np.all(np.isfinite(gradient)) and np.abs(gradient).max() > 0


def test_confident_core_target_outputs_mean_and_entropy(generations):
    u1, _, images = generations
    outputs = build_confident_core_target(u1, name="cc_outputs").predict(images, verbose=0)
    u1_probs = member_probs(u1, images)
    np.testing.assert_allclose(outputs[:, :10], mean_probabilities(u1_probs), atol=1e-6)
    np.testing.assert_allclose(outputs[:, 10], committee_entropy(u1_probs), atol=1e-5)
    loss = ConfidentCoreLoss(entropy_weight=2.0)
    labels = tf.one_hot(np.argmax(outputs[:, :10], axis=1), 10)
    expected = -np.log(outputs[:, :10].max(axis=1)) - 2.0 * outputs[:, 10]
    np.testing.assert_allclose(loss(labels, tf.constant(outputs)).numpy(), expected, rtol=1e-4)
    with pytest.raises(ValueError, match="entropy weight"):
        ConfidentCoreLoss(entropy_weight=-1.0)


def test_custom_loss_classifier_predicts_only_the_class_columns(generations):
    u1, _, images = generations
    target = build_confident_core_target(u1, name="cc_classifier")
    classifier = FusedCommitteeClassifier(target, nb_classes=10, loss=ConfidentCoreLoss(1.0))
    probs = classifier.predict(images[:8])
    assert probs.shape == (8, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="custom loss"):
        FusedCommitteeClassifier(target, nb_classes=10)


# --- the confident-core attack on trained members ---------------------------------------------
@pytest.fixture(scope="module")
def trained_u1() -> tuple[list[keras.Model], np.ndarray, np.ndarray]:
    images, labels = separable_images(64, seed=0)
    members = [trained_member(f"cc_member_{k}", k, images, labels) for k in range(3)]
    return members, images, labels


def routing_accuracy(h1: np.ndarray, u1_correct: np.ndarray, t: float) -> float:
    """What the gate gets right: images sent out of U1's core, or kept in it and correct."""
    return float(np.mean((h1 > t) | u1_correct))


def test_confident_core_attack_lowers_entropy_and_routing_accuracy(trained_u1):
    members, images, labels = trained_u1
    clean = member_probs(members, images)
    clean_h1 = committee_entropy(clean)
    assert np.mean(mean_probabilities(clean).argmax(axis=1) == labels) > 0.9
    t = float(np.quantile(clean_h1, 0.9))  # 90% of the clean images in U1's core

    plain = apgd_attack(
        build_confident_core_target(members, name="cc_plain"),
        images,
        SETTING,
        seed=1,
        loss=ConfidentCoreLoss(0.0),
    )
    adaptive = confident_core_attack(members, images, 5.0, SETTING, seed=1, name="cc_adaptive")
    results = {}
    for name, x in (("clean", images), ("plain", plain), ("adaptive", adaptive)):
        probs = member_probs(members, x)
        h1 = committee_entropy(probs)
        correct = mean_probabilities(probs).argmax(axis=1) == labels
        results[name] = (h1, correct, routing_accuracy(h1, correct, t))
    adaptive_h1, adaptive_correct, adaptive_routing = results["adaptive"]
    plain_h1, plain_correct, plain_routing = results["plain"]
    assert (~adaptive_correct).sum() >= 10 and (~plain_correct).sum() >= 10  # both attacks bite
    # The wrong answers it causes are more confident (lower H1) than those of the plain attack ...
    assert adaptive_h1[~adaptive_correct].mean() < plain_h1[~plain_correct].mean()
    # ... so more of them stay in U1's core, where the hard IMM trusts U1 and answers wrongly.
    assert adaptive_routing < plain_routing
    assert adaptive_routing < results["clean"][2] - 0.1
