"""The adaptive stage's evaluation node on hand-made probabilities: each row is the hard-routed
IMM (``U1 if H1 <= t else U2'``) recomputed with the math module, and a U2' skipped by policy
leaves the IMM's numbers undefined. (The tiny chain skips U2', so only here is the routing of an
attacked row checked against an IMM that exists.)"""

from __future__ import annotations

import numpy as np
import pytest

from logifold_kedro.logifold import committee_entropy, imm_route, mean_probabilities, soft_route
from logifold_kedro.pipelines.adaptive_attacks.nodes import evaluate_adaptive_attacks
from logifold_kedro.pipelines.naming import probs_entry

N, C = 30, 10
U0, U1, U2 = ["a", "b"], ["c", "d", "e"], ["f", "g"]
LAYOUT = [
    ("union", "none", "clean", "-", "clean_test"),
    ("union", "non-adaptive", "APGD vs U0", "weak", "u0_apgd_weak_test"),
    ("union", "adaptive", "soft IMM", "weak", "soft_imm_weak_test"),
]
PARAMS = {"environments": ["union"], "settings": ["weak"], "soft_imm": {"temperature": 0.05}}
THRESHOLDS = {"union": {"threshold": 0.6}}


def entries(rng: np.random.Generator, u2_skipped: bool) -> dict:
    labels = rng.integers(0, C, N)
    clean = rng.uniform(0, 1, (N, 4, 4, 3)).astype(np.float32)
    found = {"u2_union_history": {"skipped": u2_skipped}}
    for _, _, _, _, image_set in LAYOUT:
        shift = 0.0 if image_set == "clean_test" else 0.01
        found[image_set] = {"x": clean + shift, "y": labels}
        # Per committee a row per image its members share, nearly one-hot on some images (low
        # H1) and flat on the others, plus each member's own noise; U2' has rows of its own,
        # so routing an image to it changes the answer.
        for committee in (U0, U1, U2):
            alphas = rng.choice([0.05, 5.0], size=N)
            shared = np.vstack([rng.dirichlet(np.full(C, alpha)) for alpha in alphas])
            for model_id in committee:
                probs = 0.85 * shared + 0.15 * rng.dirichlet(np.ones(C), size=N)
                found[probs_entry(model_id, image_set)] = {"probs": probs}
    return found


def evaluate(found: dict):
    return evaluate_adaptive_attacks(
        THRESHOLDS,
        PARAMS,
        LAYOUT,
        U0,
        U1,
        {"union": U2},
        {"union": ["u2_union_history"]},
        **found,
    )


def test_each_row_is_the_hard_routed_imm_on_its_images():
    found = entries(np.random.default_rng(0), u2_skipped=False)
    table = evaluate(found)
    assert list(table["kind"]) == ["none", "non-adaptive", "adaptive"]
    assert table["u2_available"].all()
    t = THRESHOLDS["union"]["threshold"]
    for row in table.itertuples():
        labels = found[row.image_set]["y"]
        u1 = np.stack([found[probs_entry(m, row.image_set)]["probs"] for m in U1])
        u2 = np.stack([found[probs_entry(m, row.image_set)]["probs"] for m in U2])
        h1 = committee_entropy(u1)
        routed, core = imm_route(mean_probabilities(u1), mean_probabilities(u2), h1, t)
        assert 0 < core.sum() < N  # both branches of the routing are exercised
        assert row.imm_accuracy == pytest.approx(np.mean(routed.argmax(axis=1) == labels))
        assert row.u1_core_coverage == pytest.approx(core.mean())
        u1_wrong = mean_probabilities(u1).argmax(axis=1) != labels
        assert row.wrong_in_core == pytest.approx(np.mean(core & u1_wrong))
        soft, _ = soft_route(mean_probabilities(u1), mean_probabilities(u2), h1, t, 0.05)
        assert row.soft_imm_accuracy == pytest.approx(np.mean(soft.argmax(axis=1) == labels))
    assert (table["imm_accuracy"] != table["u1_accuracy"]).any(), "U2' never changed an answer"
    assert table.loc[0, "l2_mean"] == 0.0 and table.loc[2, "l2_mean"] > 0


def test_a_skipped_u2_leaves_the_imm_undefined_and_u1_measured():
    found = entries(np.random.default_rng(1), u2_skipped=True)
    table = evaluate(found)
    assert not table["u2_available"].any()
    assert table[["imm_accuracy", "u2_accuracy", "soft_imm_accuracy"]].isna().all().all()
    u1 = np.stack([found[probs_entry(m, "clean_test")]["probs"] for m in U1])
    core = committee_entropy(u1) <= THRESHOLDS["union"]["threshold"]
    assert table.loc[0, "u1_core_coverage"] == pytest.approx(core.mean())
