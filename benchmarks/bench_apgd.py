"""APGD-CE on a Keras committee: our fused path against the reference approach, side by side.

- reference: a subclassed Keras model calling each member eagerly and averaging their softmax
  (clipped to [1e-12, 1]), wrapped in ART's ``TensorFlowV2Classifier`` as is;
- ours: :func:`logifold_kedro.tf_lib.committee.build_committee` (one functional model) on a
  :class:`logifold_kedro.tf_lib.fused_classifier.FusedCommitteeClassifier`.

Both run ART's ``AutoProjectedGradientDescent`` (L2, untargeted, cross-entropy, ``y=None``) with
the same settings, images and seed, one attack batch at a time; a ``PassCounter`` at each model's
input counts the images it evaluates (forward) and differentiates (backward). Members are small
conv nets (BatchNorm, two widths) trained briefly on separable synthetic images, so the attack has
predictions to flip.

Run:  python benchmarks/bench_apgd.py [--images 128] [--members 6] [--repeats 2]
Writes benchmarks/results/apgd.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # the 2026-11-30 numbers were measured so

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from pass_counter import PassCounter, with_pass_counter  # noqa: E402  (next to this script)

from logifold_kedro.data.perturbations import perturbation_norms  # noqa: E402
from logifold_kedro.tf_lib.apgd import build_apgd, generate_in_batches  # noqa: E402
from logifold_kedro.tf_lib.art import TensorFlowV2Classifier  # noqa: E402  (ART's own class)
from logifold_kedro.tf_lib.committee import PROBABILITY_FLOOR, build_committee  # noqa: E402
from logifold_kedro.tf_lib.fused_classifier import FusedCommitteeClassifier  # noqa: E402

SETTINGS = {
    "weak": {"eps": 0.5, "eps_step": 0.2, "max_iter": 2, "nb_random_init": 4, "batch_size": 64},
    "strong": {"eps": 0.7, "eps_step": 0.2, "max_iter": 10, "nb_random_init": 4, "batch_size": 64},
}
RESULTS_PATH = Path(__file__).resolve().parent / "results" / "apgd.json"
logger = logging.getLogger("bench_apgd")


class EagerAveragingCommittee(keras.Model):
    """The reference attacked model: each member called in turn, softmax outputs averaged."""

    def __init__(self, members: list[keras.Model], **kwargs) -> None:
        super().__init__(**kwargs)
        self.members = list(members)
        self.pass_counter = PassCounter(name="reference_pass_counter")

    def call(self, inputs, training=False):
        inputs = self.pass_counter(inputs)
        total = self.members[0](inputs, training=training)
        for member in self.members[1:]:
            total = total + member(inputs, training=training)
        # Summed in member order like keras.layers.Average, so both paths round alike.
        return tf.clip_by_value(total / len(self.members), PROBABILITY_FLOOR, 1.0)


def separable_images(n_images: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Ten classes of blocky +-1 patterns on grey plus noise, float32 in [0, 1].

    The class patterns are fixed; ``seed`` draws the noise (train and attacked images differ).
    """
    class_patterns = np.random.default_rng(0).choice([-1.0, 1.0], size=(10, 4, 4, 3))
    patterns = np.kron(class_patterns, np.ones((1, 8, 8, 1)))
    rng = np.random.default_rng(seed)
    labels = np.arange(n_images) % 10
    noise = 0.1 * rng.standard_normal((n_images, 32, 32, 3))
    images = np.clip(0.5 + 0.02 * patterns[labels] + noise, 0.0, 1.0).astype(np.float32)
    return images, labels.astype(np.int64)


def small_member(index: int) -> keras.Model:
    """Conv-BN-ReLU blocks (widths 8/16, 2 or 3 stages), then Flatten and a softmax head."""
    keras.utils.set_random_seed(100 + index)
    width = 8 if index % 2 == 0 else 16
    inputs = keras.Input((32, 32, 3))
    hidden = inputs
    for stage in range(2 + index % 3 // 2):
        for _ in range(2):
            hidden = keras.layers.Conv2D(width * 2**stage, 3, padding="same", use_bias=False)(
                hidden
            )
            # momentum 0.9: the moving statistics settle within a short training run
            hidden = keras.layers.BatchNormalization(momentum=0.9)(hidden)
            hidden = keras.layers.ReLU()(hidden)
        hidden = keras.layers.MaxPooling2D()(hidden)
    hidden = keras.layers.Flatten()(hidden)  # the classes differ by where their blocks are
    outputs = keras.layers.Dense(10, activation="softmax")(hidden)
    return keras.Model(inputs, outputs, name=f"member_{index}")


def train_members(n_members: int, seed: int) -> list[keras.Model]:
    x_train, y_train = separable_images(640, seed=seed + 1)
    members = []
    for index in range(n_members):
        member = small_member(index)
        member.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
        member.fit(x_train, y_train, epochs=2, batch_size=32, verbose=0)
        members.append(member)
    return members


def run_attack(estimator, counter: PassCounter, images: np.ndarray, setting: dict, seed: int):
    """Time one APGD run; return adversarial images and per-image pass counts."""
    counter.reset()
    attack = build_apgd(estimator, setting)
    started, cpu_started = time.perf_counter(), time.process_time()
    x_adv = generate_in_batches(attack, images, seed=seed, label="bench")
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    n_images = images.shape[0]
    return x_adv, {
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu_seconds, 3),
        "images_per_s": round(n_images / seconds, 3),
        "forward_passes_per_image": round(int(counter.forward_rows.numpy()) / n_images, 2),
        "backward_passes_per_image": round(int(counter.backward_rows.numpy()) / n_images, 2),
    }


def accuracy(model: keras.Model, images: np.ndarray, labels: np.ndarray) -> float:
    return float((model.predict(images, verbose=0, batch_size=256).argmax(axis=1) == labels).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=128, help="images attacked per setting")
    parser.add_argument("--members", type=int, default=6, help="committee size")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per path (best kept)")
    parser.add_argument("--output", type=Path, default=RESULTS_PATH)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")

    members = train_members(args.members, args.seed)
    images, labels = separable_images(args.images, seed=args.seed)
    reference_model = EagerAveragingCommittee(members, name="reference_committee")
    committee = build_committee(members, name="committee")
    counted_committee, committee_counter = with_pass_counter(committee)
    reference_model(images[:1])  # build
    clean_accuracy = accuracy(committee, images, labels)

    def reference_estimator():
        return TensorFlowV2Classifier(
            model=reference_model, nb_classes=10, input_shape=(32, 32, 3), clip_values=(0.0, 1.0)
        )

    def fused_estimator(setting):
        return FusedCommitteeClassifier(
            counted_committee,
            nb_classes=10,
            batch_size=setting["batch_size"],
            max_iter=setting["max_iter"],
        )

    # Warm-up: trace the compiled functions of both paths outside the timings.
    warm_setting = {**SETTINGS["weak"], "nb_random_init": 1}
    run_attack(reference_estimator(), reference_model.pass_counter, images[:8], warm_setting, 0)
    run_attack(fused_estimator(warm_setting), committee_counter, images[:8], warm_setting, 0)

    results = {}
    for name, setting in SETTINGS.items():
        # Interleaved repeats, best time kept: the machine's cores are shared.
        runs: dict[str, list] = {"reference": [], "fused": []}
        for _ in range(args.repeats):
            runs["reference"].append(
                run_attack(
                    reference_estimator(), reference_model.pass_counter, images, setting, args.seed
                )
            )
            runs["fused"].append(
                run_attack(fused_estimator(setting), committee_counter, images, setting, args.seed)
            )
        (x_ref, reference), (x_fused, fused) = (
            min(runs[path], key=lambda run: run[1]["seconds"]) for path in ("reference", "fused")
        )
        for summary, path in ((reference, "reference"), (fused, "fused")):
            summary["all_seconds"] = [run[1]["seconds"] for run in runs[path]]
            summary["all_cpu_seconds"] = [run[1]["cpu_seconds"] for run in runs[path]]
        reference["adversarial_accuracy"] = accuracy(committee, x_ref, labels)
        fused["adversarial_accuracy"] = accuracy(committee, x_fused, labels)
        results[name] = {
            "setting": setting,
            "reference_art_as_is": reference,
            "fused_committee": fused,
            "speedup": round(reference["seconds"] / fused["seconds"], 2),
            "cpu_time_speedup": round(
                min(reference["all_cpu_seconds"]) / min(fused["all_cpu_seconds"]), 2
            ),
            "max_abs_difference_of_images": float(np.abs(x_fused - x_ref).max()),
            "images_differing_by_more_than_1e-5": int(
                (np.abs(x_fused - x_ref).reshape(len(images), -1).max(axis=1) > 1e-5).sum()
            ),
            "max_l2_perturbation": float(perturbation_norms(images, x_fused).max()),
        }

    report = {
        "benchmark": "APGD-CE (ART 1.20.1 AutoProjectedGradientDescent) on a Keras committee",
        "images": args.images,
        "repeats": args.repeats,
        "timing": (
            "wall time: best of the repeats; CPU time (all threads of this process): best of "
            "the repeats, less sensitive to other processes on shared cores; warm-up excluded"
        ),
        "note": (
            "Both paths run ART's APGD with the same seed. The reference model runs eagerly in "
            "loss_gradient/compute_loss, ours as a compiled graph; their float rounding differs "
            "slightly (BatchNorm folding), which can change a step-size decision of APGD for a "
            "few images, hence small differences between the adversarial images."
        ),
        "members": args.members,
        "member_parameters": [int(member.count_params()) for member in members],
        "clean_accuracy": clean_accuracy,
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
        },
        "results": results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")

    rows = [
        "| setting | path | images/s | CPU s | forward passes / image | backward passes / image "
        "| adv. accuracy | speed-up (wall / CPU) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, result in results.items():
        for path, key in (
            ("reference (ART as is)", "reference_art_as_is"),
            ("fused", "fused_committee"),
        ):
            row = result[key]
            speedup = (
                f"{result['speedup']:.2f}x / {result['cpu_time_speedup']:.2f}x"
                if key == "fused_committee"
                else ""
            )
            rows.append(
                f"| {name} | {path} | {row['images_per_s']:.2f} | "
                f"{min(row['all_cpu_seconds']):.1f} | "
                f"{row['forward_passes_per_image']:.2f} | {row['backward_passes_per_image']:.2f} | "
                f"{row['adversarial_accuracy']:.3f} | {speedup} |"
            )
    print(
        f"APGD-CE, {args.members} members, {args.images} images, clean accuracy "
        f"{clean_accuracy:.3f}; max |x_fused - x_reference| "
        + ", ".join(f"{n} {r['max_abs_difference_of_images']:.2g}" for n, r in results.items())
    )
    print("\n".join(rows))
    print(f"written: {args.output}")


if __name__ == "__main__":
    main()
