"""Expiring table entries: forgotten after their retention, in their own partition, a bounded number per write."""

from __future__ import annotations

from typing import Any

from agents.inference.expiry import ExpiringTable


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def expiring(table: dict[str, Any] | None = None, *, per_write: int = 8) -> tuple[ExpiringTable, dict[str, Any], Clock]:
    clock = Clock()
    store: dict[str, Any] = {} if table is None else table
    return ExpiringTable(store, retention_s=60.0, clock=clock, per_write=per_write), store, clock


def test_a_value_reads_back_as_written() -> None:
    table, _, _ = expiring()
    table.set("r1", {"status": "ok"}, partition=0)
    assert table.get("r1") == {"status": "ok"} and table.get("r2") is None


def test_an_entry_older_than_the_retention_goes_at_the_next_write_in_its_partition() -> None:
    table, store, clock = expiring()
    table.set("r1", "first", partition=0)
    clock.now += 59
    table.set("r2", "second", partition=0)
    assert "r1" in store, "not yet expired"
    clock.now += 2
    table.set("r3", "third", partition=0)
    assert "r1" not in store and table.get("r1") is None
    assert set(store) == {"r2", "r3"}


def test_a_write_in_another_partition_leaves_entries_alone() -> None:
    # Deleting there would put the tombstone into the wrong changelog partition.
    table, store, clock = expiring()
    table.set("r1", "first", partition=0)
    clock.now += 120
    table.set("r2", "second", partition=1)
    assert "r1" in store


def test_a_rewritten_entry_lives_from_its_last_write() -> None:
    table, store, clock = expiring()
    table.set("session", ["turn 1"], partition=0)
    clock.now += 50
    table.set("session", ["turn 1", "turn 2"], partition=0)
    clock.now += 50
    table.set("other", "x", partition=0)
    assert table.get("session") == ["turn 1", "turn 2"]
    clock.now += 11
    table.set("other", "y", partition=0)
    assert "session" not in store


def test_each_write_forgets_a_bounded_number() -> None:
    table, store, clock = expiring(per_write=2)
    for i in range(5):
        table.set(f"r{i}", i, partition=0)
    clock.now += 61
    table.set("new", 0, partition=0)
    assert sorted(store) == ["new", "r2", "r3", "r4"]
    table.set("newer", 0, partition=0)
    assert sorted(store) == ["new", "newer", "r4"]


def test_after_a_restart_entries_restored_into_the_table_still_expire() -> None:
    before, store, clock = expiring()
    before.set("old", 1, partition=3)
    before.set("elsewhere", 1, partition=4)
    clock.now += 100
    # A new worker: the table was restored from its changelog, the expiry's memory is empty.
    after = ExpiringTable(store, retention_s=60.0, clock=clock)
    after.set("new", 2, partition=3)
    assert sorted(store) == ["elsewhere", "new"]


def test_a_rebalance_relearns_entries_written_by_another_worker() -> None:
    table, store, clock = expiring()
    table.set("mine", 1, partition=0)
    store["theirs"] = {"value": 1, "written_at": clock.now, "partition": 0}  # restored while away
    table.rebalanced()
    clock.now += 61
    table.set("next", 1, partition=0)
    assert sorted(store) == ["next"]


def test_values_written_before_envelopes_are_read_and_kept() -> None:
    legacy = {"r0": {"answered_at": "2026-11-01T00:00:00+00:00", "offset": 7, "status": "ok"}}
    table, store, clock = expiring(dict(legacy))
    assert table.get("r0") == legacy["r0"]
    clock.now += 10_000
    table.set("r1", "x", partition=0)
    assert store["r0"] == legacy["r0"]


def owner(key: str) -> str | None:
    return key.split("/")[0] if "/" in key else None


def capped(store: dict[str, Any] | None = None, *, cap: int = 2) -> tuple[ExpiringTable, dict[str, Any], Clock]:
    clock = Clock()
    store = {} if store is None else store
    return ExpiringTable(store, retention_s=60.0, clock=clock, owner_of=owner, max_per_owner=cap), store, clock


def test_a_new_key_beyond_the_cap_drops_the_owners_least_recently_written_one() -> None:
    table, store, clock = capped()
    assert table.set("a/1", 1, partition=0) == []
    clock.now += 1
    table.set("a/2", 2, partition=0)
    clock.now += 1
    table.set("a/1", 11, partition=0)  # rewritten: a/2 is now the oldest, and a rewrite takes no room
    clock.now += 1
    assert table.set("a/3", 3, partition=0) == ["a/2"]
    assert sorted(store) == ["a/1", "a/3"] and table.get("a/1") == 11


def test_the_cap_counts_one_owner_in_one_partition() -> None:
    table, store, clock = capped()
    for key, partition in [("a/1", 0), ("b/1", 0), ("b/2", 0), ("a/2", 1), ("a/3", 1), ("legacy", 0), ("old", 0)]:
        table.set(key, 0, partition=partition)
        clock.now += 1
    assert table.set("a/4", 0, partition=0) == [], "a has one entry in partition 0"
    assert len(store) == 8
    assert table.set("a/5", 0, partition=0) == ["a/1"]
    assert {"b/1", "b/2", "a/2", "a/3", "legacy", "old"} <= set(store), "other owners, partitions and keys stay"


def test_an_expired_entry_frees_its_room() -> None:
    table, store, clock = capped()
    table.set("a/1", 0, partition=0)
    clock.now += 30
    table.set("a/2", 0, partition=0)
    clock.now += 31
    table.set("b/1", 0, partition=0)  # expires a/1
    assert "a/1" not in store
    assert table.set("a/3", 0, partition=0) == []
    assert sorted(store) == ["a/2", "a/3", "b/1"]


def test_after_a_restart_restored_entries_count_towards_the_cap() -> None:
    before, store, clock = capped()
    before.set("a/1", 0, partition=0)
    clock.now += 1
    before.set("a/2", 0, partition=0)
    clock.now += 1
    after = ExpiringTable(store, retention_s=60.0, clock=clock, owner_of=owner, max_per_owner=2)
    assert after.set("a/3", 0, partition=0) == ["a/1"]
    assert sorted(store) == ["a/2", "a/3"]


def test_a_rebalance_relearns_entries_for_the_cap() -> None:
    table, store, clock = capped()
    table.set("a/1", 0, partition=0)
    store["a/0"] = {"value": 0, "written_at": clock.now - 5, "partition": 0}  # restored while away
    table.rebalanced()
    clock.now += 1
    assert table.set("a/2", 0, partition=0) == ["a/0"]
