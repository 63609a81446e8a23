"""RobustBenchModelDataset (src/logifold_kedro/datasets/robustbench_model.py)."""

from __future__ import annotations

import pytest
import torch
from kedro.io import DataCatalog
from kedro.io.core import DatasetError, Version

from logifold_kedro.datasets.robustbench_model import RobustBenchModelDataset

from .conftest import make_image_set
from .test_init import run_python

ARCHITECTURE = {"name": "WideResNet", "depth": 10, "widen_factor": 1}
NAME = "Test-Dataset-WRN"


def outputs(model: torch.nn.Module) -> torch.Tensor:
    images = torch.from_numpy(make_image_set(6, seed=4)["x"]).permute(0, 3, 1, 2)
    with torch.no_grad():
        return model.eval()(images)


def fresh(seed: int, **kwargs) -> torch.nn.Module:
    dataset = RobustBenchModelDataset(
        "unused", NAME, architecture=ARCHITECTURE, from_scratch=True, seed=seed, **kwargs
    )
    return dataset.load()


def test_importing_the_module_imports_no_framework():
    result = run_python(
        """
        import sys
        import logifold_kedro.datasets.robustbench_model as module
        module.RobustBenchModelDataset("data/x", "Standard")
        banned = [m for m in ("torch", "robustbench", "tensorflow") if m in sys.modules]
        assert not banned, banned
        print("ok")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_from_scratch_is_seeded_and_leaves_the_global_generator_alone():
    state = torch.get_rng_state()
    first, again, other = fresh(1), fresh(1), fresh(2)
    assert torch.equal(torch.get_rng_state(), state)
    assert type(first).__name__ == "WideResNet" and not first.training
    assert torch.equal(outputs(first), outputs(again))
    assert not torch.equal(first.conv1.weight, other.conv1.weight)


def test_save_and_load_round_trip_in_robustbench_layout(tmp_path):
    model_dir = tmp_path / "robustbench"
    dataset = RobustBenchModelDataset(str(model_dir), NAME, architecture=ARCHITECTURE)
    assert not dataset.exists()
    model = fresh(3)
    dataset.save(model)
    assert (model_dir / "cifar10" / "L2" / f"{NAME}.pt").is_file()
    assert dataset.exists()
    assert torch.equal(outputs(dataset.load()), outputs(model))


def test_versioned_saves_keep_both_versions(tmp_path):
    model_dir = tmp_path / "models" / "robustbench"
    first_version, second_version = "2026-01-01T00.00.00.000Z", "2026-01-02T00.00.00.000Z"
    models = {first_version: fresh(4), second_version: fresh(5)}
    for version, model in models.items():
        RobustBenchModelDataset(
            str(model_dir), NAME, architecture=ARCHITECTURE, version=Version(None, version)
        ).save(model)
    for version in models:
        # <model_dir>/<version>/<basename(model_dir)>/ is itself a robustbench model_dir
        assert (model_dir / version / "robustbench" / "cifar10" / "L2" / f"{NAME}.pt").is_file()
        pinned = RobustBenchModelDataset(
            str(model_dir), NAME, architecture=ARCHITECTURE, version=Version(version, None)
        )
        assert torch.equal(outputs(pinned.load()), outputs(models[version]))
    latest = RobustBenchModelDataset(
        str(model_dir), NAME, architecture=ARCHITECTURE, version=Version(None, None)
    )
    assert torch.equal(outputs(latest.load()), outputs(models[second_version]))


def test_a_version_folder_without_checkpoint_is_not_a_version(tmp_path):
    model_dir = tmp_path / "robustbench"
    (model_dir / "2026-01-03T00.00.00.000Z" / "robustbench").mkdir(parents=True)
    dataset = RobustBenchModelDataset(
        str(model_dir), NAME, architecture=ARCHITECTURE, version=Version(None, None)
    )
    assert not dataset.exists()
    with pytest.raises(DatasetError, match="fit_surrogate"):
        dataset.load()


def test_missing_official_checkpoint_names_the_path(tmp_path):
    dataset = RobustBenchModelDataset(str(tmp_path / "raw"), "Standard")
    assert not dataset.exists()
    with pytest.raises(DatasetError) as error:
        dataset.load()
    expected = tmp_path / "raw" / "cifar10" / "L2" / "Standard.pt"
    assert str(expected) in str(error.value)
    assert "fetch_surrogate --model-name 'Standard'" in str(error.value)


def test_unknown_name_without_architecture_is_an_error(tmp_path):
    with pytest.raises(DatasetError, match="not a RobustBench"):
        RobustBenchModelDataset(str(tmp_path), "Test-Not-In-Zoo").load()
    with pytest.raises(DatasetError, match="architecture must be"):
        RobustBenchModelDataset(str(tmp_path), NAME, architecture={"depth": 10})


def test_catalog_entry_with_relative_filepath_lands_in_the_project(tmp_path, monkeypatch):
    from kedro.framework.context.context import _convert_paths_to_absolute_posix

    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # kedro run started outside the project
    config = {
        "surrogate": {
            "type": "logifold_kedro.datasets.robustbench_model.RobustBenchModelDataset",
            "filepath": "data/06_models/robustbench",
            "model_name": NAME,
            "architecture": ARCHITECTURE,
            "versioned": True,
        }
    }
    # what KedroContext does to catalog entries (it absolutises filepath, not model_dir)
    catalog = DataCatalog.from_config(_convert_paths_to_absolute_posix(project, config))
    model = fresh(6)
    catalog.save("surrogate", model)
    assert torch.equal(outputs(catalog.load("surrogate")), outputs(model))
    saved = list((project / "data" / "06_models").rglob(f"{NAME}.pt"))
    assert len(saved) == 1 and not any(elsewhere.rglob("*.pt"))


def test_model_dir_and_filepath_are_one_setting(tmp_path):
    with pytest.raises(DatasetError, match="exactly one of filepath"):
        RobustBenchModelDataset(model_name=NAME, architecture=ARCHITECTURE)
    with pytest.raises(DatasetError, match="exactly one of filepath"):
        RobustBenchModelDataset(str(tmp_path), NAME, filepath=str(tmp_path))
    model = fresh(7)
    RobustBenchModelDataset(filepath=str(tmp_path), model_name=NAME).save(model)
    loaded = RobustBenchModelDataset(str(tmp_path), NAME, architecture=ARCHITECTURE).load()
    assert torch.equal(outputs(loaded), outputs(model))


# --- safe loading and finite weights ------------------------------------------------------------
class RunsCode:
    """Unpickling this runs a command: what a crafted checkpoint would carry."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_a_crafted_checkpoint_is_refused_even_when_the_environment_forces_full_unpickling(
    tmp_path, monkeypatch
):
    from logifold_kedro.torch_lib.checkpoints import checkpoint_path

    marker = tmp_path / "code-ran"
    path = checkpoint_path(tmp_path, NAME)
    path.parent.mkdir(parents=True)
    torch.save({"state_dict": fresh(8).state_dict(), "extra": RunsCode(marker)}, path)
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    with pytest.raises(DatasetError, match="Python objects besides tensors") as error:
        RobustBenchModelDataset(str(tmp_path), NAME, architecture=ARCHITECTURE).load()
    assert str(path) in str(error.value)
    assert not marker.exists(), "the checkpoint's code ran"


def test_nan_weights_are_refused_on_save_and_on_load(tmp_path):
    from logifold_kedro.torch_lib.checkpoints import save_for_robustbench

    model = fresh(9)
    with torch.no_grad():
        model.conv1.weight[0, 0, 0, 0] = float("nan")
    version = "2026-01-05T00.00.00.000Z"
    folder = str(tmp_path / "robustbench")
    dataset = RobustBenchModelDataset(
        folder, NAME, architecture=ARCHITECTURE, version=Version(None, version)
    )
    with pytest.raises(DatasetError, match=r"NaN or infinite values in conv1.weight.*nothing"):
        dataset.save(model)
    assert not list((tmp_path / "robustbench").rglob("*.pt"))
    # A version written with NaN weights by something else is refused, naming file and version.
    save_for_robustbench(model, tmp_path / "robustbench" / version / "robustbench", NAME)
    latest = RobustBenchModelDataset(
        str(tmp_path / "robustbench"), NAME, architecture=ARCHITECTURE, version=Version(None, None)
    )
    with pytest.raises(DatasetError, match=rf"\(version {version}\) holds NaN .*conv1.weight"):
        latest.load()


def test_a_truncated_checkpoint_is_reported_by_file_and_version(tmp_path):
    version = "2026-01-06T00.00.00.000Z"
    RobustBenchModelDataset(
        str(tmp_path / "rb"), NAME, architecture=ARCHITECTURE, version=Version(None, version)
    ).save(fresh(10))
    (checkpoint,) = (tmp_path / "rb").rglob("*.pt")
    checkpoint.write_bytes(checkpoint.read_bytes()[:1000])
    with pytest.raises(DatasetError, match=rf"\(version {version}\) cannot be read.*Delete its"):
        RobustBenchModelDataset(
            str(tmp_path / "rb"), NAME, architecture=ARCHITECTURE, version=Version(None, None)
        ).load()
