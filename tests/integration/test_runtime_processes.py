"""`sluice down` stops every worker of its checkout, recorded or not; `sluice up` runs one at a time."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from agents.core.settings import Settings
from agents.processes import runtime
from agents.processes.broker import pid_alive


def fake_worker(var_dir: Path, *extra: str) -> subprocess.Popen[bytes]:
    """A process that looks like `python -m agents.cli worker …` of the checkout whose var dir is `var_dir`."""
    command = [sys.executable, "-c", "import time; time.sleep(120)", "-m", "agents.cli", "worker", *extra]
    return subprocess.Popen(command, env={**os.environ, "SLUICE_VAR_DIR": str(var_dir)})


def test_down_stops_workers_no_state_file_names_and_only_those_of_its_checkout(tmp_path: Path) -> None:
    ours = Settings(var_dir=tmp_path / "ours", kafka_bootstrap_servers="127.0.0.1:9")
    supervisor = fake_worker(ours.var_dir, "--keep-alive")
    worker = fake_worker(ours.var_dir)
    theirs = fake_worker(tmp_path / "theirs")
    try:
        time.sleep(0.5)
        found = runtime.stray_workers(ours)
        assert found[0] == supervisor.pid, "supervisors are stopped first, so none restarts its worker"
        assert set(found) == {supervisor.pid, worker.pid}
        lines: list[str] = []
        runtime.down(ours, log=lines.append)
        for process in (supervisor, worker):
            process.wait(timeout=10)
        assert sum("(unrecorded)" in line for line in lines) == 2
        assert pid_alive(theirs.pid), "another checkout's worker was stopped"
    finally:
        for process in (supervisor, worker, theirs):
            process.kill()
            process.wait()


def test_a_second_up_waits_for_the_first(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path, kafka_bootstrap_servers="127.0.0.1:9")
    order: list[str] = []
    first_in = threading.Event()

    def first() -> None:
        with runtime._up_lock(settings, log=order.append):
            first_in.set()
            time.sleep(1.0)
            order.append("first done")

    def second() -> None:
        first_in.wait(5)
        with runtime._up_lock(settings, log=order.append):
            order.append("second in")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert order == ["waiting for another `sluice up` of this checkout to finish ...", "first done", "second in"]
