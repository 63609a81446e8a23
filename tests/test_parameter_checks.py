"""parameter_checks: every shipped configuration passes; each bad value is named with its key,
its value and what is allowed."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest
from kedro.config import OmegaConfigLoader

from logifold_kedro.parameter_checks import (
    ParameterError,
    check_parameters,
    check_run_folder,
    check_seed,
)

REPO = Path(__file__).resolve().parents[1]


def parameters(tmp_path: Path, env: str) -> dict:
    conf = tmp_path / "conf"
    shutil.copytree(REPO / "conf" / "base", conf / "base")
    source = REPO / "tests" / "conf_tiny" if env == "tiny" else REPO / "conf" / env
    if source.exists():
        shutil.copytree(source, conf / env)
    return OmegaConfigLoader(str(conf), base_env="base", default_run_env=env)["parameters"]


@pytest.mark.parametrize("env", ["local", "paper", "tiny"])
def test_every_shipped_configuration_passes(tmp_path, env):
    check_parameters(parameters(tmp_path, env))


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("seed",), "abc", "- seed = 'abc': Input should be a valid integer"),
        (("seed",), True, "- seed = True: a number, not true/false"),
        (("experiment1", "entropy_threshold"), float("inf"), "Input should be a finite number"),
        (("u2", "policy"), "bogus", "allowed: one of 'error', 'skip'"),
        (("u2", "val_fraction"), 1.0, "- u2.val_fraction = 1.0: Input should be less than 1"),
        (("sp_split", "seed"), -1, "allowed: an integer >= 0 and <= 4294967295"),
        (("apgd", "weak", "norm"), "inf", "- apgd.weak.norm = 'inf'"),
        (("apgd", "weak", "nb_random_init"), 0, "allowed: an integer >= 1"),
        (("apgd", "strong", "eps_step"), "x", "allowed: a finite number > 0"),
        (("threshold", "start"), 0.01, "the scan descends: start (0.01) must be >= stop"),
        (("u0_models", "resnet_v2_d20", "depth"), 12, "ResNet v2 depth must be 9n + 2"),
        (("training_recipe", "lr_schedule"), [[6, 0.1], [2, 0.01]], "strictly increasing"),
        (("autoattack", "version"), "custom", "version 'custom' needs a list of attacks"),
        (("adaptive_attacks", "environments"), ["clean"], "adaptive_attacks.environments.0"),
        (("frameworks", "torch", "device"), "gpu", "text matching"),
    ],
)
def test_a_bad_value_is_named_with_its_key_value_and_rule(tmp_path, path, value, expected):
    params = copy.deepcopy(parameters(tmp_path, "local"))
    target = params
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ParameterError) as error:
        check_parameters(params)
    assert expected in str(error.value), str(error.value)
    assert "nothing was run" in str(error.value)


def test_unknown_keys_pass_through_for_stages_that_add_parameters():
    check_parameters({"seed": 3, "u2": {"policy": "skip", "new_option": 1}, "new_group": {}})


def test_the_run_folder_seed_is_checked_where_the_catalog_forms_it():
    check_run_folder(["data/08_reporting/demo/seed7/report.md", "data/01_raw/x.tar.gz"], 7)
    with pytest.raises(ParameterError, match="run folder would be seedabc/"):
        check_run_folder(["data/02_intermediate/demo/seedabc/clean_train.npz"], "abc")
    with pytest.raises(ParameterError, match="params:seed is 7 but the run folder is seed42"):
        check_run_folder(["data/02_intermediate/demo/seed42/clean_train.npz"], 7)
    with pytest.raises(ParameterError, match="0..4294967295"):
        check_seed(2**32)
    assert check_seed(0) == 0
