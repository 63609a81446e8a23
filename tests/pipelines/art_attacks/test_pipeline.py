"""The APGD stage as a user runs it, on tiny data."""

from __future__ import annotations

import numpy as np

from logifold_kedro.pipelines.naming import probs_entry
from tests.pipelines.conftest import TINY_WIRING as TINY
from tests.pipelines.conftest import load


def test_apgd_sets_respect_the_threat_model(art_attacked):
    for split in ("train", "val", "test"):
        clean = load(art_attacked, f"clean_{split}")
        for setting, eps in (("weak", 0.5), ("strong", 0.7)):
            adversarial = load(art_attacked, f"u0_apgd_{setting}_{split}")
            assert adversarial["x"].shape == clean["x"].shape
            assert adversarial["x"].dtype == np.float32
            np.testing.assert_array_equal(adversarial["y"], clean["y"])
            delta = (adversarial["x"] - clean["x"]).reshape(len(clean["y"]), -1)
            assert np.sqrt((delta**2).sum(axis=1)).max() <= eps + 1e-4
            assert 0 <= adversarial["x"].min() and adversarial["x"].max() <= 1
            assert adversarial["setting"]["eps"] == eps and adversarial["target"] == "u0"


def test_summary_table_and_white_box_single_model_sets(art_attacked):
    table = load(art_attacked, "art_attacks_metrics")
    assert len(table) == 3 * 2 + len(TINY.u0_members) * 2
    assert (table["l2_max"] <= table["eps"] + 1e-4).all()
    name = TINY.u0_members[0]
    probs = load(art_attacked, probs_entry(name, f"{name}_apgd_strong_test"))["probs"]
    assert probs.shape == (40, 10)
