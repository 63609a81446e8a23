"""The project's one way to bound a cache (no framework here): keep the newest entries.

`KeptLRU` is a small least-recently-used memo for objects built from other objects: committees,
soft IMMs and compiled passes are built once per set of member models and reused by later nodes
of the run. Their keys hold the members' ``id``s, so each entry also keeps those objects alive:
an id cannot be reused by another object while its entry exists. The plain caches of tf_lib
(loaded checkpoints, compiled trainers, gradient rows) are dicts bounded by `drop_oldest`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, MutableMapping
from itertools import islice
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class KeptLRU(Generic[T]):
    """At most `size` built objects, by key, the least recently used dropped first."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"size must be >= 1, got {size}")
        self._size = size
        self._entries: OrderedDict[Hashable, tuple[Any, T]] = OrderedDict()

    def get_or_build(self, key: Hashable, build: Callable[[], T], keep: Any) -> T:
        """The object built for `key` before, else ``build()``, kept with `keep` (the objects
        whose ids the key holds)."""
        if key in self._entries:
            self._entries.move_to_end(key)
            return self._entries[key][1]
        value = build()
        self._entries[key] = (keep, value)
        drop_oldest(self._entries, self._size)
        return value


def drop_oldest(entries: MutableMapping[Any, Any], size: int) -> None:
    """Delete the first ``len(entries) - size`` keys in iteration order (none if it is <= 0),
    so that the ``size`` newest entries remain (the least recently used, where using a key moves
    it to the end)."""
    for key in list(islice(entries, max(len(entries) - size, 0))):
        del entries[key]
