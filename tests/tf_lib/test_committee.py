"""Tests for logifold_kedro.tf_lib.committee (tiny conv nets, random weights)."""

from __future__ import annotations

import os

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from logifold_kedro.tf_lib.committee import (  # noqa: E402
    PROBABILITY_FLOOR,
    build_committee,
    committee_member_probabilities,
)

INPUT_SHAPE = (32, 32, 3)


def tiny_member(name: str, seed: int, logit_scale: float = 1.0) -> keras.Model:
    """A small softmax conv net; a large ``logit_scale`` makes some probabilities exactly 0."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(INPUT_SHAPE)
    hidden = keras.layers.Conv2D(4, 3, strides=2, activation="relu")(inputs)
    hidden = keras.layers.GlobalAveragePooling2D()(hidden)
    logits = keras.layers.Dense(10)(hidden)
    scaled = keras.layers.Rescaling(logit_scale)(logits)
    outputs = keras.layers.Softmax()(scaled)
    return keras.Model(inputs, outputs, name=name)


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(0).random((10, *INPUT_SHAPE), dtype=np.float32)


@pytest.fixture(scope="module")
def members() -> list[keras.Model]:
    return [tiny_member(f"member_{k}", seed=k) for k in range(3)]


def test_committee_output_is_clipped_mean_of_member_softmax(members, images):
    committee = build_committee(members, name="u_test")
    expected = np.mean([member.predict(images, verbose=0) for member in members], axis=0)
    got = committee.predict(images, verbose=0)
    assert committee.name == "u_test"
    np.testing.assert_allclose(got, np.clip(expected, PROBABILITY_FLOOR, 1.0), atol=1e-6)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)


def test_committee_clips_classes_every_member_rules_out(images):
    # Huge logits: softmax underflows to exactly 0 for most classes in both members.
    first = tiny_member("sharp_a", seed=1, logit_scale=1e4)
    second = tiny_member("sharp_b", seed=1, logit_scale=1e4)
    raw_mean = (first.predict(images, verbose=0) + second.predict(images, verbose=0)) / 2
    assert (raw_mean == 0).any(), "the test needs probabilities that underflow to 0"
    got = build_committee([first, second], name="sharp").predict(images, verbose=0)
    assert got.min() == pytest.approx(PROBABILITY_FLOOR, rel=1e-6)
    np.testing.assert_allclose(got, np.clip(raw_mean, PROBABILITY_FLOOR, 1.0), atol=1e-7)


def test_committee_shares_member_weights(images):
    members = [tiny_member(f"shared_{k}", seed=10 + k) for k in range(2)]
    committee = build_committee(members, name="shared")
    assert committee.get_layer("shared_0") is members[0]
    before = committee.predict(images, verbose=0)
    dense = members[0].layers[-3]
    kernel, bias = dense.get_weights()
    dense.set_weights([kernel * 3.0, bias + 1.0])
    after = committee.predict(images, verbose=0)
    assert not np.allclose(before, after)
    expected = np.mean([member.predict(images, verbose=0) for member in members], axis=0)
    np.testing.assert_allclose(after, np.clip(expected, PROBABILITY_FLOOR, 1.0), atol=1e-6)


def test_single_member_committee_is_the_clipped_member(members, images):
    committee = build_committee(members[:1], name="solo")
    np.testing.assert_allclose(
        committee.predict(images, verbose=0),
        np.clip(members[0].predict(images, verbose=0), PROBABILITY_FLOOR, 1.0),
        atol=1e-7,
    )


def test_committee_saves_and_loads(members, images, tmp_path):
    committee = build_committee(members, name="saved")
    path = tmp_path / "saved.keras"
    committee.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(
        loaded.predict(images, verbose=0), committee.predict(images, verbose=0), atol=1e-7
    )


def test_build_committee_rejects_bad_members(members):
    with pytest.raises(ValueError, match="at least one member"):
        build_committee([], name="empty")
    with pytest.raises(ValueError, match="unique"):
        build_committee([members[0], tiny_member("member_0", seed=5)], name="dup")
    other_inputs = keras.Input((16, 16, 3))
    other = keras.Model(
        other_inputs,
        keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(other_inputs)),
        name="small_images",
    )
    with pytest.raises(ValueError, match="input shape"):
        build_committee([members[0], other], name="mixed")


def test_member_probabilities_match_each_member(members, images):
    # batch_size 4 does not divide 10 images: the last batch is short.
    probs = committee_member_probabilities(members, images, batch_size=4)
    assert probs.shape == (3, 10, 10)
    assert probs.dtype == np.float32
    for k, member in enumerate(members):
        np.testing.assert_allclose(probs[k], member.predict(images, verbose=0), atol=1e-6)


def test_member_probabilities_rejects_wrong_inputs(members, images):
    with pytest.raises(ValueError, match="shape"):
        committee_member_probabilities(members, images[:, :16], batch_size=4)
    with pytest.raises(ValueError, match="batch_size"):
        committee_member_probabilities(members, images, batch_size=0)
    empty = committee_member_probabilities(members, images[:0], batch_size=4)
    assert empty.shape == (3, 0, 10)


def test_the_same_members_and_name_give_the_same_committee_object(members, images):
    committee = build_committee(members, name="u_again")
    assert build_committee(list(members), name="u_again") is committee
    assert build_committee(members, name="u_other") is not committee
    others = [tiny_member(f"member_{k}", seed=k) for k in range(3)]  # equal weights, new objects
    fresh = build_committee(others, name="u_again")
    assert fresh is not committee
    np.testing.assert_allclose(
        fresh.predict(images, verbose=0), committee.predict(images, verbose=0), atol=1e-6
    )
