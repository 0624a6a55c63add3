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
