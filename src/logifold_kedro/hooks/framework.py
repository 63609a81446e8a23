"""`FrameworkSetupHook`: each framework's setup runs once per process, before its first node.

Before the first node tagged ``tensorflow`` (or ``torch``) loads its inputs, that framework's
setup runs (`logifold_kedro.frameworks.configure_framework`). Framework modules are imported only
then, so a run of framework-free nodes never imports TensorFlow or torch.
"""

from __future__ import annotations

import logging
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.pipeline import Node

from logifold_kedro.frameworks import configure_framework, frameworks_of

logger = logging.getLogger(__name__)


class FrameworkSetupHook:
    """Set up TensorFlow / torch once per process, before the first node of that framework."""

    def __init__(self) -> None:
        self._params: dict[str, Any] = {}
        self.configured: dict[str, dict[str, Any]] = {}

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        self._params = dict(context.params)

    def setup_for(self, node: Node) -> None:
        """Set up every framework `node` is tagged with that this process has not set up yet."""
        for framework in frameworks_of(node.tags):
            if framework not in self.configured:
                summary = configure_framework(framework, self._params)
                self.configured[framework] = summary
                logger.info("%s environment ready for node %r: %s", framework, node.name, summary)

    # Inputs are loaded before `before_node_run`; loading a Keras model starts the TF runtime,
    # after which thread counts can no longer be set. So set up before the first load as well.
    @hook_impl
    def before_dataset_loaded(self, dataset_name: str, node: Node) -> None:
        self.setup_for(node)

    @hook_impl
    def before_node_run(self, node: Node) -> None:
        self.setup_for(node)
