"""Benchmark: training throughput of `train_classifier` against a bare `model.fit`.

Same model architecture (ResNet20 v1 at a CPU-scale width, same initial weights), same data,
batch size, optimizer, loss and validation set, measured side by side in one process. Rounds
alternate the order of the variants; each run's first epoch (graph tracing) is a warm-up and
is excluded. Throughput = training images x measured epochs / their wall time (each epoch
includes its validation pass, with the same validation batch size in every variant).

Variants:
- ``bare fit``: ``model.fit(x, y, shuffle=True)`` on NumPy arrays, no augmentation, plus a
  callback that only reads the clock at epoch boundaries.
- ``train_classifier``: our function, augmentation off (the like-for-like comparison).
- ``bare fit + Keras aug``: a tf.data pipeline with Keras' RandomTranslation(0.1, 0.1,
  nearest fill) and RandomFlip layers mapped over batches, then ``model.fit``.
- ``train_classifier + aug``: our function with width/height shift 0.1 and horizontal flip.

Usage: python benchmarks/bench_training.py [--images N --epochs E --batch B --width W
--rounds R --val-images V --synthetic]. Writes benchmarks/results/training.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pickle
import platform
import statistics
import tarfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import logifold_kedro.tf_lib  # noqa: E402,F401  (triton guard before TensorFlow)

ROOT = Path(__file__).resolve().parents[1]
DEMO_ARCHIVE = ROOT / "data" / "01_raw" / "cifar10_demo.tar.gz"
RESULT_PATH = ROOT / "benchmarks" / "results" / "training.json"
AUGMENT = {"width_shift": 0.1, "height_shift": 0.1, "horizontal_flip": True}


def read_batches(archive: tarfile.TarFile, pattern: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (uint8 NHWC) and labels of the archive's pickled batches whose name has `pattern`."""
    images, labels = [], []
    for name in sorted(m.name for m in archive.getmembers() if pattern in m.name):
        batch = pickle.load(io.BytesIO(archive.extractfile(name).read()), encoding="bytes")
        images.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        labels.append(np.asarray(batch[b"labels"], dtype=np.int64))
    return np.concatenate(images).transpose(0, 2, 3, 1), np.concatenate(labels)


def load_demo_images(path: Path, train_count: int, val_count: int) -> tuple[dict, dict, str]:
    """Train images from the demo archive's data batches, val from its test batch ([0, 1])."""
    with tarfile.open(path, "r:gz") as archive:
        train_x, train_y = read_batches(archive, "data_batch")
        val_x, val_y = read_batches(archive, "test_batch")
    if train_count > len(train_y) or val_count > len(val_y):
        raise ValueError(
            f"{path} holds {len(train_y)} training and {len(val_y)} test images; asked for "
            f"{train_count} and {val_count} (lower --images / --val-images or use --synthetic)"
        )
    train = {"x": train_x[:train_count].astype(np.float32) / 255.0, "y": train_y[:train_count]}
    val = {"x": val_x[:val_count].astype(np.float32) / 255.0, "y": val_y[:val_count]}
    source = f"{path.name} ({train_count} of its training images; val: {val_count} test images)"
    return train, val, source


def synthetic_images(train_count: int, val_count: int) -> tuple[dict, dict, str]:
    rng = np.random.default_rng(0)
    sets = [
        {
            "x": rng.uniform(size=(count, 32, 32, 3)).astype(np.float32),
            "y": rng.integers(0, 10, count).astype(np.int64),
        }
        for count in (train_count, val_count)
    ]
    return sets[0], sets[1], "synthetic uniform noise"


def build(width: int):
    from logifold_kedro.tf_lib.architectures import build_model

    spec = {"name": "resnet_v1_d20", "family": "resnet", "version": 1, "depth": 20}
    return build_model({**spec, "width": width}, seed=0)


def epoch_timer():
    import keras

    class EpochTimer(keras.callbacks.Callback):
        """Wall and process CPU seconds of each epoch (clock reads at epoch boundaries only)."""

        def __init__(self) -> None:
            super().__init__()
            self.seconds: list[float] = []
            self.cpu_seconds: list[float] = []

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self._start = time.perf_counter()
            self._cpu_start = time.process_time()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            self.seconds.append(time.perf_counter() - self._start)
            self.cpu_seconds.append(time.process_time() - self._cpu_start)

    return EpochTimer()


def compile_like_train_classifier(model) -> None:
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=["accuracy"],
    )


def keras_augmented_dataset(x: np.ndarray, y: np.ndarray, batch: int, seed: int):
    """What a plain Keras user would write: preprocessing layers mapped over tf.data batches."""
    import keras
    import tensorflow as tf

    translate = keras.layers.RandomTranslation(0.1, 0.1, fill_mode="nearest", seed=seed)
    flip = keras.layers.RandomFlip("horizontal", seed=seed)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=seed).batch(batch)
    dataset = dataset.map(
        lambda images, labels: (flip(translate(images, training=True), training=True), labels),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    return dataset.prefetch(tf.data.AUTOTUNE)


def run_variant(variant: str, data: dict[str, Any], args: argparse.Namespace) -> Any:
    """Train a fresh model with one variant; return its epoch timer."""
    from logifold_kedro.tf_lib.training import train_classifier

    model = build(args.width)
    train, val = data["train"], data["val"]
    validation_batch = max(args.batch, 256)  # train_classifier's default, used by all variants
    timer = epoch_timer()  # the same instrument in every variant
    if variant.startswith("train_classifier"):
        recipe = {
            "epochs": args.epochs,
            "batch_size": args.batch,
            "learning_rate": 1e-3,
            "augment": AUGMENT if variant.endswith("aug") else None,
            "predict_batch_size": validation_batch,
        }
        train_classifier(model, train, val, recipe, seed=0, callbacks=[timer])
        return timer
    compile_like_train_classifier(model)
    common = {
        "epochs": args.epochs,
        "validation_data": (val["x"], val["y"]),
        "validation_batch_size": validation_batch,
        "callbacks": [timer],
        "verbose": 0,
    }
    if variant == "bare fit":
        model.fit(train["x"], train["y"], batch_size=args.batch, shuffle=True, **common)
    else:
        dataset = keras_augmented_dataset(train["x"], train["y"], args.batch, 0)
        model.fit(dataset, shuffle=False, **common)  # the dataset shuffles itself
    return timer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=2000, help="training images")
    parser.add_argument("--val-images", type=int, default=500, help="validation images")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run (first = warm-up)")
    parser.add_argument("--batch", type=int, default=32, help="batch size (docs/method.md: 32)")
    parser.add_argument("--width", type=int, default=8, help="ResNet20 v1 base width")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of all variants")
    parser.add_argument("--synthetic", action="store_true", help="noise instead of demo data")
    parser.add_argument("--output", type=Path, default=RESULT_PATH)
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be >= 2 (the first epoch is excluded as warm-up)")

    import keras
    import tensorflow as tf

    if args.synthetic or not DEMO_ARCHIVE.exists():
        train, val, source = synthetic_images(args.images, args.val_images)
    else:
        train, val, source = load_demo_images(DEMO_ARCHIVE, args.images, args.val_images)
    data = {"train": train, "val": val}
    variants = ["bare fit", "train_classifier", "bare fit + Keras aug", "train_classifier + aug"]
    baseline_of = {
        "bare fit": "bare fit",
        "train_classifier": "bare fit",
        "bare fit + Keras aug": "bare fit + Keras aug",
        "train_classifier + aug": "bare fit + Keras aug",
    }
    runs: dict[str, list[dict[str, Any]]] = {variant: [] for variant in variants}
    measured_images = args.images * (args.epochs - 1)
    for round_index in range(args.rounds):
        order = variants if round_index % 2 == 0 else variants[::-1]
        for variant in order:
            timer = run_variant(variant, data, args)
            rate = measured_images / sum(timer.seconds[1:])
            cpu_ms = 1000 * sum(timer.cpu_seconds[1:]) / measured_images
            runs[variant].append(
                {
                    "round": round_index,
                    "epoch_seconds": timer.seconds,
                    "epoch_cpu_seconds": timer.cpu_seconds,
                    "images_per_s": rate,
                    "cpu_ms_per_image": cpu_ms,
                }
            )
            print(
                f"round {round_index + 1}/{args.rounds} {variant:24s} {rate:8.1f} images/s "
                f"{cpu_ms:6.2f} CPU ms/image",
                flush=True,
            )

    def median_of(variant: str, key: str) -> float:
        return statistics.median(run[key] for run in runs[variant])

    def paired_ratios(variant: str) -> list[float]:
        """Per round: this variant's images/s over its baseline's in the same round."""
        baseline = runs[baseline_of[variant]]
        return [
            ours["images_per_s"] / base["images_per_s"]
            for ours, base in zip(runs[variant], baseline, strict=True)
        ]

    def paired_cpu_ratios(variant: str) -> list[float]:
        """Per round: images per CPU-second of this variant over its baseline's.

        Less sensitive than wall time to other processes competing for the cores.
        """
        baseline = runs[baseline_of[variant]]
        return [
            base["cpu_ms_per_image"] / ours["cpu_ms_per_image"]
            for ours, base in zip(runs[variant], baseline, strict=True)
        ]

    summary = {
        variant: {
            "median_images_per_s": median_of(variant, "images_per_s"),
            "median_cpu_ms_per_image": median_of(variant, "cpu_ms_per_image"),
            "baseline": baseline_of[variant],
            "paired_ratios": paired_ratios(variant),
            "median_paired_ratio": statistics.median(paired_ratios(variant)),
            "paired_cpu_ratios": paired_cpu_ratios(variant),
            "median_paired_cpu_ratio": statistics.median(paired_cpu_ratios(variant)),
        }
        for variant in variants
    }
    model = build(args.width)
    print()
    print(
        f"ResNet20 v1 width {args.width} ({model.count_params():,} parameters), "
        f"{args.images} train / {args.val_images} val images: {source}, batch {args.batch}, "
        f"{args.epochs} epochs per run (first excluded), {args.rounds} rounds, "
        f"{os.cpu_count()} CPU cores, TF {tf.__version__}, Keras {keras.__version__}"
    )
    print()
    print(
        "| variant | augmentation | images/s (median) | CPU ms/image (median) "
        "| wall-clock ratio vs baseline, per round | median | CPU-time ratio, median |"
    )
    print("|---|---|---:|---:|---|---:|---:|")
    for variant in variants:
        row = summary[variant]
        augmentation = "shift 0.1 + flip" if "aug" in variant else "none"
        ratios = ", ".join(f"{ratio:.2f}" for ratio in row["paired_ratios"])
        print(
            f"| {variant} | {augmentation} | {row['median_images_per_s']:.1f} | "
            f"{row['median_cpu_ms_per_image']:.2f} | {ratios} | "
            f"{row['median_paired_ratio']:.3f}x | {row['median_paired_cpu_ratio']:.3f}x |"
        )
    ratio_plain = summary["train_classifier"]["median_paired_ratio"]
    ratio_aug = summary["train_classifier + aug"]["median_paired_ratio"]
    cpu_ratio_plain = summary["train_classifier"]["median_paired_cpu_ratio"]
    cpu_ratio_aug = summary["train_classifier + aug"]["median_paired_cpu_ratio"]
    load = os.getloadavg()
    print()
    print("Baselines: bare model.fit on NumPy arrays (no augmentation); bare model.fit on a")
    print("tf.data pipeline with Keras RandomTranslation + RandomFlip layers (augmentation).")
    print(
        f"train_classifier / bare model.fit, no augmentation (target >= 0.95): "
        f"{ratio_plain:.3f} wall clock, {cpu_ratio_plain:.3f} per CPU-second"
    )
    print(
        f"train_classifier + aug / bare fit + Keras aug layers: {ratio_aug:.3f} wall clock, "
        f"{cpu_ratio_aug:.3f} per CPU-second"
    )
    print(
        f"load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} on "
        f"{os.cpu_count()} cores: above the core count, other processes shared the CPU and "
        "wall-clock ratios are noisy (trust the CPU-time ratio more)."
    )
    result = {
        "benchmark": "train_classifier vs bare model.fit",
        "model": f"resnet_v1_d20 width {args.width}",
        "parameters": int(model.count_params()),
        "data": source,
        "train_images": args.images,
        "val_images": args.val_images,
        "batch_size": args.batch,
        "epochs_per_run": args.epochs,
        "warmup_epochs_excluded": 1,
        "rounds": args.rounds,
        "cpu_count": os.cpu_count(),
        "load_average": load,
        "platform": platform.platform(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "ratio_train_classifier_vs_bare_fit_no_augmentation": ratio_plain,
        "ratio_train_classifier_vs_keras_layers_with_augmentation": ratio_aug,
        "cpu_ratio_train_classifier_vs_bare_fit_no_augmentation": cpu_ratio_plain,
        "cpu_ratio_train_classifier_vs_keras_layers_with_augmentation": cpu_ratio_aug,
        "summary": summary,
        "runs": runs,
        "notes": (
            "Ratios are per round (same conditions), median over rounds; CPU-time ratios compare "
            "images per process CPU-second. Each epoch's time "
            "includes its validation pass (same validation batch size in all variants). Every "
            "variant carries the same callback that reads the wall and CPU clocks per epoch. "
            "Other processes may share the CPU: rounds alternate the order of the variants."
        ),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
