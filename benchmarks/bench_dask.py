"""Benchmark: the CPU demo (conf/base) through the DaskRunner with two workers against the
sequential runner, side by side in one run.

Each variant runs `kedro run` in a fresh copy of the project (conf/base, the embedded demo
archive, nothing else), in its own process, one after the other:
- ``sequential``: ``kedro run`` (SequentialRunner, one process, TensorFlow's default threads);
- ``dask``: ``kedro run --runner logifold_kedro.runners.DaskRunner`` with conf/base/dask.yml
  (a local cluster on 127.0.0.1 with two worker processes, one thread each).

Reported: wall time of each (process start to exit, so both include imports and, for Dask,
starting the cluster), their ratio, whether every metric table and report of the two runs is
equal (exactly, else the largest numeric difference), and how much of the demo's work can run
in parallel: from the pipeline DAG and the node durations measured in the sequential run, the
critical path (the longest chain of dependent nodes, which no number of workers can shorten)
against the total node time. total / critical path is the speed-up bound with unlimited
workers; total / max(critical path, total / 2) the bound with two.

Usage: python benchmarks/bench_dask.py [--workdir DIR] [--keep]. Writes
benchmarks/results/dask.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULT_PATH = ROOT / "benchmarks" / "results" / "dask.json"
DASK_RUNNER = "logifold_kedro.runners.DaskRunner"
SEQUENTIAL_NODE = re.compile(r"node (\S+) took ([\d.]+) s")
DASK_NODE = re.compile(r"Completed node (\S+) on (\S+) in ([\d.]+) s")
VERSION = re.compile(r"^\d{4}-\d\d-\d\dT\d\d\.\d\d\.\d\d\.\d{3}Z$")


def make_demo_copy(root: Path) -> Path:
    """A runnable copy of the project at demo scale: conf/base, pyproject, the demo archive."""
    root.mkdir(parents=True)
    for name in ("pyproject.toml", ".telemetry"):
        shutil.copy(ROOT / name, root / name)
    (root / "src").mkdir()  # Kedro's bootstrap wants it; the package is the installed one
    shutil.copytree(ROOT / "conf" / "base", root / "conf" / "base")
    shutil.copy(ROOT / "conf" / "logging.yml", root / "conf" / "logging.yml")
    (root / "conf" / "local").mkdir()
    raw = root / "data" / "01_raw"
    raw.mkdir(parents=True)
    shutil.copy(ROOT / "data" / "01_raw" / "cifar10_demo.tar.gz", raw / "cifar10_demo.tar.gz")
    return root


def run_kedro(project: Path, extra: list[str], log_path: Path) -> float:
    """`kedro run` in `project`; returns the wall time. Fails loudly with the log's tail.

    Run the sequential variant first: the children's peak RSS read after it is that run's own.
    """
    env = {
        **os.environ,
        "KEDRO_DISABLE_TELEMETRY": "1",
        "TF_ENABLE_ONEDNN_OPTS": "0",
        "KEDRO_LOGGING_CONFIG": str(project / "conf" / "logging.yml"),
    }
    started = time.perf_counter()
    with log_path.open("w") as log:
        result = subprocess.run(
            [sys.executable, "-m", "kedro", "run", *extra],
            cwd=project,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        tail = log_path.read_text()[-4000:]
        raise RuntimeError(f"kedro run {' '.join(extra)} failed in {project}:\n{tail}")
    return seconds


def node_durations(log_text: str) -> dict[str, float]:
    durations = {name: float(s) for name, s in SEQUENTIAL_NODE.findall(log_text)}
    durations.update({name: float(s) for name, _, s in DASK_NODE.findall(log_text)})
    return durations


def dag_bounds(project: Path, durations: dict[str, float]) -> dict[str, Any]:
    """Critical path and total of the node durations over the `__default__` pipeline's DAG."""
    from kedro.framework.project import pipelines
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(project)
    pipeline = pipelines["__default__"]
    missing = sorted(n.name for n in pipeline.nodes if n.name not in durations)
    if missing:
        raise RuntimeError(f"no measured duration for nodes {missing[:5]}... in the log")
    finish: dict[str, float] = {}
    previous: dict[str, str | None] = {}
    for node in pipeline.nodes:  # topological order
        parents = pipeline.node_dependencies[node]
        start_parent = max(parents, key=lambda p: finish[p.name], default=None)
        start = finish[start_parent.name] if start_parent else 0.0
        finish[node.name] = start + durations[node.name]
        previous[node.name] = start_parent.name if start_parent else None
    end = max(finish, key=finish.get)
    path = []
    while end:
        path.append(end)
        end = previous[end]
    total = sum(durations[n.name] for n in pipeline.nodes)
    critical = finish[path[0]]
    return {
        "nodes": len(pipeline.nodes),
        "total_node_seconds": round(total, 1),
        "critical_path_seconds": round(critical, 1),
        "critical_path": list(reversed(path)),
        "parallel_fraction": round(1 - critical / total, 3),
        "speedup_bound_unlimited_workers": round(total / critical, 2),
        "speedup_bound_two_workers": round(total / max(critical, total / 2), 2),
    }


def latest_versions(project: Path) -> dict[str, Path]:
    """Each versioned output's latest version file, keyed by its path inside the project."""
    found = {}
    for version_dir in (project / "data").rglob("*"):
        if version_dir.is_dir() and VERSION.match(version_dir.name):
            dataset = version_dir.parent.relative_to(project)
            if str(dataset) not in found or found[str(dataset)].name < version_dir.name:
                found[str(dataset)] = version_dir
    return found


def compare_outputs(first: Path, second: Path) -> dict[str, Any]:
    """Metric tables (CSV), JSON reports and thresholds of two runs: equal, or how far apart."""
    import numpy as np
    import pandas as pd

    a, b = latest_versions(first), latest_versions(second)
    compared, differing = 0, {}
    for dataset in sorted(set(a) & set(b)):
        if not dataset.endswith((".csv", ".json")) or "histories" in dataset:
            continue
        name = Path(dataset).name
        old, new = a[dataset] / name, b[dataset] / name
        compared += 1
        if old.read_bytes() == new.read_bytes():
            continue
        if name.endswith(".csv"):
            left, right = pd.read_csv(old), pd.read_csv(new)
            numeric = left.select_dtypes("number").columns
            gap = float(np.nanmax(np.abs(left[numeric].to_numpy() - right[numeric].to_numpy())))
            differing[dataset] = {"max_abs_difference": gap}
        else:
            differing[dataset] = {"max_abs_difference": None}
    return {"compared": compared, "equal": compared - len(differing), "differing": differing}


def peak_rss_of_children_gib() -> float:
    """Largest resident set of any finished child process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20


def analyse(
    workdir: Path,
    seconds_sequential: float,
    seconds_dask: float,
    load: list,
    sequential_peak_gib: float | None = None,
) -> dict:
    sequential, distributed = workdir / "sequential", workdir / "dask"
    sequential_durations = node_durations((workdir / "sequential.log").read_text())
    dask_log = (workdir / "dask.log").read_text()
    workers = sorted({worker for _, worker, _ in DASK_NODE.findall(dask_log)})
    return {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average_before": [round(x, 2) for x in load],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        "sequential_seconds": round(seconds_sequential, 1),
        "sequential_peak_rss_gib": (
            None if sequential_peak_gib is None else round(sequential_peak_gib, 2)
        ),
        "dask_two_workers_seconds": round(seconds_dask, 1),
        "speedup": round(seconds_sequential / seconds_dask, 2),
        "dask_workers_used": workers,
        "dag_from_sequential_durations": dag_bounds(sequential, sequential_durations),
        "dask_total_node_seconds": round(sum(node_durations(dask_log).values()), 1),
        "outputs": compare_outputs(sequential, distributed),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the project copies")
    parser.add_argument(
        "--analyse-only",
        nargs=2,
        type=float,
        metavar=("SEQUENTIAL_S", "DASK_S"),
        help="recompute the results from the runs kept in --workdir (their wall times given)",
    )
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_dask_"))
    load_before = list(os.getloadavg())
    sequential_peak_gib = None  # unknown when only re-analysing kept runs
    if args.analyse_only:
        seconds_sequential, seconds_dask = args.analyse_only
    else:
        sequential = make_demo_copy(workdir / "sequential")
        distributed = make_demo_copy(workdir / "dask")
        seconds_sequential = run_kedro(sequential, [], workdir / "sequential.log")
        sequential_peak_gib = peak_rss_of_children_gib()
        print(f"sequential: {seconds_sequential:.0f} s, {sequential_peak_gib:.2f} GiB", flush=True)
        seconds_dask = run_kedro(distributed, ["--runner", DASK_RUNNER], workdir / "dask.log")
        print(f"dask (2 workers): {seconds_dask:.0f} s", flush=True)
    result = analyse(workdir, seconds_sequential, seconds_dask, load_before, sequential_peak_gib)
    RESULT_PATH.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    if not args.keep and args.workdir is None:
        shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
