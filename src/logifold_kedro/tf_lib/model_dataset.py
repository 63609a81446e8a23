"""``KerasModelDataset``: kedro-datasets' TensorFlowModelDataset that loads each version once.

A run reads the same checkpoint in many nodes (a U0 member is an input of every APGD-vs-U0 node, of
Experiment 1's single-model attacks, of U1's attacks and of several prediction nodes). Loading a
``.keras`` file rebuilds the network from its config, and a fresh object also re-traces its
prediction function, a cost paid once per node without this cache. A *versioned* file is never
rewritten once saved, so the model loaded from one version path can be handed to every later node
that reads that version in this process.

Nodes must not modify an input model: ours clone it before fine-tuning
(`specialists.make_specialist`) and only call it otherwise. Unversioned entries, which can be
overwritten, are always read from disk. The cache holds at most `cache_size` models (least recently
used dropped first); ``cache_size: 0`` turns it off.

This module imports TensorFlow (the dataset it extends does), so it lives in ``tf_lib``.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any, ClassVar

from kedro.io.core import get_filepath_str
from kedro_datasets.tensorflow import TensorFlowModelDataset

from logifold_kedro.memo import drop_oldest

logger = logging.getLogger(__name__)


class KerasModelDataset(TensorFlowModelDataset):
    """A versioned Keras model, loaded from disk once per version and process.

    Catalog example::

        "model__{committee}__{member}":
          type: logifold_kedro.tf_lib.model_dataset.KerasModelDataset
          filepath: data/06_models/${globals:scale}/{committee}/{member}.keras
          versioned: true
          cache_size: 32   # models kept in memory; 0: always read the file
    """

    # Shared by all entries: the key is the resolved file path of one version.
    _loaded: ClassVar[OrderedDict[str, Any]] = OrderedDict()

    def __init__(self, *, cache_size: int = 32, **kwargs: Any) -> None:
        if int(cache_size) < 0:
            raise ValueError(f"cache_size must be >= 0 (0 turns the cache off), got {cache_size}")
        super().__init__(**kwargs)
        self._cache_size = int(cache_size)

    def load(self) -> Any:
        if self._cache_size == 0 or self._version is None:
            return super().load()
        key = get_filepath_str(self._get_load_path(), self._protocol)
        model = self._loaded.get(key)
        if model is None:
            model = super().load()
            self._loaded[key] = model
            drop_oldest(self._loaded, self._cache_size)
        else:
            logger.debug("%s: reusing the model loaded from %s", self._filepath.name, key)
        self._loaded.move_to_end(key)
        return model

    def _describe(self) -> dict[str, Any]:
        return {**super()._describe(), "cache_size": self._cache_size}

    @classmethod
    def clear_cache(cls) -> None:
        """Forget every loaded model (tests; or to free memory in a long notebook session)."""
        cls._loaded.clear()
