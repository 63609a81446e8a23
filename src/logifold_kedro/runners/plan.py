"""What the driver works out from the pipeline and the catalog before it submits a task: whether
every hand-off between nodes is persisted, which outputs come back from the workers, the order
of long chains, and what each task carries (its catalog entries, the framework parameters).

Each task carries only the catalog entries its node reads and writes: a torch-only worker never
unpickles a Keras dataset, which would import TensorFlow. Everything handed from one node to
another must therefore be persisted (not a ``MemoryDataset``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kedro.io import DataCatalog

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kedro.pipeline import Pipeline
    from kedro.pipeline.node import Node


class NonPersistentDatasetError(ValueError):
    """A dataset handed from one node to another is not persisted (a MemoryDataset)."""


def is_ephemeral(catalog: Any, name: str) -> bool:
    """Whether the catalog keeps entry `name` in memory only (undeclared or a MemoryDataset)."""
    if name not in catalog:
        return True  # an undeclared entry becomes a MemoryDataset
    return bool(getattr(catalog.get(name), "_EPHEMERAL", False))


def non_persistent_handoffs(pipeline: Pipeline, catalog: Any) -> dict[str, list[str]]:
    """Entries a node writes and another node of `pipeline` reads that would stay in memory,
    each with the nodes reading it."""
    readers: dict[str, list[str]] = {}
    for node in pipeline.nodes:
        for name in node.inputs:
            readers.setdefault(name, []).append(node.name)
    produced = {name for node in pipeline.nodes for name in node.outputs}
    return {
        name: sorted(readers[name])
        for name in sorted(produced & set(readers))
        if is_ephemeral(catalog, name)
    }


def check_persisted_handoffs(pipeline: Pipeline, catalog: Any) -> None:
    """Fail, naming the entries to declare, when a hand-off between nodes would stay in memory."""
    handoffs = non_persistent_handoffs(pipeline, catalog)
    if handoffs:
        listing = "\n".join(
            f"- {name} (read by {', '.join(readers)})" for name, readers in handoffs.items()
        )
        raise NonPersistentDatasetError(
            "DaskRunner runs nodes in separate worker processes, so every dataset one node "
            "hands to another must be persisted. Declare these entries in "
            f"conf/<env>/catalog.yml with a file-backed dataset type:\n{listing}"
        )


def free_outputs(pipeline: Pipeline, catalog: Any) -> dict[Node, list[str]]:
    """For each node, its pipeline outputs that no node reads and the catalog keeps in memory:
    the worker sends their values back to the driver."""
    final = pipeline.outputs()
    return {
        node: [n for n in node.outputs if n in final and is_ephemeral(catalog, n)]
        for node in pipeline.nodes
    }


def critical_path_priorities(pipeline: Pipeline) -> dict[str, int]:
    """For each node, the number of nodes on the longest chain from it to the end (itself
    included). Submitted with this priority, the scheduler starts long chains first."""
    children: dict[str, set[str]] = {node.name: set() for node in pipeline.nodes}
    for child, parents in pipeline.node_dependencies.items():
        for parent in parents:
            children[parent.name].add(child.name)
    depth: dict[str, int] = {}
    for node in reversed(pipeline.nodes):  # reverse topological order
        depth[node.name] = 1 + max((depth[c] for c in children[node.name]), default=0)
    return depth


def task_catalog(catalog: Any, node: Node) -> DataCatalog:
    """A catalog holding only the entries `node` reads and writes (with their validators)."""
    names = [*node.inputs, *node.outputs]
    result = DataCatalog(datasets={name: catalog.get(name) for name in names})
    specs = getattr(catalog, "_validator_specs", None)
    if specs:
        result._validator_specs = {n: specs[n] for n in names if n in specs}
        result.validation_enabled = catalog.validation_enabled
    return result


def framework_params(catalog: Any, config: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters a worker's framework setup reads: ``seed`` and the parameters'
    ``frameworks`` section, each framework's options updated by ``worker_frameworks``."""
    params = dict(catalog.load("parameters")) if "parameters" in catalog else {}
    frameworks = {
        name: dict(options or {}) for name, options in (params.get("frameworks") or {}).items()
    }
    for name, options in (config.get("worker_frameworks") or {}).items():
        frameworks[name] = {**frameworks.get(name, {}), **dict(options or {})}
    return {"seed": params.get("seed", 42), "frameworks": frameworks}
