"""Framework isolation: a module of one framework never imports the other, and the package,
the registry and framework-free nodes import neither (each check in a fresh interpreter)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fresh_interpreter import run_fresh

REPO = Path(__file__).resolve().parents[1]


def loaded_frameworks(code: str) -> dict[str, bool]:
    """Run `code` in a fresh interpreter and report which frameworks ended up imported."""
    return run_fresh(code, REPO)[1]


def test_package_registry_and_framework_free_node_import_no_framework():
    loaded = loaded_frameworks(
        """
        from pathlib import Path
        from kedro.framework.startup import bootstrap_project
        bootstrap_project(Path("."))
        from kedro.framework.project import pipelines
        assert len(pipelines["__default__"].nodes) > 50
        import numpy as np
        from logifold_kedro.pipelines.training.nodes import make_splits
        raw = {"x_train": np.zeros((50, 32, 32, 3), np.uint8), "y_train": np.arange(50) % 10,
               "x_test": np.zeros((20, 32, 32, 3), np.uint8), "y_test": np.arange(20) % 10,
               "label_names": [str(i) for i in range(10)]}
        train, val, test = make_splits(raw, {"val_fraction": 0.2, "seed": 42})
        assert len(train["y"]) == 40
        import logifold_kedro.pipelines.reporting.nodes, logifold_kedro.logifold
        import logifold_kedro.pipelines.adaptive_attacks.nodes, logifold_kedro.report_lib.adaptive
        import logifold_kedro.datasets.robustbench_model
        # Framework setup, the hooks and the Dask worker side import a framework only to set it up.
        import logifold_kedro.frameworks, logifold_kedro.hooks, logifold_kedro.runners.worker
        # Kedro loads kedro-mlflow's hook in every session once the tracking extra is installed.
        import logifold_kedro.tracking, kedro_mlflow.framework.hooks.mlflow_hook
        """
    )
    assert loaded == {"tensorflow": False, "keras": False, "torch": False}


@pytest.mark.parametrize(
    ("modules", "framework", "forbidden"),
    [
        (
            [
                "logifold_kedro.tf_lib.architectures",
                "logifold_kedro.tf_lib.training",
                "logifold_kedro.tf_lib.committee",
                "logifold_kedro.tf_lib.apgd",
                "logifold_kedro.tf_lib.specialists",
                "logifold_kedro.tf_lib.soft_imm",
                "logifold_kedro.tf_lib.setup",
            ],
            "tensorflow",
            "torch",
        ),
        (
            [
                "logifold_kedro.torch_lib.surrogate",
                "logifold_kedro.torch_lib.autoattack_adapter",
                "logifold_kedro.torch_lib.robustbench_compat",
                "logifold_kedro.torch_lib.setup",
            ],
            "torch",
            "tensorflow",
        ),
    ],
)
def test_framework_modules_import_only_their_framework(modules, framework, forbidden):
    imports = "\n".join(f"import {m}" for m in modules)
    loaded = loaded_frameworks(imports + "\nimport " + framework)
    assert loaded[framework]
    assert not loaded[forbidden]
    if forbidden == "tensorflow":
        assert not loaded["keras"]


def test_every_framework_node_is_tagged_and_framework_free_nodes_are_not():
    """Nodes that call TF/torch code carry their framework tag (the hook sets that framework up)."""
    from kedro.framework.project import pipelines
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(REPO)
    for node in pipelines["__default__"].nodes:
        source = getattr(node.func, "func", node.func)
        module = source.__module__
        tags = node.tags & {"tensorflow", "torch"}
        assert len(tags) <= 1, f"{node.name} is tagged with two frameworks"
        if "torch_attacks" in module:
            assert tags == {"torch"}, node.name
        elif "reporting" in module:
            assert not tags, node.name
        if tags:
            assert "gpu" in node.tags, f"{node.name} runs framework code but is not tagged gpu"
