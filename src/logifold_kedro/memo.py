"""A small least-recently-used memo for objects built from other objects (no framework here).

Committees, soft IMMs and compiled passes are built once per set of member models and reused by
later nodes of the run. Their keys hold the members' ``id``s, so each entry also keeps those
objects alive: an id cannot be reused by another object while its entry exists.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
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
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return value
