"""drop_oldest: the bound shared by tf_lib's caches keeps the newest entries."""

from __future__ import annotations

from collections import OrderedDict

from logifold_kedro.tf_lib.lru import drop_oldest


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
