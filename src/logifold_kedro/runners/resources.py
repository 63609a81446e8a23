"""Matching nodes to Dask workers by resources.

A node asks for Dask resources from its tags (``resources_by_tag``); a worker advertises what it
can run (``dask worker ... --resources "torch=1,GPU=1"``). The driver checks the advertised
resources before it submits anything, so a node that no worker can run is reported at once
instead of waiting forever.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kedro.pipeline.node import Node


class UnsatisfiableResourcesError(RuntimeError):
    """Nodes ask for Dask resources that no worker of the cluster advertises."""


def node_resources(node: Node, resources_by_tag: Mapping[str, Mapping[str, float]]) -> dict:
    """The Dask resources a node asks for: the union over its tags (largest amount wins)."""
    wanted: dict[str, float] = {}
    for tag in sorted(node.tags):
        for resource, amount in (resources_by_tag.get(tag) or {}).items():
            wanted[resource] = max(wanted.get(resource, 0.0), float(amount))
    return wanted


def can_run(wanted: Mapping[str, float], advertised: Mapping[str, float]) -> bool:
    """Whether a worker advertising `advertised` has every resource amount in `wanted`."""
    return all(advertised.get(name, 0.0) >= amount for name, amount in wanted.items())


def advertised_resources(client: Any) -> dict[str, dict[str, float]]:
    """``{worker name: its resources}`` of every worker connected to `client`'s scheduler."""
    workers = client.scheduler_info(n_workers=-1)["workers"]
    return {
        str(info.get("name") or address): dict(info.get("resources") or {})
        for address, info in workers.items()
    }


def unsatisfiable(
    wanted: Mapping[Node, Mapping[str, float]], advertised: Mapping[str, Mapping[str, float]]
) -> dict[Node, Mapping[str, float]]:
    """The nodes of `wanted` (with their needs) that no advertised worker can run."""
    return {
        node: need
        for node, need in wanted.items()
        if not any(can_run(need, offer) for offer in advertised.values())
    }


def check_resources(
    client: Any, wanted: Mapping[Node, Mapping[str, float]], wait_seconds: float
) -> None:
    """Fail with the nodes no worker can run, after waiting `wait_seconds` for workers."""
    deadline = time.monotonic() + float(wait_seconds)
    while True:
        advertised = advertised_resources(client)
        missing = unsatisfiable(wanted, advertised)
        if not missing or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    if missing:
        listing = "\n".join(
            f"- {node.name}: needs {dict(need)}"
            for node, need in sorted(missing.items(), key=lambda item: item[0].name)
        )
        raise UnsatisfiableResourcesError(
            f"no worker of the Dask cluster can run {len(missing)} node(s):\n{listing}\n"
            f"workers and their resources: {advertised or 'none connected'}.\n"
            "Start workers that advertise these resources (`dask worker <scheduler> "
            '--resources "tensorflow=1"`), or change resources_by_tag in '
            "conf/<env>/dask.yml."
        )
