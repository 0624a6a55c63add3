"""Committed reads and marker-aware table recovery, under both processing guarantees."""

from __future__ import annotations

import asyncio

import pytest
from faust.types import TP

from agents.core.app import create_app
from agents.core.committed_reads import MarkerAwareRecovery, passed_by_markers
from agents.core.settings import Settings

CHANGELOG = TP("app-inference-sessions-changelog", 0)


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
def test_worker_consumers_read_committed_under_either_guarantee(guarantee: str) -> None:
    async def isolation_level() -> str:
        app = create_app(Settings(processing_guarantee=guarantee), "127.0.0.1:1")
        app.finalize()
        consumer = app.consumer._new_consumer_thread()._create_worker_consumer(app.transport)  # type: ignore[attr-defined]
        try:
            return str(consumer._isolation_level)
        finally:
            await consumer.stop()

    assert asyncio.run(isolation_level()) == "read_committed"


def test_tables_recover_with_the_marker_aware_recovery() -> None:
    app = create_app(Settings(processing_guarantee="at_least_once"), "127.0.0.1:1")
    assert isinstance(app.tables.recovery, MarkerAwareRecovery)


def test_a_changelog_ending_in_a_marker_counts_as_read() -> None:
    # Records up to offset 41, the commit marker at 42 (Faust's highwater: end offset 43 minus one), position 43.
    assert passed_by_markers({CHANGELOG: 42}, {CHANGELOG: 41}, {CHANGELOG: 43}) == {CHANGELOG: 42}


def test_a_changelog_of_markers_only_counts_as_read() -> None:
    assert passed_by_markers({CHANGELOG: 1}, {CHANGELOG: None}, {CHANGELOG: 2}) == {CHANGELOG: 1}


@pytest.mark.parametrize(
    ("offset", "position", "why"),
    [
        (41, 42, "the record at the highwater has not been fetched yet"),
        (42, 43, "already read to the highwater"),
        (41, None, "no position yet"),
    ],
)
def test_a_changelog_still_being_read_is_left_alone(offset: int, position: int | None, why: str) -> None:
    assert passed_by_markers({CHANGELOG: 42}, {CHANGELOG: offset}, {CHANGELOG: position}) == {}, why


def test_an_empty_changelog_is_left_alone() -> None:
    assert passed_by_markers({CHANGELOG: -1}, {CHANGELOG: None}, {CHANGELOG: 0}) == {}
