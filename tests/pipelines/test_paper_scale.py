"""The paper's parameters, exercised: `kedro run --env paper`, every stage, with only sizes shrunk.

The test environment is built here from the files of `conf/paper` plus `SIZE_OVERRIDES` (numbers
of images, epochs, restarts, iterations, the archive's counts) and `DEVICE_OVERRIDES` (`cpu` for
`cuda`), so a later change to `conf/paper` flows into this test. Everything else stays the
paper's: the architectures (ResNet20/56 width 16, VGG11-19 width 64), eps, norms, step sizes,
recipes, the threshold target, the U2' policy `error`, the pretrained `Standard` surrogate with 0
epochs, AutoAttack's `standard` version, the three adaptive environments.

Inputs a paper user provides are made here, in their official layouts: a small
`cifar-10-python.tar.gz` (synthetic images, each class its own mean colour) and RobustBench's
`Standard` checkpoint (the zoo's WideResNet-28-10 in `{"state_dict": ...}`). The checkpoint's last
layer is zeroed, with a bias on a class none of the attacked test images has: the surrogate then
misclassifies every attacked image, so standard AutoAttack runs its checks and clean pass on the
real 36.5M-parameter model and skips its attacks (APGD-CE/T, FAB-T and Square's 5,000 queries
per image would take hours on a CPU; the attacks themselves are tested in tests/torch_lib).
"""

from __future__ import annotations

import copy
import gzip
import io
import pickle
import tarfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

# Imported for its triton guard, in place before robustbench is imported below, whatever
# earlier tests loaded (docs/stack.md, trap 2); it loads neither framework.
import logifold_kedro.tf_lib  # noqa: F401
from logifold_kedro.pipeline_registry import STAGES
from logifold_kedro.pipelines.naming import ENVIRONMENTS
from tests.pipelines.conftest import REPO, load, make_project_copy, run_stage, wiring_of

PAPER_CONF = REPO / "conf" / "paper"
ENV = "paper"
NUM_CLASSES = 10
# 6 training images per class (60, 12 per data batch): the 80/20 split leaves 48 train and 12
# val (1-2 per class); the SPs' 80/20 and U2''s 90/10 re-splits of them stay stratified (every
# class has >= 2), U2''s union pool has 180 samples. One test image per class, in class order.
TRAIN_PER_CLASS = 6
N_TRAIN = TRAIN_PER_CLASS * NUM_CLASSES
N_TEST = NUM_CLASSES
# AutoAttack attacks the first test images (classes 0, 1, 2); the test's `Standard` checkpoint
# predicts class 9, which none of them has, for every input.
AUTOATTACK_IMAGES = 3
PREDICTED_CLASS = NUM_CLASSES - 1

# conf/paper file -> its values that are sizes, shrunk so the chain runs on a CPU in minutes.
SIZE_OVERRIDES: dict[str, dict[str, Any]] = {
    # The archive written below holds N_TRAIN / N_TEST images (paper: 50,000 / 10,000).
    "globals.yml": {"expected_train": N_TRAIN, "expected_test": N_TEST},
    # Epochs 200 -> 1 (the lr_schedule stays the paper's list: its epochs are never reached).
    "parameters_training.yml": {"training_recipe": {"epochs": 1}},
    # Iterations and restarts of APGD: 2 and 10 iterations, 4 restarts -> 1 and 1.
    "parameters_art_attacks.yml": {
        "apgd": {
            "weak": {"max_iter": 1, "nb_random_init": 1},
            "strong": {"max_iter": 1, "nb_random_init": 1},
        }
    },
    # AutoAttack on the first AUTOATTACK_IMAGES test images (paper: all).
    "parameters_torch_attacks.yml": {"autoattack": {"num_images": AUTOATTACK_IMAGES}},
    # Fine-tuning epochs 21 -> 1.
    "parameters_immunization.yml": {"specialist_recipe": {"epochs": 1}},
    # The first 3 test images (paper: all) and the strongest attack's 100 iterations, 4 restarts.
    "parameters_adaptive_attacks.yml": {
        "adaptive_attacks": {
            "num_images": 3,
            "apgd_strongest": {"max_iter": 1, "nb_random_init": 1},
        }
    },
}
# This machine has no GPU.
DEVICE_OVERRIDES: dict[str, dict[str, Any]] = {
    "parameters_torch_attacks.yml": {"autoattack": {"device": "cpu"}},
}


def leaves(tree: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    """Every leaf of a nested mapping by its key path; lists and scalars are leaves."""
    flat: dict[tuple[str, ...], Any] = {}
    for key, value in tree.items():
        path = (*prefix, str(key))
        if isinstance(value, Mapping) and value:
            flat.update(leaves(value, path))
        else:
            flat[path] = value
    return flat


def override(tree: Mapping[str, Any], changes: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A copy of ``tree`` with the leaves of ``changes`` replaced.

    Raises KeyError for a path ``tree`` does not have: an override never adds a key, so a key
    renamed in conf/paper fails here instead of silently testing a stale name.
    """
    result = copy.deepcopy(dict(tree))
    for path, value in leaves(changes).items():
        node = result
        for key in path[:-1]:
            node = node[key]
        if path[-1] not in node:
            raise KeyError(f"{where}: {'.'.join(path)} is not in conf/paper")
        node[path[-1]] = value
    return result


def read_paper_conf() -> dict[str, dict[str, Any]]:
    """conf/paper's YAML files by file name, as written."""
    files = sorted(PAPER_CONF.glob("*.yml"))
    return {path.name: yaml.safe_load(path.read_text()) for path in files}


def sized_paper_conf(paper: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """conf/paper with SIZE_OVERRIDES and DEVICE_OVERRIDES applied, file by file."""
    unknown = sorted((set(SIZE_OVERRIDES) | set(DEVICE_OVERRIDES)) - set(paper))
    if unknown:
        raise KeyError(f"overrides name files conf/paper does not have: {unknown}")
    sized = {}
    for name, tree in paper.items():
        tree = override(tree, SIZE_OVERRIDES.get(name, {}), name)
        sized[name] = override(tree, DEVICE_OVERRIDES.get(name, {}), name)
    return sized


def colour_images(labels: np.ndarray, seed: int) -> np.ndarray:
    """uint8 NHWC images whose class is their mean colour, plus Gaussian pixel noise."""
    colours = np.random.default_rng(123).uniform(0.25, 0.75, (NUM_CLASSES, 3))
    noise = np.random.default_rng(seed).normal(0.0, 0.12, (len(labels), 32, 32, 3))
    pixels = np.clip(colours[labels][:, None, None, :] + noise, 0.0, 1.0)
    return np.round(pixels * 255).astype(np.uint8)


def batch_pickle(images: np.ndarray, labels: np.ndarray) -> bytes:
    """One batch as the official archive pickles it: bytes keys, channel-first uint8 rows."""
    rows = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
    return pickle.dumps(
        {b"data": np.ascontiguousarray(rows), b"labels": [int(label) for label in labels]},
        protocol=2,
    )


def write_cifar10_archive(path: Path, train_labels: np.ndarray, test_labels: np.ndarray) -> None:
    """`cifar-10-python.tar.gz` in the official layout (cifar-10-batches-py/data_batch_1..5,
    test_batch, batches.meta), the training labels shared out over the five batches."""
    members = {}
    for index, labels in enumerate(np.array_split(train_labels, 5), start=1):
        members[f"data_batch_{index}"] = batch_pickle(colour_images(labels, index), labels)
    members["test_batch"] = batch_pickle(colour_images(test_labels, 0), test_labels)
    names = [f"class_{k}".encode() for k in range(NUM_CLASSES)]
    members["batches.meta"] = pickle.dumps({b"label_names": names}, protocol=2)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(buffer.getvalue(), compresslevel=1))


def write_standard_checkpoint(model_dir: Path, predicted_class: int) -> Path:
    """RobustBench's `Standard` (WideResNet-28-10) at `<model_dir>/cifar10/L2/Standard.pt`, saved
    as `load_model` reads it, with a last layer that predicts `predicted_class` for every input."""
    import torch

    from logifold_kedro.torch_lib.robustbench_compat import ensure_autoattack_module

    ensure_autoattack_module()  # robustbench's package __init__ imports `autoattack`
    from robustbench.model_zoo.architectures.wide_resnet import WideResNet

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = WideResNet(depth=28, widen_factor=10)
    with torch.no_grad():
        model.fc.weight.zero_()
        model.fc.bias.zero_()
        model.fc.bias[predicted_class] = 1.0
    path = model_dir / "cifar10" / "L2" / "Standard.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": model.state_dict()}, path)
    return path


def resolved_config(project: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The parameters and globals a run of the test environment resolves."""
    bootstrap_project(project)
    with KedroSession.create(project_path=project, env=ENV) as session:
        context = session.load_context()
        return dict(context.params), dict(context.config_loader["globals"])


@pytest.fixture(scope="module")
def paper_run(tmp_path_factory) -> dict[str, Any]:
    """A project copy with the sized paper environment and its raw inputs, run stage by stage."""
    project = make_project_copy(tmp_path_factory.mktemp("paper") / "project")
    paper = read_paper_conf()  # read once: what the run's environment was built from
    sized = sized_paper_conf(paper)
    (project / "conf" / ENV).mkdir()
    for name, tree in sized.items():
        (project / "conf" / ENV / name).write_text(yaml.safe_dump(tree, sort_keys=False))
    train_labels = np.tile(np.arange(NUM_CLASSES), TRAIN_PER_CLASS)
    test_labels = np.arange(N_TEST) % NUM_CLASSES
    # The split keeps the archive's test order (test_size null), so these are the attacked ones.
    assert PREDICTED_CLASS not in test_labels[:AUTOATTACK_IMAGES]
    write_cifar10_archive(project / sized["globals.yml"]["raw_cifar10"], train_labels, test_labels)
    write_standard_checkpoint(project / "data" / "01_raw" / "robustbench", PREDICTED_CLASS)
    seconds = {}
    for stage in STAGES:
        started = time.perf_counter()
        run_stage(project, stage, env=ENV)
        seconds[stage] = time.perf_counter() - started
    print("paper-scale stages (s):", {k: round(v, 1) for k, v in seconds.items()})
    return {"project": project, "paper": paper, "sized": sized, "seconds": seconds}


def test_every_paper_value_but_the_sizes_reaches_the_run(paper_run):
    paper = paper_run["paper"]
    overridden = {
        (name, *path)
        for changes in (SIZE_OVERRIDES, DEVICE_OVERRIDES)
        for name, tree in changes.items()
        for path in leaves(tree)
    }
    params, globals_ = resolved_config(paper_run["project"])
    for name, tree in paper.items():
        resolved = globals_ if name == "globals.yml" else params
        expected = paper_run["sized"][name]
        for top in tree:
            # Both ways: each paper leaf arrives, and no base leaf leaks into a paper key.
            assert leaves({top: resolved[top]}) == leaves({top: expected[top]}), (name, top)
        for path, value in leaves(tree).items():
            if (name, *path) not in overridden:
                assert leaves({path[0]: resolved[path[0]]})[path] == value, (name, path)
    # 1 epoch never reaches the schedule's epochs; the paper's schedule is still what is passed.
    assert (
        params["training_recipe"]["lr_schedule"]
        == paper["parameters_training.yml"]["training_recipe"]["lr_schedule"]
    )


def test_the_code_got_the_paper_settings(paper_run):
    project, sized = paper_run["project"], paper_run["sized"]
    training = sized["parameters_training.yml"]
    for member in wiring_of(project, ENV).u0_members:
        history = load(project, f"history__u0__{member}", env=ENV)
        assert history["spec"] == training["u0_models"][member]
    surrogate = load(project, "surrogate_training_report", env=ENV)
    assert surrogate["epochs_run"] == 0 and surrogate["recipe"]["learning_rate"] == 0.0
    assert surrogate["model"] == "WideResNet" and surrogate["num_parameters"] > 36_000_000
    autoattack = load(project, "autoattack_transfer_report", env=ENV)
    paper_autoattack = sized["parameters_torch_attacks.yml"]["autoattack"]
    for key in ("norm", "eps", "version", "attacks"):
        assert autoattack[key] == paper_autoattack[key]
    # The checkpoint's design: every image misclassified, so AutoAttack perturbed none.
    assert autoattack["n"] == AUTOATTACK_IMAGES and autoattack["clean_accuracy"] == 0.0
    assert autoattack["n_perturbed"] == 0
    for setting in ("weak", "strong"):
        attacked = load(project, f"u0_apgd_{setting}_test", env=ENV)
        assert attacked["setting"] == sized["parameters_art_attacks.yml"]["apgd"][setting]


def test_the_paper_run_reports(paper_run):
    project = paper_run["project"]
    root = project / "data" / "08_reporting" / "paper" / "seed42"
    reports = list(root.glob("report.md/*/report.md"))
    assert len(reports) == 1 and "Experiment 2" in reports[0].read_text()
    experiment2 = load(project, "experiment2_metrics", env=ENV)
    assert isinstance(experiment2, pd.DataFrame)
    assert set(experiment2["environment"]) == set(ENVIRONMENTS)
    # Policy `error`: every environment with a U2' trained one (none was skipped).
    with_u2 = experiment2[experiment2["environment"] != "clean"]
    assert with_u2["u2_available"].all()
    adaptive = load(project, "adaptive_metrics", env=ENV)
    assert {"union", "weak", "strong"} <= set(adaptive["environment"])
