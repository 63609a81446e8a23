"""KeptLRU: built once per key, kept objects alive, least recently used dropped first; and
drop_oldest, the bound of the plain caches, keeps the newest entries."""

from __future__ import annotations

import gc
import weakref
from collections import OrderedDict

import pytest

from logifold_kedro.memo import KeptLRU, drop_oldest


def test_builds_once_per_key_and_drops_the_least_recently_used():
    built = []
    memo: KeptLRU[str] = KeptLRU(2)

    def build(key):
        return lambda: built.append(key) or f"value {key}"

    assert memo.get_or_build("a", build("a"), keep=None) == "value a"
    assert memo.get_or_build("a", build("a"), keep=None) == "value a"
    memo.get_or_build("b", build("b"), keep=None)
    memo.get_or_build("a", build("a"), keep=None)  # a is now the most recent
    memo.get_or_build("c", build("c"), keep=None)  # drops b
    memo.get_or_build("a", build("a"), keep=None)
    memo.get_or_build("b", build("b"), keep=None)
    assert built == ["a", "b", "c", "b"]


def test_keeps_the_objects_its_keys_name_by_id():
    class Member:
        pass

    memo: KeptLRU[int] = KeptLRU(1)
    member = Member()
    alive = weakref.ref(member)
    memo.get_or_build((id(member),), lambda: 1, keep=[member])
    del member
    gc.collect()
    assert alive() is not None  # its id cannot be reused while the entry exists
    memo.get_or_build("other", lambda: 2, keep=None)  # drops the entry
    gc.collect()
    assert alive() is None


def test_size_must_be_positive():
    with pytest.raises(ValueError, match="size must be >= 1"):
        KeptLRU(0)


def test_the_oldest_entries_go_first():
    entries = {name: index for index, name in enumerate("abcde")}
    drop_oldest(entries, 3)
    assert list(entries) == ["c", "d", "e"]


def test_a_used_key_moved_to_the_end_survives():
    entries = OrderedDict((name, None) for name in "abc")
    entries.move_to_end("a")  # what the least-recently-used caches do on a hit
    drop_oldest(entries, 2)
    assert list(entries) == ["c", "a"]


def test_nothing_is_dropped_within_the_size():
    entries = {"a": 1, "b": 2}
    drop_oldest(entries, 2)
    drop_oldest(entries, 5)
    assert entries == {"a": 1, "b": 2}
    drop_oldest(entries, 0)
    assert entries == {}
