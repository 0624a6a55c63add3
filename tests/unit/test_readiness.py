"""Ready marks: a worker is ready only once it wrote its mark in this run; a restart takes it back."""

from __future__ import annotations

import os
from pathlib import Path

from agents.core.readiness import clear_ready, mark_ready, read_ready


def test_a_worker_is_not_ready_until_it_writes_its_mark(tmp_path: Path) -> None:
    assert read_ready(tmp_path, "inference-0") is None
    mark_ready(tmp_path, "inference-0", role="inference", models=["m@v1"])
    mark = read_ready(tmp_path, "inference-0")
    assert mark is not None and mark["pid"] == os.getpid() and mark["models"] == ["m@v1"]
    assert read_ready(tmp_path, "index-0") is None


def test_a_restart_clears_the_mark(tmp_path: Path) -> None:
    mark_ready(tmp_path, "deidentify-0", role="deidentify")
    clear_ready(tmp_path, "deidentify-0")
    assert read_ready(tmp_path, "deidentify-0") is None
    clear_ready(tmp_path, "deidentify-0")  # clearing twice is fine (a first start has no mark)


def test_a_worker_started_by_hand_writes_no_mark(tmp_path: Path) -> None:
    mark_ready(tmp_path, None, role="all")
    assert list(tmp_path.iterdir()) == []


def test_a_torn_or_foreign_mark_is_not_ready(tmp_path: Path) -> None:
    (tmp_path / "audit-0.ready").write_text("{not json")
    (tmp_path / "index-0.ready").write_text("[1, 2]")
    assert read_ready(tmp_path, "audit-0") is None
    assert read_ready(tmp_path, "index-0") is None
