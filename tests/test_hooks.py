"""Project hooks: preflight checks of missing inputs, per-framework setup, run log."""

from __future__ import annotations

import pytest

from logifold_kedro.hooks import MissingInputsError, configure_framework, peak_rss_mib
from tests.pipelines.conftest import make_project_copy, run_stage


def test_a_stage_run_before_its_inputs_exist_names_the_stage_to_run_first(tmp_path):
    project = make_project_copy(tmp_path / "project")
    with pytest.raises(MissingInputsError) as error:
        run_stage(project, "art_attacks")
    message = error.value.message
    assert (
        "model__u0__resnet_v1_d20: not produced yet; run `kedro run --pipelines training`"
        in message
    )
    assert "clean_test: not produced yet" in message
    assert not (project / "data" / "07_model_output").exists(), "nothing ran"


def test_a_missing_raw_archive_says_where_to_put_and_get_it(tmp_path):
    project = make_project_copy(tmp_path / "project")
    (project / "data" / "01_raw" / "cifar10_demo.tar.gz").unlink()
    with pytest.raises(MissingInputsError) as error:
        run_stage(project, "training")
    assert "cifar10_raw" in error.value.message
    assert "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz" in error.value.message


def test_unknown_framework_is_refused():
    with pytest.raises(ValueError, match="unknown framework"):
        configure_framework("jax", {"seed": 1})


def test_peak_memory_is_positive():
    assert peak_rss_mib() > 10
