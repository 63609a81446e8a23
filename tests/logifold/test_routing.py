"""Tests of IMM routing and total entropy."""

import numpy as np
import pytest

from logifold_kedro.logifold import imm_route, total_entropy


def _routing_fixture():
    """4 samples, 3 classes, t = 0.5. U1 is right exactly on its core (samples 0, 2, 3) and
    U2' exactly off it (sample 1), so IMM is right everywhere and neither alone is."""
    labels = np.array([0, 1, 2, 0])
    u1_entropy = np.array([0.1, 0.9, 0.5, 0.3])  # sample 2 sits on the threshold: core
    u1_probs = np.array(
        [
            [0.8, 0.1, 0.1],  # right
            [0.6, 0.2, 0.2],  # wrong (label 1)
            [0.1, 0.1, 0.8],  # right
            [0.7, 0.2, 0.1],  # right
        ]
    )
    u2_probs = np.array(
        [
            [0.1, 0.8, 0.1],  # wrong
            [0.1, 0.8, 0.1],  # right
            [0.8, 0.1, 0.1],  # wrong
            [0.2, 0.7, 0.1],  # wrong
        ]
    )
    return labels, u1_entropy, u1_probs, u2_probs


def test_u1_decides_the_core_and_u2_the_rest():
    labels, u1_entropy, u1_probs, u2_probs = _routing_fixture()
    routed, core = imm_route(u1_probs, u2_probs, u1_entropy, 0.5)
    np.testing.assert_array_equal(core, [True, False, True, True])
    np.testing.assert_array_equal(routed[core], u1_probs[core])
    np.testing.assert_array_equal(routed[~core], u2_probs[~core])
    imm_accuracy = np.mean(routed.argmax(axis=1) == labels)
    assert imm_accuracy == 1.0
    assert np.mean(u1_probs.argmax(axis=1) == labels) == 0.75
    assert np.mean(u2_probs.argmax(axis=1) == labels) == 0.25


def test_routing_predictions_works_like_routing_probabilities():
    labels, u1_entropy, u1_probs, u2_probs = _routing_fixture()
    routed_predictions, core = imm_route(
        u1_probs.argmax(axis=1), u2_probs.argmax(axis=1), u1_entropy, 0.5
    )
    np.testing.assert_array_equal(routed_predictions, labels)
    assert core.sum() == 3


def test_threshold_extremes_give_one_generation_only():
    _, u1_entropy, u1_probs, u2_probs = _routing_fixture()
    all_u1, _ = imm_route(u1_probs, u2_probs, u1_entropy, 1.0)
    all_u2, _ = imm_route(u1_probs, u2_probs, u1_entropy, 0.0)
    np.testing.assert_array_equal(all_u1, u1_probs)
    np.testing.assert_array_equal(all_u2, u2_probs)


def test_total_entropy_on_a_fixture():
    u1_entropy = np.array([0.1, 0.9, 0.5, 0.3])
    u2_entropy = np.array([0.7, 0.2, 0.05, 0.6])
    totals = total_entropy(u1_entropy, u2_entropy, 0.5)
    # U1 alone: 0.1 + 0.9 + 0.5 + 0.3 = 1.8
    # IMM: U1's core (0, 2, 3) keeps 0.1 + 0.5 + 0.3 = 0.9; sample 1 takes U2''s 0.2 -> 1.1
    assert totals["u1_total"] == pytest.approx(1.8)
    assert totals["imm_core_part"] == pytest.approx(0.9)
    assert totals["imm_out_of_core_part"] == pytest.approx(0.2)
    assert totals["imm_total"] == pytest.approx(1.1)
    assert totals["core_size"] == 3 and totals["n"] == 4


def test_routing_and_total_entropy_validate_their_inputs():
    _, u1_entropy, u1_probs, u2_probs = _routing_fixture()
    with pytest.raises(ValueError, match="same shape"):
        imm_route(u1_probs, u2_probs[:, :2], u1_entropy, 0.5)
    with pytest.raises(ValueError, match="N = len"):
        imm_route(u1_probs, u2_probs, u1_entropy[:3], 0.5)
    with pytest.raises(ValueError, match="NaN"):
        imm_route(u1_probs, np.where(u2_probs > 0.5, np.nan, u2_probs), u1_entropy, 0.5)
    with pytest.raises(ValueError, match="u1_entropy"):
        imm_route(u1_probs, u2_probs, np.array([0.1, np.nan, 0.2, 0.3]), 0.5)
    with pytest.raises(ValueError, match="same samples"):
        total_entropy(u1_entropy, u1_entropy[:2], 0.5)
    with pytest.raises(ValueError, match="finite"):
        total_entropy(u1_entropy, u1_entropy, float("inf"))
