"""A killed AutoAttack or surrogate training resumes to the same result; progress is reported.

Interruptions are real exceptions raised from inside a run (the attack library's own ``perturb``
or the adapter's ``attack_chunk``, wrapped to fail at a chosen call); the code under test runs
unchanged. Each run is small: TinyNet, eight images near its decision boundary, APGD-CE.
"""

from __future__ import annotations

import logging
import re

import numpy as np
import pytest
import torch
from pyautoattack.autopgd_base import APGDAttack

from logifold_kedro.torch_lib import autoattack_adapter, surrogate
from logifold_kedro.torch_lib.autoattack_adapter import run_autoattack
from logifold_kedro.torch_lib.robustbench_compat import build_zoo_model
from logifold_kedro.torch_lib.surrogate import train_surrogate

from .test_autoattack_adapter import boundary_images

ADAPTER_LOGGER = "logifold_kedro.torch_lib.autoattack_adapter"
# Two chunks of four images, each attacked in two batches of two.
SETTINGS = dict(
    norm="L2", eps=0.5, version="custom", attacks=["apgd-ce"], batch_size=2, chunk_size=4, seed=3
)


class Interrupted(RuntimeError):
    """Stands for the kill (a wall-time limit) in the middle of a run."""


class CallCounter:
    """Counts the calls of a wrapped function and raises Interrupted on call ``fail_at``."""

    def __init__(self, fail_at: int | None) -> None:
        self.calls = 0
        self.fail_at = fail_at

    def restart(self) -> None:
        """The run is started again: count from zero, and let every call through."""
        self.calls, self.fail_at = 0, None


def fail_at_call(monkeypatch, owner, name: str, failing_call: int | None) -> CallCounter:
    """Wrap ``owner.name`` to count its calls and raise Interrupted on call ``failing_call``
    (1-based; None: never)."""
    real = getattr(owner, name)
    counter = CallCounter(failing_call)

    def counted(*args, **kwargs):
        counter.calls += 1
        if counter.calls == counter.fail_at:
            raise Interrupted(f"{name} call {counter.calls}")
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return counter


@pytest.fixture(scope="module")
def images(trained_tiny):
    return boundary_images(trained_tiny, 8, seed=11)


@pytest.fixture(scope="module")
def uninterrupted(trained_tiny, images):
    """The adversarial images of a run that keeps no state (as before resuming existed)."""
    return run_autoattack(trained_tiny, *images, **SETTINGS)


def test_a_run_killed_between_chunks_skips_the_finished_chunk(
    trained_tiny, images, uninterrupted, tmp_path, monkeypatch
):
    state = tmp_path / "autoattack"
    chunks = fail_at_call(monkeypatch, autoattack_adapter, "attack_chunk", failing_call=2)
    with pytest.raises(Interrupted):
        run_autoattack(trained_tiny, *images, state_dir=state, **SETTINGS)
    assert (state / "chunk_00000.npz").is_file() and not (state / "chunk_00001.npz").exists()

    chunks.restart()
    resumed = run_autoattack(trained_tiny, *images, state_dir=state, **SETTINGS)
    assert chunks.calls == 1  # only the second chunk was attacked again
    np.testing.assert_array_equal(resumed, uninterrupted)
    assert (resumed != images[0]).any()  # the attack changed images: the comparison has teeth
    assert not state.exists()  # removed once complete


def test_a_run_killed_inside_a_chunk_reuses_the_attacked_batches(
    trained_tiny, images, uninterrupted, tmp_path, monkeypatch, caplog
):
    state = tmp_path / "autoattack"
    # APGD-CE's second batch (of chunk 1) fails: its first batch is already saved.
    perturbs = fail_at_call(monkeypatch, APGDAttack, "perturb", failing_call=2)
    with pytest.raises(Interrupted):
        run_autoattack(trained_tiny, *images, state_dir=state, **SETTINGS)
    assert sorted(path.name for path in (state / "chunk_00000.batches").glob("*.pt")) == [
        "apgd-ce_00000.pt"
    ]

    perturbs.restart()
    with caplog.at_level(logging.INFO, logger=ADAPTER_LOGGER):
        resumed = run_autoattack(trained_tiny, *images, state_dir=state, **SETTINGS)
    assert perturbs.calls == 3  # of the 4 batches (2 chunks x 2), one came from the saved state
    assert "0 chunk(s) and 1 attack batch(es) of the next one done" in caplog.text
    assert "1 attack batch(es) taken from the saved state, 1 attacked" in caplog.text
    np.testing.assert_array_equal(resumed, uninterrupted)
    assert not state.exists()


def test_state_of_other_settings_is_not_reused(
    trained_tiny, images, uninterrupted, tmp_path, monkeypatch, caplog
):
    state = tmp_path / "autoattack"
    other_seed = {**SETTINGS, "seed": 4}
    fail_at_call(monkeypatch, autoattack_adapter, "attack_chunk", failing_call=2)
    with pytest.raises(Interrupted):
        run_autoattack(trained_tiny, *images, state_dir=state, **other_seed)
    monkeypatch.undo()

    chunks = fail_at_call(monkeypatch, autoattack_adapter, "attack_chunk", failing_call=None)
    with caplog.at_level(logging.INFO):
        result = run_autoattack(trained_tiny, *images, state_dir=state, **SETTINGS)
    assert chunks.calls == 2  # both chunks attacked: the seed-4 chunk was not taken
    assert re.search(r"other inputs or settings \(seed differ\); starting fresh", caplog.text)
    np.testing.assert_array_equal(result, uninterrupted)


def test_progress_log_lines_per_chunk_and_attack(
    trained_tiny, images, tmp_path, monkeypatch, caplog
):
    monkeypatch.setenv("LOGIFOLD_PROGRESS", "log")
    with caplog.at_level(logging.INFO, logger=ADAPTER_LOGGER):
        run_autoattack(trained_tiny, *images, state_dir=tmp_path / "aa", **SETTINGS)
    chunk_lines = [
        record.getMessage()
        for record in caplog.records
        if record.getMessage().startswith("AutoAttack: ")
    ]
    assert len(chunk_lines) == 2
    for done, line in enumerate(chunk_lines, start=1):
        assert re.match(
            rf"AutoAttack: {done}/2 chunk \(\d+%\), \S+ elapsed, ETA \S+, "
            rf"images={4 * done}/8, robust_accuracy=\d+\.\d%$",
            line,
        ), line
    assert "ETA ?" not in chunk_lines[0]  # an estimate after the first chunk
    assert "AutoAttack chunk 1/2: APGD-CE on 4 still-robust images" in caplog.text
    assert "AutoAttack chunk 2/2: APGD-CE on 4 still-robust images" in caplog.text
    assert "AutoAttack chunk 2/2 APGD-CE: " in caplog.text  # per-batch progress with an ETA


def test_progress_bar_on_request(trained_tiny, images, monkeypatch, capsys):
    monkeypatch.setenv("LOGIFOLD_PROGRESS", "bar")
    x, y = images[0][:2], images[1][:2]
    run_autoattack(trained_tiny, x, y, **{**SETTINGS, "chunk_size": 2})
    written = capsys.readouterr().err
    assert re.search(r"AutoAttack: .*1/1", written)  # the chunk bar, drawn by tqdm
    assert "AutoAttack chunk 1/1 APGD-CE" in written  # the attack's own bar


RECIPE = {
    "epochs": 4,
    "batch_size": 40,
    "optimizer": "sgd",
    "learning_rate": 0.05,
    "momentum": 0.9,
    "lr_schedule": [[1, 0.02]],
    "augment": {"width_shift": 0.1, "horizontal_flip": True},
}


def fresh_tiny(tiny_name):
    torch.manual_seed(5)
    return build_zoo_model(tiny_name)


def test_surrogate_training_resumes_from_the_last_finished_epoch(
    tiny_name, train_set, val_set, tmp_path, monkeypatch, caplog
):
    reference, reference_history = train_surrogate(
        fresh_tiny(tiny_name), train_set, val_set, RECIPE, seed=2
    )
    state = tmp_path / "surrogate"
    # The evaluation closing epoch 3 fails: epochs 1 and 2 are saved.
    evaluations = fail_at_call(monkeypatch, surrogate, "_evaluate", failing_call=3)
    with pytest.raises(Interrupted):
        train_surrogate(fresh_tiny(tiny_name), train_set, val_set, RECIPE, seed=2, state_dir=state)
    assert (state / "epoch.pt").is_file()

    evaluations.restart()
    monkeypatch.setenv("LOGIFOLD_PROGRESS", "log")
    with caplog.at_level(logging.INFO, logger="logifold_kedro.torch_lib.surrogate"):
        model, history = train_surrogate(
            fresh_tiny(tiny_name), train_set, val_set, RECIPE, seed=2, state_dir=state
        )
    assert evaluations.calls == 2  # epochs 3 and 4 only
    assert "resuming after epoch 2/4" in caplog.text
    assert re.search(r"surrogate training: 20/20 batch \(100%\), .* ETA \S+", caplog.text)
    for key, value in reference.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value)
    for key in ("loss", "val_accuracy", "learning_rate", "best_epoch", "epochs_run"):
        assert history[key] == pytest.approx(reference_history[key])
    assert not state.exists()
