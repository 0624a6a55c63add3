"""The heartbeat file a worker's event loop touches: created with its folder, its time moved on every beat."""

from __future__ import annotations

import os
from pathlib import Path

from agents.core.liveness import Heartbeat, heartbeat_path


def test_a_beat_creates_the_file_and_each_beat_moves_its_time(tmp_path: Path) -> None:
    path = heartbeat_path(tmp_path / "run", "deidentify-0")
    assert path == tmp_path / "run" / "deidentify-0.heartbeat"
    heartbeat = Heartbeat(path)
    heartbeat.beat()
    os.utime(path, ns=(1, 1))
    heartbeat.beat()
    assert path.stat().st_mtime_ns > 1


def test_a_heartbeat_that_cannot_be_written_does_not_raise(tmp_path: Path) -> None:
    blocker = tmp_path / "run"
    blocker.write_text("a file where the folder should be")
    Heartbeat(blocker / "deidentify-0.heartbeat").beat()
