from __future__ import annotations

import importlib
import socket
import sys
import types

import pytest
import torch

from logifold_kedro.torch_lib.checkpoints import (
    checkpoint_path,
    load_surrogate,
    save_for_robustbench,
)
from logifold_kedro.torch_lib.robustbench_compat import (
    build_zoo_model,
    ensure_autoattack_module,
    is_autoattack_alias,
    is_official_zoo_model,
    register_from_config,
    register_zoo_model,
)

from .conftest import make_image_set
from .test_init import run_python


def test_robustbench_imports_with_only_pyautoattack_installed():
    result = run_python(
        """
        import importlib.util, sys
        assert importlib.util.find_spec("autoattack") is None, "a real autoattack is installed"
        try:
            import robustbench
        except ModuleNotFoundError as error:
            assert error.name == "autoattack", error
        else:
            raise AssertionError("robustbench imported without any autoattack module")
        for name in [n for n in sys.modules if n.startswith("robustbench")]:
            del sys.modules[name]

        from logifold_kedro.torch_lib.robustbench_compat import ensure_autoattack_module
        assert ensure_autoattack_module() == "pyautoattack"
        import robustbench
        from robustbench.utils import load_model
        import autoattack, autoattack.state, pyautoattack, pyautoattack.state
        assert autoattack is pyautoattack
        assert autoattack.state.EvaluationState is pyautoattack.state.EvaluationState
        # one copy of each module, and pyautoattack's TensorFlow helpers never loaded
        assert not any(n.startswith("autoattack.") and sys.modules[n].__name__ == n
                       for n in sys.modules), "second copy of a pyautoattack module"
        assert "pyautoattack.utils_tf" not in sys.modules and "tensorflow" not in sys.modules
        print("ok")
        """,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")


def test_alias_maps_submodules_to_the_same_objects():
    assert ensure_autoattack_module() == "pyautoattack"
    assert is_autoattack_alias()
    checks = importlib.import_module("autoattack.checks")
    assert checks is importlib.import_module("pyautoattack.checks")
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("autoattack.no_such_module")


def test_a_real_autoattack_package_is_left_alone(monkeypatch):
    real = types.ModuleType("autoattack")
    real.AutoAttack = object
    monkeypatch.setitem(sys.modules, "autoattack", real)
    assert ensure_autoattack_module() == "autoattack"
    assert sys.modules["autoattack"] is real
    assert not is_autoattack_alias()


def test_register_save_and_load_model_round_trip(tmp_path, wrn_name):
    from robustbench.utils import load_model

    torch.manual_seed(3)
    model = build_zoo_model(wrn_name).eval()
    path = save_for_robustbench(model, tmp_path, wrn_name, "cifar10", "L2")
    assert path == tmp_path / "cifar10" / "L2" / f"{wrn_name}.pt"
    assert set(torch.load(path, map_location="cpu")) == {"state_dict"}

    loaded = load_model(wrn_name, model_dir=str(tmp_path), dataset="cifar10", threat_model="L2")
    images = torch.from_numpy(make_image_set(8, seed=5)["x"]).permute(0, 3, 1, 2)
    with torch.no_grad():
        assert torch.equal(model(images), loaded(images))
        assert torch.equal(model(images), load_surrogate(tmp_path, wrn_name)(images))
    assert type(loaded).__name__ == "WideResNet" and not loaded.training


def test_registered_architecture_is_the_requested_one(wrn_name):
    model = build_zoo_model(wrn_name)
    # WRN depth 10 width 1: channels 16/16/32/64, one block per group.
    assert model.fc.in_features == 64
    assert len(model.block1.layer) == 1
    assert not is_official_zoo_model(wrn_name)
    assert is_official_zoo_model("Standard")


def test_official_names_cannot_be_overridden():
    with pytest.raises(ValueError, match="official RobustBench"):
        register_zoo_model("Standard", architecture="WideResNet", depth=10, widen_factor=1)
    from robustbench.model_zoo import model_dicts
    from robustbench.model_zoo.enums import BenchmarkDataset, ThreatModel

    entry = model_dicts[BenchmarkDataset.cifar_10][ThreatModel.L2]["Standard"]
    assert entry["gdrive_id"] == "1t98aEuzeTL8P7Kpd5DIrCoCL21BNZUhC"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"architecture": "NoSuchNet"}, "unknown zoo architecture"),
        ({"architecture": "WideResNet", "depth": 10, "colour": 3}, "does not take"),
        ({"dataset": "mnist"}, "unknown RobustBench dataset"),
        ({"threat_model": "L3"}, "unknown RobustBench threat model"),
    ],
)
def test_register_rejects_bad_specs(arguments, message):
    with pytest.raises(ValueError, match=message):
        register_zoo_model("Test-Bad", **arguments)


def test_register_from_config():
    register_from_config("Test-From-Config", {"name": "WideResNet", "depth": 10, "widen_factor": 2})
    assert build_zoo_model("Test-From-Config").fc.in_features == 128
    register_from_config("Standard", None)  # official: nothing to register
    with pytest.raises(ValueError, match="not a RobustBench"):
        register_from_config("Test-Unregistered", None)
    with pytest.raises(ValueError, match="must be a dict"):
        register_from_config("Test-Bad", {"depth": 10})


def test_missing_checkpoint_raises_before_any_download(tmp_path, monkeypatch, wrn_name):
    import robustbench.utils

    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(robustbench.utils, "download_gdrive_new", refuse)
    for name in ("Standard", wrn_name):
        with pytest.raises(FileNotFoundError) as error:
            load_surrogate(tmp_path / "robustbench", name, "cifar10", "L2")
        message = str(error.value)
        assert str(checkpoint_path(tmp_path / "robustbench", name)) in message
        assert f"fetch_surrogate --model-name {name!r}" in message
        assert "copy the downloaded file" in message
    assert attempts == []
    assert not (tmp_path / "robustbench").exists()
