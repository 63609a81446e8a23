"""`RunLogHook`: how long each node took and, at the end, the slowest nodes and peak memory."""

from __future__ import annotations

import logging
import resource
import sys
import time

from kedro.framework.hooks import hook_impl
from kedro.pipeline import Node

logger = logging.getLogger(__name__)


def peak_rss_mib() -> float:
    """Peak resident memory of this process (and finished children) in MiB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    scale = (
        1 / 1024 / 1024 if sys.platform == "darwin" else 1 / 1024
    )  # bytes on macOS, KiB on Linux
    return max(own, children) * scale


class RunLogHook:
    """Log each node's wall time and, after the run, the slowest nodes and peak memory."""

    def __init__(self) -> None:
        self._started: dict[str, float] = {}
        self.durations: dict[str, float] = {}
        self._run_started = 0.0

    @hook_impl
    def before_pipeline_run(self) -> None:
        self._run_started = time.perf_counter()
        self.durations.clear()

    @hook_impl
    def before_node_run(self, node: Node) -> None:
        self._started[node.name] = time.perf_counter()

    @hook_impl
    def after_node_run(self, node: Node) -> None:
        seconds = time.perf_counter() - self._started.pop(node.name, time.perf_counter())
        self.durations[node.name] = seconds
        logger.info("node %s took %.1f s", node.name, seconds)

    def record_node_duration(self, node_name: str, seconds: float) -> None:
        """A node's wall time measured elsewhere (DaskRunner: on a worker, no node hooks)."""
        self.durations[node_name] = seconds

    @hook_impl
    def after_pipeline_run(self) -> None:
        total = time.perf_counter() - self._run_started
        slowest = sorted(self.durations.items(), key=lambda item: -item[1])[:5]
        listing = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in slowest)
        logger.info(
            "run finished in %.1f s, peak memory %.0f MiB; slowest nodes: %s",
            total,
            peak_rss_mib(),
            listing,
        )
