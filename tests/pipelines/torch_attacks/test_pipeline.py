"""The torch stage as a user runs it: surrogate, then AutoAttack, on tiny data."""

from __future__ import annotations

import numpy as np

from tests.pipelines.conftest import load


def test_autoattack_transfer_set_is_valid(torch_attacked):
    clean_test = load(torch_attacked, "clean_test")
    adversarial = load(torch_attacked, "autoattack_test")
    n = len(adversarial["y"])
    assert n == 8
    assert adversarial["x"].dtype == np.float32 and adversarial["x"].shape == (n, 32, 32, 3)
    assert adversarial["y"].dtype == np.int64
    np.testing.assert_array_equal(adversarial["y"], clean_test["y"][:n])
    assert adversarial["x"].min() >= 0 and adversarial["x"].max() <= 1
    norms = np.sqrt(((adversarial["x"] - clean_test["x"][:n]) ** 2).reshape(n, -1).sum(axis=1))
    assert norms.max() <= adversarial["setting"]["eps"] + 1e-4
    assert adversarial["setting"]["norm"] == "L2" and adversarial["seed"] == 42


def test_autoattack_report_and_surrogate_layout(torch_attacked):
    report = load(torch_attacked, "autoattack_transfer_report")
    assert 0 <= report["robust_accuracy"] <= report["clean_accuracy"] <= 1
    assert report["l2_max"] <= report["eps"] + 1e-4
    root = torch_attacked / "data" / "06_models" / "tiny" / "seed42" / "robustbench"
    checkpoints = list(root.glob("*/robustbench/cifar10/L2/Tiny-WRN-10-1.pt"))
    assert len(checkpoints) == 1, "the surrogate is saved where robustbench.utils.load_model reads"


def test_resume_state_is_removed_once_the_nodes_complete(torch_attacked):
    # fit_surrogate trains (tiny scale) and AutoAttack attacks, both keeping resume state;
    # a completed node leaves none behind.
    resume = torch_attacked / "data" / "06_models" / "tiny" / "seed42" / "resume"
    assert resume.is_dir()
    assert not (resume / "surrogate").exists() and not (resume / "autoattack").exists()
