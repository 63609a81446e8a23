"""Benchmark: AutoAttack throughput of `run_autoattack` against a bare pyautoattack call.

The demo-size surrogate (a RobustBench-zoo WideResNet, default depth 10, width 1) is trained
with `train_surrogate` on 1,600 images of the demo archive's training batches (400 more for
validation; the epoch time is reported), then attacked on the first `--images` images of the
archive's test batch with their true labels:

- ``run_autoattack``: our adapter (NHWC numpy in and out, parameter gradients off, progress
  logging, projection into the eps-ball).
- ``bare pyautoattack``: ``pyautoattack.AutoAttack(model, norm, eps, version, seed, device)``
  and ``run_standard_evaluation(x_nchw, y, batch_size=)`` on tensors, as a user would call it.

Same model, images, seed and settings (L2, eps 0.5, version standard = APGD-CE, APGD-T, FAB-T,
Square 5000 queries): the outputs must agree (reported as the largest pixel difference).
Throughput = attacked images / wall time, median over ``--rounds`` rounds that alternate the
order of the two variants (the load of a shared machine drifts). AutoAttack's cost per image
depends on how many images each attack still has to work on (only correctly classified, not yet
fooled images go on), so the clean and robust accuracy are reported beside it.

Usage: python benchmarks/bench_autoattack.py [--images N --epochs E --depth D --width W
--batch B --threads T --rounds R --skip-bare]. Writes benchmarks/results/autoattack.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import time
import warnings
from pathlib import Path

import numpy as np

import logifold_kedro.torch_lib  # noqa: F401  (triton guard first)
from logifold_kedro.datasets.cifar10_archive import CIFAR10ArchiveDataset

ROOT = Path(__file__).resolve().parents[1]
DEMO_ARCHIVE = ROOT / "data" / "01_raw" / "cifar10_demo.tar.gz"
RESULT_PATH = ROOT / "benchmarks" / "results" / "autoattack.json"


def demo_split(seed: int, train_count: int, val_count: int) -> tuple[dict, dict, dict]:
    """Train/val from the archive's training images (seeded permutation), test in file order."""
    raw = CIFAR10ArchiveDataset(filepath=str(DEMO_ARCHIVE)).load()
    order = np.random.default_rng(seed).permutation(len(raw["y_train"]))
    x_all = raw["x_train"].astype(np.float32) / 255.0
    train_index, val_index = order[:train_count], order[train_count : train_count + val_count]
    train = {"x": x_all[train_index], "y": raw["y_train"][train_index]}
    val = {"x": x_all[val_index], "y": raw["y_train"][val_index]}
    test = {"x": raw["x_test"].astype(np.float32) / 255.0, "y": raw["y_test"]}
    return train, val, test


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--depth", type=int, default=10)
    parser.add_argument("--width", type=int, default=1)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--eps", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-bare", action="store_true", help="time only run_autoattack")
    parser.add_argument("--output", type=Path, default=RESULT_PATH)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    warnings.filterwarnings("ignore")

    import torch

    from logifold_kedro.data.perturbations import perturbation_summary
    from logifold_kedro.torch_lib.autoattack_adapter import (
        accuracy,
        autoattack_class,
        run_autoattack,
    )
    from logifold_kedro.torch_lib.images import to_nchw_tensor, to_nhwc_array
    from logifold_kedro.torch_lib.robustbench_compat import build_zoo_model, register_zoo_model
    from logifold_kedro.torch_lib.setup import configure_torch
    from logifold_kedro.torch_lib.surrogate import train_surrogate

    torch_summary = configure_torch(args.seed, num_threads=args.threads, device="cpu")
    name = f"Bench-WRN-{args.depth}-{args.width}"
    register_zoo_model(name, architecture="WideResNet", depth=args.depth, widen_factor=args.width)
    train, val, test = demo_split(args.seed, 1600, 400)
    model = build_zoo_model(name)
    recipe = {
        "epochs": args.epochs,
        "batch_size": 64,
        "learning_rate": 0.01,
        "momentum": 0.9,
        "weight_decay": 0.0005,
    }
    model, history = train_surrogate(model, train, val, recipe, args.seed)
    x, y = test["x"][: args.images], test["y"][: args.images]
    settings = {"norm": "L2", "eps": args.eps, "version": "standard", "seed": args.seed}

    def ours() -> np.ndarray:
        return run_autoattack(model, x, y, batch_size=args.batch, device="cpu", **settings)

    def bare() -> np.ndarray:
        import pyautoattack

        torch.manual_seed(args.seed)
        model.eval()
        adversary = pyautoattack.AutoAttack(
            model, norm="L2", eps=args.eps, version="standard", seed=args.seed, device="cpu"
        )
        x_adv, _ = adversary.run_standard_evaluation(
            to_nchw_tensor(x), torch.from_numpy(y), batch_size=args.batch
        )
        return to_nhwc_array(x_adv)

    variants = (
        {"run_autoattack": ours}
        if args.skip_bare
        else {"run_autoattack": ours, "bare pyautoattack": bare}
    )
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    outputs: dict[str, np.ndarray] = {}
    for round_index in range(args.rounds):
        # Alternate the order: the machine's load drifts, so neither variant always goes first.
        order = list(variants) if round_index % 2 == 0 else list(variants)[::-1]
        for variant in order:
            started = time.perf_counter()
            outputs[variant] = variants[variant]()
            seconds[variant].append(time.perf_counter() - started)
    x_adv = outputs["run_autoattack"]
    median = {name: statistics.median(values) for name, values in seconds.items()}
    result = {
        "benchmark": "run_autoattack vs bare pyautoattack (AutoAttack standard, L2)",
        "model": name,
        "parameters": history["num_parameters"],
        "data": "cifar10_demo.tar.gz: 1600 train / 400 val of its training images; test images",
        "train_epochs": args.epochs,
        "train_epoch_seconds": history["epoch_seconds"],
        "train_images": len(train["y"]),
        "val_accuracy": history["val_accuracy"],
        "attacked_images": int(len(y)),
        "batch_size": args.batch,
        **settings,
        "backend": autoattack_class()[1],
        "clean_accuracy": accuracy(model, x, y),
        "robust_accuracy": accuracy(model, x_adv, y),
        "perturbation": perturbation_summary(x, x_adv),
        "rounds": args.rounds,
        "seconds": seconds,
        "median_images_per_s": {name: len(y) / value for name, value in median.items()},
        "cpu_count": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
        "torch": torch_summary,
        "platform": platform.platform(),
    }
    if "bare pyautoattack" in outputs:
        result["speed_ratio_ours_vs_bare"] = median["bare pyautoattack"] / median["run_autoattack"]
        difference = np.abs(outputs["bare pyautoattack"] - x_adv).max()
        result["max_abs_pixel_difference_ours_vs_bare"] = float(difference)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
