"""Tests of mean probabilities, ensemble prediction, single-model and committee entropy."""

import tracemalloc

import numpy as np
import pytest

from logifold_kedro.logifold import (
    committee_entropy,
    ensemble_predict,
    mean_probabilities,
    single_entropy,
)
from logifold_kedro.logifold.entropy import check_probabilities


def _dirichlet_members(rng, n_members, n_samples, n_classes, alpha):
    return rng.dirichlet(np.full(n_classes, alpha), size=(n_members, n_samples))


def test_hand_computed_committee_entropy_base_4():
    # C = 4, so log base 4: log4(1/2) = -1/2, log4(1/4) = -1, log4(1/8) = -3/2.
    p1 = np.array([[1 / 2, 1 / 4, 1 / 8, 1 / 8]])
    p2 = np.array([[1 / 4, 1 / 2, 1 / 8, 1 / 8]])
    # pbar = (3/8, 3/8, 1/8, 1/8)
    # mean_l log4 P_l = ((-1/2 - 1)/2, (-1 - 1/2)/2, -3/2, -3/2) = (-3/4, -3/4, -3/2, -3/2)
    # H = 3/8 * 3/4 + 3/8 * 3/4 + 1/8 * 3/2 + 1/8 * 3/2 = 9/16 + 6/16 = 15/16
    assert committee_entropy([p1, p2]) == pytest.approx([15 / 16], abs=1e-9)
    # H(p1) = 1/2 * 1/2 + 1/4 * 1 + 2 * (1/8 * 3/2) = 1/4 + 1/4 + 3/8 = 7/8 (same for p2)
    assert single_entropy(p1) == pytest.approx([7 / 8], abs=1e-9)
    assert single_entropy(p2) == pytest.approx([7 / 8], abs=1e-9)
    np.testing.assert_allclose(mean_probabilities([p1, p2]), [[3 / 8, 3 / 8, 1 / 8, 1 / 8]])


def test_hand_computed_confident_member_with_uniform_member_base_10():
    # C = 10. Member 1 is one-hot on class 0, member 2 is uniform (0.1 each).
    confident = np.zeros((1, 10))
    confident[0, 0] = 1.0
    uniform = np.full((1, 10), 0.1)
    # pbar = (0.55, 0.05, ..., 0.05)
    # mean_l log10(P_l,c + 1e-12): class 0 -> (0 + (-1)) / 2 = -0.5;
    #                              others  -> (log10(1e-12) + (-1)) / 2 = (-12 - 1) / 2 = -6.5
    # H = 0.55 * 0.5 + 9 * 0.05 * 6.5 = 0.275 + 2.925 = 3.2
    assert committee_entropy([confident, uniform]) == pytest.approx([3.2], abs=1e-9)


def test_confident_disagreeing_members_exceed_one():
    # Two one-hot members on different classes, C = 10: pbar = (0.5, 0.5, 0, ...);
    # mean log10 on classes 0 and 1 = (0 + (-12)) / 2 = -6, so H = 0.5 * 6 + 0.5 * 6 = 6.
    p1 = np.eye(10)[[0]]
    p2 = np.eye(10)[[1]]
    entropy = committee_entropy([p1, p2])
    assert entropy[0] > 1.0
    assert entropy == pytest.approx([6.0], abs=1e-9)


def test_confident_agreeing_members_give_about_zero():
    members = np.stack([np.eye(10)[[3, 7, 0]]] * 5)  # 5 members, 3 samples, all one-hot agreeing
    assert np.all(np.abs(committee_entropy(members)) < 1e-9)
    assert np.all(np.abs(single_entropy(members[0])) < 1e-9)


def test_uniform_members_give_one():
    members = np.full((4, 6, 10), 0.1)
    np.testing.assert_allclose(committee_entropy(members), 1.0, atol=1e-9)
    np.testing.assert_allclose(single_entropy(members[0]), 1.0, atol=1e-9)


def test_one_member_equals_single_model_entropy():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.full(10, 0.5), size=200)
    np.testing.assert_allclose(committee_entropy([probs]), single_entropy(probs), rtol=1e-12)


def test_identical_members_equal_entropy_of_mean():
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.full(10, 0.3), size=100)
    np.testing.assert_allclose(
        committee_entropy([probs, probs, probs]), single_entropy(probs), rtol=1e-12
    )


@pytest.mark.parametrize("n_members", [2, 4, 12, 16])
@pytest.mark.parametrize("alpha", [0.05, 0.5, 5.0])
def test_committee_entropy_is_at_least_entropy_of_mean(n_members, alpha):
    rng = np.random.default_rng(n_members * 100 + int(alpha * 10))
    members = _dirichlet_members(rng, n_members, 500, 10, alpha)
    committee = committee_entropy(members)
    of_mean = single_entropy(mean_probabilities(members))
    assert np.all(committee >= of_mean - 1e-12)
    # disagreeing random members make the gap strictly positive somewhere
    assert np.max(committee - of_mean) > 1e-3


def test_committee_entropy_is_the_mean_pairwise_cross_entropy():
    rng = np.random.default_rng(2)
    members = _dirichlet_members(rng, 3, 20, 5, 1.0)
    eps = 1e-12
    pairwise = np.zeros(20)
    for k in range(3):
        for ell in range(3):
            pairwise += -np.sum(members[k] * np.log(members[ell] + eps) / np.log(5), axis=1)
    np.testing.assert_allclose(committee_entropy(members), pairwise / 9, rtol=1e-12)


def test_array_and_list_inputs_agree_and_float32_is_accepted():
    rng = np.random.default_rng(3)
    members = _dirichlet_members(rng, 4, 30, 10, 1.0)
    from_array = committee_entropy(members)
    from_list = committee_entropy(list(members.astype(np.float32)))
    np.testing.assert_allclose(from_array, from_list, atol=1e-5)
    assert from_array.dtype == np.float64 and from_array.shape == (30,)


def test_committee_entropy_does_not_materialise_member_pairs():
    # N = 50,000, K = 16, C = 10 in float64: the inputs are 64 MB; a (K, N, C) log copy would
    # add 64 MB and a (K, K, N, C) array 1 GB. Accumulating over members needs a few (N, C).
    rng = np.random.default_rng(4)
    members = [rng.dirichlet(np.ones(10), size=50_000) for _ in range(16)]
    tracemalloc.start()
    entropy = committee_entropy(members)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert entropy.shape == (50_000,)
    one_member_bytes = 50_000 * 10 * 8
    assert peak < 8 * one_member_bytes  # well below 16 members' worth


def test_ensemble_predict_is_argmax_of_mean_with_lowest_index_on_ties():
    p1 = np.array([[0.6, 0.4, 0.0], [0.2, 0.3, 0.5], [0.5, 0.5, 0.0]])
    p2 = np.array([[0.1, 0.9, 0.0], [0.2, 0.3, 0.5], [0.5, 0.5, 0.0]])
    # means: (0.35, 0.65, 0) -> 1; (0.2, 0.3, 0.5) -> 2; (0.5, 0.5, 0) tie -> 0
    predictions = ensemble_predict([p1, p2])
    np.testing.assert_array_equal(predictions, [1, 2, 0])
    assert predictions.dtype == np.int64


def test_single_entropy_of_one_vector_is_a_float_and_num_classes_sets_the_base():
    value = single_entropy(np.array([0.5, 0.5]))
    assert isinstance(value, float)
    assert value == pytest.approx(1.0, abs=1e-9)
    # the same two-class vector in base 10: log10(2) = 0.30103
    assert single_entropy(np.array([0.5, 0.5]), num_classes=10) == pytest.approx(
        np.log10(2), abs=1e-9
    )


@pytest.mark.parametrize(
    ("probs", "message"),
    [
        (np.full((3, 4, 5, 2), 0.5), "shape"),
        (np.array([[0.5, np.nan]]), "NaN"),
        (np.array([[1.5, -0.5]]), r"\[0, 1\]"),
        (np.array([[0.2, 0.2]]), "sum to 1"),
        (np.array([[2.0, 1.0, -3.0]]), "logits"),
        (np.zeros((0, 10)), "empty"),
        (np.ones((5, 1)), "at least 2 classes"),
        (np.array([["a", "b"]]), "numeric"),
    ],
)
def test_invalid_probabilities_raise_clear_errors(probs, message):
    with pytest.raises(ValueError, match=message):
        single_entropy(probs)


def test_invalid_committee_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="at least one member"):
        committee_entropy([])
    with pytest.raises(ValueError, match="same shape"):
        committee_entropy([np.full((3, 10), 0.1), np.full((4, 10), 0.1)])
    with pytest.raises(ValueError, match=r"\(K, N, C\)"):
        committee_entropy(np.full((3, 10), 0.1))
    with pytest.raises(ValueError, match=r"member_probs\[1\]"):
        mean_probabilities([np.full((3, 10), 0.1), np.full((3, 10), 0.2)])
    with pytest.raises(ValueError, match="eps"):
        committee_entropy([np.full((3, 10), 0.1)], eps=-1.0)
    with pytest.raises(ValueError, match="num_classes"):
        single_entropy(np.full((3, 10), 0.1), num_classes=1)


def test_check_probabilities_checks_the_class_count_and_names_the_worst_row():
    rows = np.array([[0.5, 0.5, 0.0], [0.4, 0.4, 0.3]])
    with pytest.raises(ValueError, match="has 3 columns; expected 10"):
        check_probabilities(rows, num_classes=10)
    with pytest.raises(ValueError, match=r"row 1 sums to 1\.1 \(tolerance 0\.001\)"):
        check_probabilities(rows, num_classes=3)
    # A looser tolerance accepts the same rows, returned as float64.
    checked = check_probabilities(rows.astype(np.float32), atol=0.2)
    assert checked.dtype == np.float64 and checked.shape == (2, 3)
