"""Benchmark: TensorFlow with oneDNN on against off, for the training node and the APGD pass.

``TF_ENABLE_ONEDNN_OPTS`` is read once, when TensorFlow loads, so each measurement is a fresh
interpreter (a worker: this script with ``--worker``). Rounds run one worker per setting as an
interleaved pair, the order alternating (on/off, off/on, ...), so a neighbour's load drifting
over the run falls on both settings alike.

Each worker, on the demo archive's images and conf/base's first ResNet v1 (the model with the
strided 1x1 convolution whose oneDNN gradient tf_lib.onednn routes around):

- warm-up: the training node on 81 images (traces the train step, the eval and forward passes),
  then APGD on 8 images (traces the attack's passes); neither is timed;
- ``training``: the node ``train_base_model`` on ``--train-images`` images (497: the final batch
  of 32 is 17, the batch that crashed with oneDNN before the route) for ``--epochs`` epochs with
  conf/base's recipe, validation on ``--val-images`` every epoch, all timed;
- ``apgd``: the node ``apgd_against_committee`` against the trained model on ``--apgd-images``
  test images with conf/base's ``strong`` ART setting.

Rates are images per wall-second and per CPU-second (``time.process_time``: all of the worker's
threads). CPU-seconds / wall-seconds says how many of the cores the work kept busy; the CPU the
rest of the machine ran meanwhile (``/proc/stat`` less ours: other users of a shared machine)
is recorded beside it, with the CPU-seconds of the worker's busiest threads. Training counts
training images x epochs; APGD counts attacked images.

Usage: python benchmarks/bench_onednn.py [--rounds 5 --train-images 497 --epochs 3
--val-images 100 --apgd-images 128 --wait-quiet 0 --intra-op-threads N --inter-op-threads N].
``--wait-quiet S`` waits up to S seconds before each run for the others' load to drop under 0.3
cores. Writes benchmarks/results/onednn.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULT_PATH = ROOT / "benchmarks" / "results" / "onednn.json"
DEMO_ARCHIVE = ROOT / "data" / "01_raw" / "cifar10_demo.tar.gz"
SETTINGS = {"on": "1", "off": "0"}
TASKS = ("training", "apgd")


def conf_base(name: str) -> dict[str, Any]:
    import yaml

    return yaml.safe_load((ROOT / "conf" / "base" / name).read_text())


def worker(args: argparse.Namespace) -> dict[str, Any]:
    """One fresh interpreter's measurements (TF_ENABLE_ONEDNN_OPTS was set by the driver)."""
    import numpy as np

    import logifold_kedro.tf_lib  # noqa: F401  (triton guard before TensorFlow)
    from logifold_kedro.datasets.cifar10_archive import CIFAR10ArchiveDataset
    from logifold_kedro.pipelines.committee_nodes import apgd_against_committee
    from logifold_kedro.pipelines.training.nodes import train_base_model
    from logifold_kedro.tf_lib.onednn import is_routed, onednn_enabled

    if args.intra_op_threads is not None or args.inter_op_threads is not None:
        from logifold_kedro.tf_lib.setup import configure_tensorflow

        configure_tensorflow(0, args.intra_op_threads, args.inter_op_threads)
    raw = CIFAR10ArchiveDataset(filepath=str(DEMO_ARCHIVE)).load()

    def image_set(split: str, start: int, count: int, name: str) -> dict[str, Any]:
        x = raw[f"x_{split}"][start : start + count].astype(np.float32) / 255.0
        return {
            "x": x,
            "y": raw[f"y_{split}"][start : start + count].astype(np.int64),
            "name": name,
        }

    training = conf_base("parameters_training.yml")
    model_name, spec = next(iter(training["u0_models"].items()))
    recipe = {**training["training_recipe"], "epochs": args.epochs}
    setting = conf_base("parameters_art_attacks.yml")["apgd"]["strong"]
    seed = 42
    train = image_set("train", 0, args.train_images, "clean_train")
    val = image_set("test", 0, args.val_images, "clean_val")
    attacked = image_set("test", args.val_images, args.apgd_images, "clean_test")

    def timed(function, *call_args, **call_kwargs) -> tuple[Any, dict[str, Any]]:
        machine_before, threads_before = machine_busy_s(), thread_cpu_s()
        wall, cpu = time.perf_counter(), time.process_time()
        result = function(*call_args, **call_kwargs)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        machine_after, threads_after = machine_busy_s(), thread_cpu_s()
        return result, {
            "wall": wall,
            "cpu": cpu,
            # What the rest of the machine (other users) ran meanwhile: our share subtracted.
            "others_cpu_s": None
            if machine_before is None
            else round(machine_after - machine_before - cpu, 2),
            "thread_cpu_s": busiest_threads(threads_before, threads_after),
        }

    def attack(model, clean_set):
        return apgd_against_committee(
            clean_set, setting, seed, **{model_name: model},
            target=model_name, setting_name="strong", output_name="adv",
        )  # fmt: skip

    warm_train = image_set("train", args.train_images, 81, "warm_train")
    warm_model, _ = train_base_model(
        warm_train, val, spec, {**recipe, "epochs": 1}, seed, model_name
    )
    attack(warm_model, image_set("test", 0, 8, "warm"))

    (model, history), train_time = timed(
        train_base_model, train, val, spec, recipe, seed, model_name
    )
    _, apgd_time = timed(attack, model, attacked)
    trained_images = args.train_images * args.epochs
    import tensorflow as tf  # loaded by now (after the project's guard)

    return {
        "onednn": onednn_enabled(),
        "routed": is_routed(),
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "best_val_accuracy": history["best_val_accuracy"],
        "training": rates(trained_images, train_time),
        "apgd": rates(args.apgd_images, apgd_time),
    }


def rates(images: int, measured: dict[str, Any]) -> dict[str, Any]:
    wall, cpu = measured["wall"], measured["cpu"]
    return {
        "images": images,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "images_per_wall_s": round(images / wall, 2),
        "images_per_cpu_s": round(images / cpu, 2),
        "cpu_per_wall": round(cpu / wall, 3),
        "others_cpu_per_wall": None
        if measured["others_cpu_s"] is None
        else round(measured["others_cpu_s"] / wall, 3),
        "busiest_threads_cpu_s": measured["thread_cpu_s"],
    }


def machine_busy_s() -> float | None:
    """CPU-seconds all processes on the machine have run (``/proc/stat``), or None."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def thread_cpu_s() -> dict[str, tuple[str, float]]:
    """CPU-seconds per thread of this process (``/proc/self/task``): {tid: (name, seconds)}."""
    threads = {}
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    for task in Path("/proc/self/task").glob("*") if Path("/proc/self/task").exists() else []:
        try:
            stat = (task / "stat").read_text()
            name = (task / "comm").read_text().strip()
        except OSError:  # the thread ended meanwhile
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        threads[task.name] = (name, (int(fields[11]) + int(fields[12])) / tick)
    return threads


def busiest_threads(before: dict, after: dict, count: int = 6) -> list[list[Any]]:
    """The threads that ran most in between: [[name, CPU-seconds], ...], busiest first."""
    ran = [
        [name, round(seconds - before.get(tid, (name, 0.0))[1], 2)]
        for tid, (name, seconds) in after.items()
    ]
    return sorted((r for r in ran if r[1] > 0), key=lambda r: -r[1])[:count]


def wait_for_quiet(max_wait_s: float, threshold: float = 0.3) -> float | None:
    """Wait (up to `max_wait_s`) until the rest of the machine runs under `threshold` cores over
    3 s; returns the last load measured (None without /proc/stat). On a machine shared with
    other users, their load shows in wall-clock rates; CPU-second rates are much less affected."""
    deadline = time.monotonic() + max_wait_s
    while True:
        before = machine_busy_s()
        if before is None:
            return None
        time.sleep(3.0)
        load = (machine_busy_s() - before) / 3.0
        if load < threshold or time.monotonic() > deadline:
            return round(load, 2)
        time.sleep(10.0)


def run_worker(setting: str, args: argparse.Namespace) -> dict[str, Any]:
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": SETTINGS[setting], "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [sys.executable, __file__, "--worker", *worker_arguments(args)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(
            f"oneDNN {setting} worker exited {done.returncode}: {done.stderr[-3000:]}"
        )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["onednn"] != (setting == "on"):
        raise RuntimeError(f"worker asked for oneDNN {setting} reports onednn={result['onednn']}")
    return result


def worker_arguments(args: argparse.Namespace) -> list[str]:
    names = ["train_images", "epochs", "val_images", "apgd_images"]
    names += [n for n in ("intra_op_threads", "inter_op_threads") if getattr(args, n) is not None]
    return [
        part for name in names for part in (f"--{name.replace('_', '-')}", str(getattr(args, name)))
    ]


def median_or_none(values) -> float | None:
    known = [value for value in values if value is not None]
    return statistics.median(known) if known else None


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians per setting and task, and the on/off ratios (of the medians, and per pair)."""
    summary: dict[str, Any] = {}
    for task in TASKS:
        per_setting = {
            setting: {
                key: median_or_none(run[task][key] for run in runs if run["setting"] == setting)
                for key in (
                    "images_per_wall_s",
                    "images_per_cpu_s",
                    "cpu_per_wall",
                    "others_cpu_per_wall",
                )
            }
            for setting in SETTINGS
        }
        pairs: dict[int, dict[str, dict[str, float]]] = {}
        for run in runs:
            pairs.setdefault(run["round"], {})[run["setting"]] = run[task]
        pair_ratios = {
            key: [round(p["on"][key] / p["off"][key], 3) for p in pairs.values()]
            for key in ("images_per_wall_s", "images_per_cpu_s")
        }
        summary[task] = {
            **per_setting,
            "ratio_on_off": {
                key: round(per_setting["on"][key] / per_setting["off"][key], 3)
                for key in ("images_per_wall_s", "images_per_cpu_s")
            },
            "pair_ratios_on_off": pair_ratios,
            "median_pair_ratio_on_off": {k: statistics.median(v) for k, v in pair_ratios.items()},
        }
    return summary


def machine() -> dict[str, Any]:
    model = platform.processor()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]  # fmt: skip
        model = names[0] if names else model
    flags = cpuinfo.read_text() if cpuinfo.exists() else ""
    return {
        "cpu": model,
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "avx512f": " avx512f " in flags,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def table(summary: dict[str, Any]) -> str:
    lines = [
        "| pass | oneDNN | images / wall-s | images / CPU-s | CPU-s / wall-s "
        "| others' CPU-s / wall-s |",
        "|---|---|---|---|---|---|",
    ]
    for task in TASKS:
        for setting in SETTINGS:
            row = summary[task][setting]
            others = row["others_cpu_per_wall"]
            lines.append(
                f"| {task} | {setting} | {row['images_per_wall_s']:.1f} | "
                f"{row['images_per_cpu_s']:.1f} | {row['cpu_per_wall']:.2f} | "
                f"{'n/a' if others is None else f'{others:.2f}'} |"
            )
        ratio, pairs = summary[task]["ratio_on_off"], summary[task]["median_pair_ratio_on_off"]
        lines.append(
            f"| {task} | **on / off** | **{ratio['images_per_wall_s']:.2f}x** "
            f"(pairs: {pairs['images_per_wall_s']:.2f}x) | **{ratio['images_per_cpu_s']:.2f}x** "
            f"(pairs: {pairs['images_per_cpu_s']:.2f}x) | | |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--train-images", type=int, default=497)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--val-images", type=int, default=100)
    parser.add_argument("--apgd-images", type=int, default=128)
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        help="seconds to wait, before each run, for other users' load to drop under 0.3 cores",
    )
    parser.add_argument("--intra-op-threads", type=int, default=None, help="default: TF's")
    parser.add_argument("--inter-op-threads", type=int, default=None, help="default: TF's")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    host = machine()
    runs = []
    for round_index in range(args.rounds):
        order = ("on", "off") if round_index % 2 == 0 else ("off", "on")
        for setting in order:
            load_before = wait_for_quiet(args.wait_quiet)
            result = run_worker(setting, args)
            runs.append(
                {"round": round_index, "setting": setting, "load_before": load_before, **result}
            )
            print(
                f"round {round_index} oneDNN {setting}: training "
                f"{result['training']['images_per_wall_s']} img/s wall, "
                f"{result['training']['images_per_cpu_s']} img/CPU-s, "
                f"CPU/wall {result['training']['cpu_per_wall']}; apgd "
                f"{result['apgd']['images_per_wall_s']} img/s wall, "
                f"{result['apgd']['images_per_cpu_s']} img/CPU-s, "
                f"CPU/wall {result['apgd']['cpu_per_wall']}",
                flush=True,
            )
    summary = summarise(runs)
    import tensorflow as tf  # only for the versions, after every worker has run

    report = {
        "benchmark": "oneDNN on vs off: training node and APGD pass, fresh interpreter per run",
        "date": started,
        "commit": commit,
        "machine": {**host, "tensorflow": tf.__version__},
        "settings": {
            "rounds": args.rounds,
            "train_images": args.train_images,
            "epochs": args.epochs,
            "val_images": args.val_images,
            "apgd_images": args.apgd_images,
            "wait_quiet_s": args.wait_quiet,
            "intra_op_threads": args.intra_op_threads,
            "inter_op_threads": args.inter_op_threads,
            "model": "conf/base u0_models, first entry",
            "apgd_setting": "conf/base parameters_art_attacks.yml apgd.strong",
        },
        "runs": runs,
        "summary": summary,
    }
    RESULT_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULT_PATH.write_text(json.dumps(report, indent=2) + "\n")
    print(table(summary))
    print(f"wrote {RESULT_PATH}")


if __name__ == "__main__":
    main()
