"""validate_image_set and validate_probabilities: each failure names the set and the fix."""

from __future__ import annotations

import numpy as np
import pytest

from logifold_kedro.data.validation import validate_image_set, validate_probabilities


def good_set(n: int = 4) -> dict:
    rng = np.random.default_rng(0)
    return {
        "x": rng.random((n, 32, 32, 3), dtype=np.float32),
        "y": np.arange(n, dtype=np.int64) % 10,
        "split": "val",
    }


def test_good_image_set_passes():
    validate_image_set(good_set(), "clean_val")
    edges = good_set()
    edges["x"][0] = 0.0
    edges["x"][1] = 1.0
    validate_image_set(edges, "clean_val")


def with_(**changes) -> dict:
    return {**good_set(), **changes}


def _with_value(value: float) -> dict:
    image_set = good_set()
    image_set["x"][2, 5, 5, 1] = value
    return image_set


@pytest.mark.parametrize(
    "image_set, expected",
    [
        ([1, 2], r"is a list; expected a dict"),
        ({"x": good_set()["x"]}, r"lacks \['y'\]"),
        (with_(x=[[0.0]]), r"x is a list; expected a numpy array"),
        (with_(x=good_set()["x"].astype(np.float64)), r"x has dtype float64; expected x float32"),
        (
            with_(x=(good_set()["x"] * 255).astype(np.uint8)),
            r"x has dtype uint8.*to_unit_float",
        ),
        (with_(x=good_set()["x"].transpose(0, 3, 1, 2)), r"shape \(4, 3, 32, 32\).*channels last"),
        (with_(x=good_set()["x"][..., 0]), r"shape \(4, 32, 32\)"),
        (with_(x=np.zeros((0, 32, 32, 3), np.float32), y=np.zeros(0, np.int64)), "is empty"),
        (_with_value(np.nan), r"1 NaN or infinite"),
        (_with_value(np.inf), r"1 NaN or infinite"),
        (_with_value(1.5), r"values lie in \[.*, 1\.5\]; expected"),
        (_with_value(-0.25), r"values lie in \[-0\.25, .*clip"),
        (with_(y=[0, 1, 2, 3]), r"y is a list"),
        (with_(y=np.arange(4, dtype=np.int32)), r"y has dtype int32; expected y int64"),
        (with_(y=np.arange(3, dtype=np.int64)), r"y has shape \(3,\) for 4 images"),
        (with_(y=np.zeros((4, 10), np.int64)), r"y has shape \(4, 10\)"),
        (with_(y=np.array([0, 1, 10, 2], np.int64)), r"labels lie in \[0, 10\].*0\.\.9"),
        (with_(y=np.array([0, -1, 2, 2], np.int64)), r"labels lie in \[-1, 2\]"),
    ],
)
def test_bad_image_sets_raise_naming_the_set(image_set, expected):
    with pytest.raises(ValueError, match=expected) as caught:
        validate_image_set(image_set, "u0_apgd_weak_val")
    assert "'u0_apgd_weak_val'" in str(caught.value)


def test_num_classes_is_respected():
    image_set = with_(y=np.array([0, 1, 2, 3], np.int64))
    validate_image_set(image_set, "s", num_classes=4)
    with pytest.raises(ValueError, match=r"0\.\.2"):
        validate_image_set(image_set, "s", num_classes=3)


def softmax_rows(n: int = 5, c: int = 10, dtype=np.float32) -> np.ndarray:
    logits = np.random.default_rng(1).normal(size=(n, c))
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (exp / exp.sum(axis=1, keepdims=True)).astype(dtype)


def test_good_probabilities_pass():
    validate_probabilities(softmax_rows(), "u0.vgg11_raw@clean_val")
    validate_probabilities(softmax_rows(dtype=np.float64), "p", num_classes=10)
    validate_probabilities(np.eye(10, dtype=np.float32), "one-hot")


@pytest.mark.parametrize(
    "probs, expected",
    [
        ([["0.5", "0.5"]], "numeric array of probabilities, not <U3"),
        (np.ones((2, 2), dtype=np.int64), r"row 0 sums to 2"),
        (softmax_rows()[0], r"shape \(10,\)"),
        (np.zeros((0, 10), np.float32), r"shape \(0, 10\)"),
        (np.ones((5, 1), np.float32), "at least 2 classes"),
        (np.full((2, 2), np.nan, np.float32), "NaN or infinite"),
        (np.array([[1.5, -0.5]], np.float32), r"\[0, 1\], got values in \[-0\.5, 1\.5\]"),
        (np.array([[0.5, 0.6], [0.5, 0.5]], np.float32), r"row 0 sums to 1\.1"),
        (softmax_rows() * 2.0, r"row \d sums to 2"),
    ],
)
def test_bad_probabilities_raise_naming_them(probs, expected):
    with pytest.raises(ValueError, match=expected) as caught:
        validate_probabilities(probs, "u0.vgg11_raw@clean_val")
    assert "'u0.vgg11_raw@clean_val'" in str(caught.value)


def test_probabilities_with_wrong_class_count():
    with pytest.raises(ValueError, match="has 5 columns; expected 10"):
        validate_probabilities(softmax_rows(c=5), "p", num_classes=10)
